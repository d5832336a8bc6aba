package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"switchboard/providers"
	"switchboard/store/sqlite"
)

// newEnvWith is newEnv with API options (a destination policy).
func newEnvWith(t *testing.T, opts Options) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}
	opts.BcryptCost, opts.Now = bcrypt.MinCost, e.now
	New(st, nil, opts).Register(e.router)
	return e
}

// TestDeveloperCannotRedirectStoredSecret reproduces the attack through the
// API: a developer (provider:write, no secret in sight) reads a provider
// and puts it back pointed at another host with the masked secret; the
// update is refused, naming both fields, and the stored config is
// unchanged. Sending the secret again, or keeping the destination, works.
func TestDeveloperCannotRedirectStoredSecret(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	dev := e.operator(admin, "dev", "developer")
	const token = "feedfacefeedfacefeedfacefeedbfaf"
	id := e.do("POST", "/api/providers", admin, map[string]any{"name": "tw", "apiType": "twilio_messaging",
		"config": map[string]any{"accountSid": testSID, "authToken": token, "fromNumber": "+15551234567", "apiBaseUrl": "http://127.0.0.1:3001"}}).
		want(http.StatusCreated).str("id")
	llmID := e.do("POST", "/api/providers", admin, map[string]any{"name": "ai", "apiType": "openai-legacy",
		"config": map[string]any{"apiKey": "sk-live-abcdefghijkl", "baseUrl": "https://api.openai.com/v1"}}).
		want(http.StatusCreated).str("id")

	read := func(id string) (map[string]any, int64) {
		r := e.do("GET", "/api/providers/"+id, dev, nil).want(http.StatusOK)
		return r.obj()["config"].(map[string]any), r.version()
	}
	cfg, v := read(id)
	if cfg["authToken"] != "••••bfaf" {
		t.Fatalf("developer sees %v", cfg["authToken"])
	}
	for _, change := range []map[string]any{
		{"apiBaseUrl": "http://attacker.example:8080"},
		{"apiBaseUrl": nil},
		{"accountSid": "AC" + strings.Repeat("e", 32)},
	} {
		c := map[string]any{}
		for k, val := range cfg {
			c[k] = val
		}
		for k, val := range change {
			c[k] = val
		}
		r := e.do("PUT", "/api/providers/"+id, dev, map[string]any{"version": v, "config": c})
		r.wantField("config.authToken")
		msg := r.obj()["error"].(string)
		if !strings.Contains(msg, "must be sent again when config.") {
			t.Fatalf("message %q", msg)
		}
	}
	llmCfg, llmV := read(llmID)
	llmCfg["baseUrl"] = "http://attacker.example/v1"
	r := e.do("PUT", "/api/providers/"+llmID, dev, map[string]any{"version": llmV, "config": llmCfg})
	r.wantField("config.apiKey")
	if !strings.Contains(r.obj()["error"].(string), "config.baseUrl") {
		t.Fatalf("message does not name config.baseUrl: %s", r.body)
	}

	stored, err := e.st.GetProvider(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != v || !strings.Contains(string(stored.Config), `"apiBaseUrl":"http://127.0.0.1:3001"`) {
		t.Fatalf("a refused update changed the provider: v%d %s", stored.Version, stored.Config)
	}

	// Same destination with the mask: allowed, secret kept.
	cfg["fromNumber"] = "+15557654321"
	e.do("PUT", "/api/providers/"+id, dev, map[string]any{"version": v, "config": cfg}).want(http.StatusOK)
	stored, _ = e.st.GetProvider(context.Background(), id)
	var tc providers.TwilioConfig
	_ = json.Unmarshal(stored.Config, &tc)
	if tc.AuthToken != token || tc.FromNumber != "+15557654321" {
		t.Fatalf("stored %+v", tc)
	}
	// A new destination with a new secret: allowed.
	cfg, v = read(id)
	cfg["apiBaseUrl"], cfg["authToken"] = "http://127.0.0.1:3002", "0123456789abcdef0123456789abcdef"
	e.do("PUT", "/api/providers/"+id, dev, map[string]any{"version": v, "config": cfg}).want(http.StatusOK)
}

// TestProviderURLPolicyOnSave: URLs with credentials are refused, a
// link-local host always, and with an allow-list any host not on it, each
// a 400 naming the field.
func TestProviderURLPolicyOnSave(t *testing.T) {
	pol, err := providers.ParseAllowlist("api.openai.com,127.0.0.1:3001")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, Options{Destinations: pol})
	admin := e.setup()
	cases := []struct {
		apiType string
		config  map[string]any
		field   string
		msg     string
	}{
		{"openai-legacy", map[string]any{"apiKey": "k", "baseUrl": "https://evil.example/v1"}, "config.baseUrl", "host evil.example not allowed by PROVIDER_URL_ALLOWLIST"},
		{"ollama", map[string]any{"baseUrl": "http://169.254.169.254"}, "config.baseUrl", "link-local"},
		{"openai-legacy", map[string]any{"apiKey": "k", "baseUrl": "https://u:p@api.openai.com/v1"}, "config.baseUrl", "user name"},
		{"twilio_messaging", map[string]any{"accountSid": testSID, "authToken": "abc123", "fromNumber": "+15551234567", "apiBaseUrl": "http://127.0.0.1:3002"}, "config.apiBaseUrl", "PROVIDER_URL_ALLOWLIST"},
	}
	for _, c := range cases {
		r := e.do("POST", "/api/providers", admin, map[string]any{"name": "x", "apiType": c.apiType, "config": c.config})
		r.wantField(c.field)
		if !strings.Contains(string(r.body), c.msg) {
			t.Errorf("%v: %s, want %q", c.config, r.body, c.msg)
		}
	}
	e.do("POST", "/api/providers", admin, map[string]any{"name": "ok", "apiType": "twilio_messaging",
		"config": map[string]any{"accountSid": testSID, "authToken": "abc123", "fromNumber": "+15551234567", "apiBaseUrl": "http://127.0.0.1:3001"}}).want(http.StatusCreated)
	e.do("GET", "/api/providers", admin, nil).items(1, 0, 100)
}

// TestConsoleSaveKeepsAPIBaseURL: Bonsai's console saves a Twilio provider
// with the config keys it knows (accountSid, the masked authToken,
// fromNumber): apiBaseUrl, which it does not know, keeps its stored value,
// so the secret's destination is unchanged and the save works. Sending
// apiBaseUrl empty still removes it, and then the secret must be sent.
func TestConsoleSaveKeepsAPIBaseURL(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	const token = "0123456789abcdef0123456789abcdef"
	c := e.do("POST", "/api/providers", tok, map[string]any{"name": "T", "apiType": "twilio_messaging", "config": map[string]any{
		"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": token, "fromNumber": "+15550001000",
		"apiBaseUrl": "http://127.0.0.1:3001"}}).want(http.StatusCreated)
	id := c.str("id")
	masked := c.obj()["config"].(map[string]any)["authToken"].(string)
	console := map[string]any{"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": masked, "fromNumber": "+15550002000"}
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"version": 1, "config": console}).want(http.StatusOK)
	p, err := e.st.GetProvider(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["apiBaseUrl"] != "http://127.0.0.1:3001" || cfg["authToken"] != token || cfg["fromNumber"] != "+15550002000" {
		t.Fatalf("stored config after the console's save: %v", cfg)
	}
	console["apiBaseUrl"] = ""
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"version": 2, "config": console}).wantField("config.authToken")
}
