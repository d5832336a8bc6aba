package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/internal/opapi"
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
	// WebhookQuery is the webhook URL's query string (the line's ids and
	// API key); the base is each server's.
	WebhookQuery string
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setupLine creates what the flags do not name: it logs in (creating the
// initial operator on a fresh server), then creates a project, a scripted
// LLM provider and stage, a Twilio channel provider pointing at simURL
// (with no apiBaseUrl when simURL is "": the servers' TWILIO_API_BASE_URL
// then says where they send) and an API key. Given ids are reused as they
// are.
func setupLine(ctx context.Context, c *config, serverURL, simURL string) (*line, error) {
	l := &line{ProjectID: c.project, StageID: c.stage, ProviderID: c.provider, APIKey: c.apiKey,
		AccountSID: c.accountSID, AuthToken: c.authToken, Number: c.number}
	if l.AccountSID == "" {
		l.AccountSID = "AC" + randomHex(16)
	}
	if l.AuthToken == "" {
		l.AuthToken = randomHex(16)
	}
	api := &opapi.Client{Base: strings.TrimRight(serverURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
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
	if l.ProjectID == "" && (l.StageID == "" || l.APIKey == "") { // --stage alone is refused by validate
		if err := api.Do(ctx, "POST", "/api/projects", map[string]any{"name": "loadgen " + time.Now().Format(time.DateTime)}, &rec, 201); err != nil {
			return nil, err
		}
		l.ProjectID = rec.ID
	}
	if l.StageID == "" {
		llm := map[string]any{"name": "loadgen scripted", "providerType": "llm", "apiType": "scripted",
			"config": map[string]any{"defaultReply": "R{{.Turn}}: {{.Text}}"}}
		if err := api.Do(ctx, "POST", "/api/providers", llm, &rec, 201); err != nil {
			return nil, err
		}
		stage := map[string]any{"name": "loadgen", "prompt": "Echo.", "llmProviderId": rec.ID,
			"llmSettings": map[string]any{"model": "scripted"}}
		if err := api.Do(ctx, "POST", "/api/projects/"+l.ProjectID+"/stages", stage, &rec, 201); err != nil {
			return nil, err
		}
		l.StageID = rec.ID
	}
	if l.ProviderID == "" {
		conf := map[string]any{"accountSid": l.AccountSID, "authToken": l.AuthToken, "fromNumber": l.Number}
		if simURL != "" {
			conf["apiBaseUrl"] = simURL
		}
		p := map[string]any{"name": "loadgen twilio", "providerType": "channel", "apiType": "twilio_messaging", "config": conf}
		if err := api.Do(ctx, "POST", "/api/providers", p, &rec, 201); err != nil {
			return nil, err
		}
		l.ProviderID = rec.ID
	}
	if l.APIKey == "" {
		k := map[string]any{"name": "loadgen", "keySettings": map[string]any{"allowedChannels": []string{"twilio_messaging"}}}
		if err := api.Do(ctx, "POST", "/api/projects/"+l.ProjectID+"/api-keys", k, &rec, 201); err != nil {
			return nil, err
		}
		if rec.Key == "" {
			return nil, fmt.Errorf("the API key's value is missing from the create answer")
		}
		l.APIKey = rec.Key
	}
	l.WebhookQuery = url.Values{
		"apiKey": {l.APIKey}, "stageId": {l.StageID}, "channelProviderId": {l.ProviderID},
	}.Encode()
	return l, nil
}

// login obtains an access token, creating the initial operator when the
// server has none yet.
func login(ctx context.Context, api *opapi.Client, id, password string) error {
	var status struct {
		IsSetup bool `json:"isSetup"`
	}
	if err := api.Do(ctx, "GET", "/api/setup/status", nil, &status, 200); err != nil {
		return err
	}
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	creds := map[string]any{"id": id, "password": password}
	if !status.IsSetup {
		creds["name"] = "Load generator"
		if err := api.Do(ctx, "POST", "/api/setup/initial-operator", creds, &auth, 201); err != nil {
			return err
		}
	} else if err := api.Do(ctx, "POST", "/api/auth/login", creds, &auth, 200); err != nil {
		return err
	}
	if auth.AccessToken == "" {
		return fmt.Errorf("no access token in the login answer")
	}
	api.Token = auth.AccessToken
	return nil
}
