package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// line is the Twilio number the load drives: the ids the webhook URL needs
// and the credentials the simulated Twilio and the signatures need.
type line struct {
	ProjectID  string
	StageID    string
	ProviderID string
	APIKey     string
	AccountSID string
	AuthToken  string
	Number     string
	Webhook    string // full webhook URL, query string included
}

// apiClient calls the operator REST API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// call sends body as JSON and decodes the answer into out; a status other
// than want is an error carrying the answer.
func (a *apiClient) call(ctx context.Context, method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("loadgen: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("loadgen: %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("loadgen: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("loadgen: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("loadgen: %s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("loadgen: %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setupLine creates what the flags do not name: it logs in (creating the
// initial operator on a fresh server), then creates a project, a scripted
// LLM provider and stage, a Twilio channel provider pointing at simURL and
// an API key. Given ids are reused as they are.
func setupLine(ctx context.Context, c *config, serverURL, simURL string) (*line, error) {
	l := &line{ProjectID: c.project, StageID: c.stage, ProviderID: c.provider, APIKey: c.apiKey,
		AccountSID: c.accountSID, AuthToken: c.authToken, Number: c.number}
	if l.AccountSID == "" {
		l.AccountSID = "AC" + randomHex(16)
	}
	if l.AuthToken == "" {
		l.AuthToken = randomHex(16)
	}
	api := &apiClient{base: strings.TrimRight(serverURL, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	needAPI := l.StageID == "" || l.ProviderID == "" || l.APIKey == ""
	if needAPI {
		if err := login(ctx, api, c.operatorID, c.operatorPassword); err != nil {
			return nil, err
		}
	}
	var rec struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if l.ProjectID == "" && (l.StageID == "" || l.APIKey == "") {
		if l.StageID != "" {
			return nil, fmt.Errorf("loadgen: --stage without --api-key needs --project (the key must belong to the stage's project)")
		}
		if err := api.call(ctx, "POST", "/api/projects", map[string]any{"name": "loadgen " + time.Now().Format(time.DateTime)}, &rec, 201); err != nil {
			return nil, err
		}
		l.ProjectID = rec.ID
	}
	if l.StageID == "" {
		llm := map[string]any{"name": "loadgen scripted", "providerType": "llm", "apiType": "scripted",
			"config": map[string]any{"defaultReply": "R{{.Turn}}: {{.Text}}"}}
		if err := api.call(ctx, "POST", "/api/providers", llm, &rec, 201); err != nil {
			return nil, err
		}
		stage := map[string]any{"name": "loadgen", "prompt": "Echo.", "llmProviderId": rec.ID,
			"llmSettings": map[string]any{"model": "scripted"}}
		if err := api.call(ctx, "POST", "/api/projects/"+l.ProjectID+"/stages", stage, &rec, 201); err != nil {
			return nil, err
		}
		l.StageID = rec.ID
	}
	if l.ProviderID == "" {
		p := map[string]any{"name": "loadgen twilio", "providerType": "channel", "apiType": "twilio_messaging",
			"config": map[string]any{"accountSid": l.AccountSID, "authToken": l.AuthToken, "fromNumber": l.Number, "apiBaseUrl": simURL}}
		if err := api.call(ctx, "POST", "/api/providers", p, &rec, 201); err != nil {
			return nil, err
		}
		l.ProviderID = rec.ID
	}
	if l.APIKey == "" {
		k := map[string]any{"name": "loadgen", "keySettings": map[string]any{"allowedChannels": []string{"twilio_messaging"}}}
		if err := api.call(ctx, "POST", "/api/projects/"+l.ProjectID+"/api-keys", k, &rec, 201); err != nil {
			return nil, err
		}
		if rec.Key == "" {
			return nil, fmt.Errorf("loadgen: the API key's value is missing from the create answer")
		}
		l.APIKey = rec.Key
	}
	l.Webhook = api.base + "/api/twilio/messaging/webhook?" + url.Values{
		"apiKey": {l.APIKey}, "stageId": {l.StageID}, "channelProviderId": {l.ProviderID},
	}.Encode()
	return l, nil
}

// login obtains an access token, creating the initial operator when the
// server has none yet.
func login(ctx context.Context, api *apiClient, id, password string) error {
	var status struct {
		IsSetup bool `json:"isSetup"`
	}
	if err := api.call(ctx, "GET", "/api/setup/status", nil, &status, 200); err != nil {
		return err
	}
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	creds := map[string]any{"id": id, "password": password}
	if !status.IsSetup {
		creds["name"] = "Load generator"
		if err := api.call(ctx, "POST", "/api/setup/initial-operator", creds, &auth, 201); err != nil {
			return err
		}
	} else if err := api.call(ctx, "POST", "/api/auth/login", creds, &auth, 200); err != nil {
		return err
	}
	if auth.AccessToken == "" {
		return fmt.Errorf("loadgen: no access token in the login answer")
	}
	api.token = auth.AccessToken
	return nil
}
