package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/opapi"
)

// phoneKeyName names the API keys the phone creates for itself on a demo
// server; it deletes its key when it exits.
const phoneKeyName = "switchboard phone"

// phoneLine is the Twilio number the phone plays: where to post webhooks and
// the credentials the server's REST sends will carry.
type phoneLine struct {
	Webhook    string // full webhook URL, query string included
	AuthToken  string // signs webhooks; the server's sends authenticate with it
	AccountSID string
	Number     string // the Twilio number (inbound To), E.164 or whatsapp:+E.164
	APIBaseURL string // where the server sends (demo discovery only)
	Desc       string

	close func(ctx context.Context) // releases what discovery created
}

// Close releases what discovery created (the phone's API key).
func (l *phoneLine) Close(ctx context.Context) {
	if l.close != nil {
		l.close(ctx)
	}
}

type named struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// discoverDemo finds the demo line of a `serve --demo` server through its
// API: it logs in as the demo operator, finds the demo project, stage and
// Twilio provider by name, and creates an API key of its own (key values
// are shown only once, so the demo's key cannot be read back). The auth
// token is the demo's public constant: the API masks provider secrets.
func discoverDemo(ctx context.Context, client *http.Client, server, operator, password string) (*phoneLine, error) {
	server = strings.TrimRight(server, "/")
	c := &opapi.Client{Base: server, HTTP: client}
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	err := c.Do(ctx, http.MethodPost, "/api/auth/login", map[string]string{"id": operator, "password": password}, &auth, http.StatusOK)
	if err != nil {
		if se := (*opapi.StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			return nil, fmt.Errorf("phone: %s is not a demo server (login as %q refused); start it with `switchboard serve --demo`, or pass --webhook and --auth-token", server, operator)
		}
		return nil, fmt.Errorf("phone: cannot reach the server at %s: %w", server, err)
	}
	c.Token = auth.AccessToken

	var projects struct{ Items []named }
	if err := c.Do(ctx, http.MethodGet, "/api/projects?limit=1000", nil, &projects, http.StatusOK); err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	proj := findNamed(projects.Items, demoProjectName)
	if proj == nil {
		return nil, fmt.Errorf("phone: no project %q on %s; restart the server with --demo", demoProjectName, server)
	}
	var stages struct{ Items []named }
	if err := c.Do(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(proj.ID)+"/stages?limit=1000", nil, &stages, http.StatusOK); err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	stage := findNamed(stages.Items, demoStageName)
	if stage == nil {
		return nil, fmt.Errorf("phone: no stage %q in the demo project; restart the server with --demo", demoStageName)
	}
	var provs struct {
		Items []struct {
			named
			Config struct {
				AccountSID string `json:"accountSid"`
				FromNumber string `json:"fromNumber"`
				APIBaseURL string `json:"apiBaseUrl"`
			} `json:"config"`
		}
	}
	if err := c.Do(ctx, http.MethodGet, "/api/providers?limit=1000", nil, &provs, http.StatusOK); err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	l := &phoneLine{AuthToken: demoAuthToken}
	providerID := ""
	for _, p := range provs.Items {
		if p.Name == demoChannelName {
			l.AccountSID, l.Number, l.APIBaseURL = p.Config.AccountSID, p.Config.FromNumber, p.Config.APIBaseURL
			providerID = p.ID
			break
		}
	}
	if providerID == "" {
		return nil, fmt.Errorf("phone: no provider %q on %s; restart the server with --demo", demoChannelName, server)
	}

	var key struct {
		named
		Key string `json:"key"`
	}
	body := map[string]any{"name": phoneKeyName, "keySettings": map[string]any{"allowedChannels": []string{"twilio_messaging"}}}
	keysPath := "/api/projects/" + url.PathEscape(proj.ID) + "/api-keys"
	if err := c.Do(ctx, http.MethodPost, keysPath, body, &key, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	if key.Key == "" {
		return nil, fmt.Errorf("phone: the server returned no API key value")
	}
	l.Webhook = server + "/api/twilio/messaging/webhook?" + url.Values{
		"apiKey": {key.Key}, "stageId": {stage.ID}, "channelProviderId": {providerID},
	}.Encode()
	l.Desc = fmt.Sprintf("demo line %s (project %s, stage %s) on %s", l.Number, proj.ID, stage.ID, server)
	l.close = func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = c.Do(ctx, http.MethodDelete, keysPath+"/"+url.PathEscape(key.ID)+"?version="+strconv.FormatInt(key.Version, 10), nil, nil, http.StatusNoContent)
	}
	return l, nil
}

func findNamed(items []named, name string) *named {
	for i := range items {
		if items[i].Name == name {
			return &items[i]
		}
	}
	return nil
}
