package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"switchboard/providers"
)

func TestProviders(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	const token = "tok9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	twilioConfig := func() map[string]any {
		return map[string]any{"accountSid": testSID, "authToken": token, "fromNumber": "+15551234567"}
	}

	// Validation.
	bad := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"apiType": "twilio_messaging", "config": twilioConfig()}, "name"},
		{"no apiType", map[string]any{"name": "x", "config": twilioConfig()}, "apiType"},
		{"unknown apiType", map[string]any{"name": "x", "apiType": "vonage", "config": map[string]any{}}, "apiType"},
		{"type mismatch", map[string]any{"name": "x", "providerType": "llm", "apiType": "twilio_messaging", "config": twilioConfig()}, "providerType"},
		{"name type", map[string]any{"name": 1, "apiType": "twilio_messaging", "config": twilioConfig()}, "name"},
		{"tags type", map[string]any{"name": "x", "apiType": "twilio_messaging", "config": twilioConfig(), "tags": "a"}, "tags"},
		{"config unknown key", map[string]any{"name": "x", "apiType": "twilio_messaging",
			"config": map[string]any{"accountSid": testSID, "authToken": token, "fromNumber": "+15551234567", "region": "ie1"}}, "config.region"},
		{"config wrong type", map[string]any{"name": "x", "apiType": "twilio_messaging",
			"config": map[string]any{"accountSid": 5, "authToken": token, "fromNumber": "+15551234567"}}, "config.accountSid"},
		{"config bad number", map[string]any{"name": "x", "apiType": "twilio_messaging",
			"config": map[string]any{"accountSid": testSID, "authToken": token, "fromNumber": "5551234567"}}, "config.fromNumber"},
		{"config not object", map[string]any{"name": "x", "apiType": "scripted", "config": "rules"}, "config"},
		{"scripted bad regexp", map[string]any{"name": "x", "apiType": "scripted",
			"config": map[string]any{"rules": []any{map[string]any{"match": "(", "reply": "x"}}}}, "config.rules[0].match"},
		{"masked secret on create", map[string]any{"name": "x", "apiType": "openai-legacy", "config": map[string]any{"apiKey": "••••abcd"}}, "config.apiKey"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			e.do("POST", "/api/providers", tok, tt.body).wantField(tt.field)
		})
	}

	// Create: providerType inferred, unknown top-level fields ignored,
	// secrets masked in the response.
	r := e.do("POST", "/api/providers", tok, map[string]any{
		"name": "line", "apiType": "twilio_messaging", "config": twilioConfig(), "tags": []string{"sms"}, "isDefault": true,
	}).want(http.StatusCreated)
	id := r.str("id")
	if !strings.HasPrefix(id, "prov_") || r.str("providerType") != "channel" || r.version() != 1 {
		t.Fatalf("create = %s", r.body)
	}
	if strings.Contains(string(r.body), token) {
		t.Fatalf("create response leaks the auth token: %s", r.body)
	}
	wantMasked := func(body []byte, cfg map[string]any) {
		t.Helper()
		if strings.Contains(string(body), token) {
			t.Fatalf("response leaks the auth token: %s", body)
		}
		if cfg["authToken"] != "••••"+token[len(token)-4:] || cfg["accountSid"] != testSID || cfg["fromNumber"] != "+15551234567" {
			t.Fatalf("config = %v", cfg)
		}
	}
	wantMasked(r.body, r.obj()["config"].(map[string]any))
	g := e.do("GET", "/api/providers/"+id, tok, nil).want(http.StatusOK)
	wantMasked(g.body, g.obj()["config"].(map[string]any))
	if tags := g.obj()["tags"].([]any); len(tags) != 1 || tags[0] != "sms" {
		t.Fatalf("tags = %v", tags)
	}
	l := e.do("GET", "/api/providers", tok, nil)
	items := l.items(1, 0, 100)
	wantMasked(l.body, items[0]["config"].(map[string]any))

	// The stored secret is the real one.
	stored := func() *providers.TwilioConfig {
		t.Helper()
		p, err := e.st.GetProvider(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := providers.ParseTwilio(p.Config)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if stored().AuthToken != token {
		t.Fatalf("stored token = %q", stored().AuthToken)
	}

	// Update: a config read back (masked) keeps the secret.
	cfg := g.obj()["config"].(map[string]any)
	cfg["fromNumber"] = "whatsapp:+15557654321"
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"config": cfg}).wantField("version")
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"config": cfg, "version": 5}).wantError(http.StatusConflict)
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"config": map[string]any{"authToken": "x"}, "version": 1}).wantField("config.accountSid")
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"apiType": "scripted", "version": 1}).wantField("config")
	e.do("PUT", "/api/providers/nope", tok, map[string]any{"version": 1}).wantError(http.StatusNotFound)
	u := e.do("PUT", "/api/providers/"+id, tok, map[string]any{"config": cfg, "name": "line 2", "version": 1}).want(http.StatusOK)
	if u.version() != 2 || u.str("name") != "line 2" {
		t.Fatalf("update = %s", u.body)
	}
	if c := stored(); c.AuthToken != token || c.FromNumber != "whatsapp:+15557654321" {
		t.Fatalf("stored after update = %+v", c)
	}
	// A new secret replaces the old.
	cfg["authToken"] = "fedcba9876543210fedcba9876543210"
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"config": cfg, "version": 2}).want(http.StatusOK)
	if c := stored(); c.AuthToken != "fedcba9876543210fedcba9876543210" {
		t.Fatalf("stored token after change = %q", c.AuthToken)
	}

	// Delete: a provider a stage uses is a conflict.
	llm := e.scripted(tok)
	pid := e.project(tok, "p")
	sid := e.stage(tok, pid, llm)
	e.do("DELETE", "/api/providers/"+llm+"?version=1", tok, nil).wantError(http.StatusConflict)
	e.do("DELETE", "/api/projects/"+pid+"/stages/"+sid, tok, map[string]any{"version": 1}).want(http.StatusNoContent)
	e.do("DELETE", "/api/providers/"+llm+"?version=1", tok, nil).want(http.StatusNoContent)
	e.do("DELETE", "/api/providers/"+id, tok, map[string]any{"version": 1}).wantError(http.StatusConflict)
	e.do("DELETE", "/api/providers/"+id, tok, map[string]any{"version": 3}).want(http.StatusNoContent)
	e.do("GET", "/api/providers/"+id, tok, nil).wantError(http.StatusNotFound)
}

func TestProviderLLMConfigs(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	r := e.do("POST", "/api/providers", tok, map[string]any{
		"name": "openai", "providerType": "llm", "apiType": "openai-legacy",
		"config": map[string]any{"apiKey": "sk-0123456789abcdef", "baseUrl": "http://127.0.0.1:9/v1"},
	}).want(http.StatusCreated)
	var cfg map[string]string
	if err := json.Unmarshal(mustJSON(t, r.obj()["config"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["apiKey"] != "••••cdef" || cfg["baseUrl"] != "http://127.0.0.1:9/v1" {
		t.Fatalf("config = %v", cfg)
	}
	e.do("POST", "/api/providers", tok, map[string]any{"name": "o", "apiType": "ollama"}).want(http.StatusCreated)
	e.do("POST", "/api/providers", tok, map[string]any{"name": "o", "apiType": "openai-legacy", "config": map[string]any{}}).wantField("config.apiKey")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Changing apiType without a config is refused: the stored config (with
// its real secret) would otherwise be carried over and sent to the new
// type's default destination (an OpenAI key in clear to Ollama's port).
func TestProviderAPITypeChangeNeedsConfig(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	c := e.do("POST", "/api/providers", tok, map[string]any{"name": "OpenAI", "apiType": "openai-legacy",
		"config": map[string]any{"apiKey": "sk-live-abcdefghijkl"}}).want(http.StatusCreated)
	id := c.str("id")
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"version": 1, "apiType": "ollama"}).wantField("config")
	p, err := e.st.GetProvider(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if p.APIType != "openai-legacy" || p.Version != 1 {
		t.Fatalf("refused change stored: %s v%d", p.APIType, p.Version)
	}
}
