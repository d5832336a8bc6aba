package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// developer creates (as the line's admin) an operator with the developer
// role, which has provider:write but never sees a secret, and returns its
// access token.
func (l *line) developer(t *testing.T, id string) string {
	t.Helper()
	l.srv.mustAPI("POST", "/api/operators", l.token, map[string]any{
		"id": id, "name": "Dev " + id, "password": "password-" + id, "roles": []string{"developer"},
	}, nil, 201)
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	l.srv.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": id, "password": "password-" + id}, &auth, 200)
	return auth.AccessToken
}

type providerBody struct {
	Version int64          `json:"version"`
	Config  map[string]any `json:"config"`
}

type apiError struct {
	Error   string            `json:"error"`
	Details map[string]string `json:"details"`
}

// TestDeveloperCannotStealTwilioToken reproduces the high-severity attack
// against the real binary: a developer reads the Twilio provider (token
// masked), puts it back pointed at a Twilio of their own with the masked
// token, and waits for the next reply to carry the real token there. The
// update is refused, the reply goes to the real Twilio, and the attacker's
// host receives nothing.
func TestDeveloperCannotStealTwilioToken(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	attacker := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	dev := l.developer(t, "mallory")

	var p providerBody
	s.mustAPI("GET", "/api/providers/"+l.ProviderID, dev, nil, &p, 200)
	masked, _ := p.Config["authToken"].(string)
	if !strings.HasPrefix(masked, "••••") || strings.Contains(masked, l.AuthToken) {
		t.Fatalf("developer reads authToken %q", masked)
	}
	p.Config["apiBaseUrl"] = attacker.URL()
	var e apiError
	if code := s.api("PUT", "/api/providers/"+l.ProviderID, dev, p, &e); code != 400 {
		t.Fatalf("redirecting the masked token: %d %+v, want 400", code, e)
	}
	if e.Details["field"] != "config.authToken" || !strings.Contains(e.Error, "config.apiBaseUrl") {
		t.Fatalf("error %+v does not name config.authToken and config.apiBaseUrl", e)
	}
	// The same with a changed account SID (the Basic-auth user name).
	s.mustAPI("GET", "/api/providers/"+l.ProviderID, dev, nil, &p, 200)
	p.Config["accountSid"] = "AC" + strings.Repeat("e", 32)
	if code := s.api("PUT", "/api/providers/"+l.ProviderID, dev, p, &e); code != 400 || e.Details["field"] != "config.authToken" {
		t.Fatalf("changing accountSid with the masked token: %d %+v", code, e)
	}

	l.mustText(t, "+15553000001", "hello")
	got := l.waitReplies(t, "+15553000001", 1, 10*time.Second)
	if got[0] != "R1: hello" {
		t.Fatalf("reply %q", got[0])
	}
	if n, f := attacker.Count(), len(attacker.Failures()); n != 0 || f != 0 {
		t.Fatalf("the attacker's host received %d messages and %d refused requests", n, f)
	}

	// Keeping the destination, the masked value still means "unchanged".
	s.mustAPI("GET", "/api/providers/"+l.ProviderID, dev, nil, &p, 200)
	p.Config["fromNumber"] = l.Number
	s.mustAPI("PUT", "/api/providers/"+l.ProviderID, dev, p, nil, 200)
	l.mustText(t, "+15553000001", "again")
	l.waitReplies(t, "+15553000001", 2, 10*time.Second)
	if n, f := attacker.Count(), len(attacker.Failures()); n != 0 || f != 0 {
		t.Fatalf("the attacker's host received %d messages and %d refused requests", n, f)
	}
}

// fakeOpenAI is an OpenAI-compatible endpoint that records the
// Authorization headers it receives.
type fakeOpenAI struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newFakeOpenAI(t *testing.T, reply string) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"choices":[{"message":{"role":"assistant","content":%q},"finish_reason":"stop"}]}`, reply)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auths...)
}

// TestDeveloperCannotStealLLMKey is the same attack on an openai-legacy
// provider's apiKey through baseUrl.
func TestDeveloperCannotStealLLMKey(t *testing.T) {
	const apiKey = "sk-live-0123456789abcdefghij"
	real := newFakeOpenAI(t, "the model answers")
	attacker := newFakeOpenAI(t, "stolen")
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmType: "openai-legacy", llmConfig: map[string]any{"apiKey": apiKey, "baseUrl": real.URL + "/v1"}})
	dev := l.developer(t, "mallory")

	var p providerBody
	s.mustAPI("GET", "/api/providers/"+l.LLMID, dev, nil, &p, 200)
	if k, _ := p.Config["apiKey"].(string); !strings.HasPrefix(k, "••••") {
		t.Fatalf("developer reads apiKey %q", k)
	}
	p.Config["baseUrl"] = attacker.URL + "/v1"
	var e apiError
	if code := s.api("PUT", "/api/providers/"+l.LLMID, dev, p, &e); code != 400 {
		t.Fatalf("redirecting the masked key: %d %+v, want 400", code, e)
	}
	if e.Details["field"] != "config.apiKey" || !strings.Contains(e.Error, "config.baseUrl") {
		t.Fatalf("error %+v does not name config.apiKey and config.baseUrl", e)
	}

	l.mustText(t, "+15553000002", "hi model")
	got := l.waitReplies(t, "+15553000002", 1, 10*time.Second)
	if got[0] != "the model answers" {
		t.Fatalf("reply %q", got[0])
	}
	if auths := real.received(); len(auths) != 1 || auths[0] != "Bearer "+apiKey {
		t.Fatalf("the real endpoint received %q", auths)
	}
	if auths := attacker.received(); len(auths) != 0 {
		t.Fatalf("the attacker's endpoint received %d requests", len(auths))
	}
}

// TestSecretsSealedByDefault: with no SWITCHBOARD_SECRET_KEY, a SQLite
// deployment generates DATABASE_PATH.key (0600) on first start, and the
// database files hold no Twilio token. A copy of the database without its
// key file does not start (and so cannot be mistaken for a working copy).
func TestSecretsSealedByDefault(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15553000003", "hi")
	l.waitReplies(t, "+15553000003", 1, 10*time.Second)
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	fi, err := os.Stat(filepath.Join(dir, "switchboard.db.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if !strings.Contains(s.logs.String(), "generated secret key file") {
		t.Fatal("the key file's creation was not logged")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "switchboard.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.HasSuffix(f, ".key") && bytes.Contains(b, []byte(l.AuthToken)) {
			t.Fatalf("%s holds the auth token in clear", f)
		}
	}

	copyDir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, "switchboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyDir, "switchboard.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, []string{"SWITCHBOARD_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:" + filepath.Join(copyDir, "switchboard.db")}, "serve")
	if code != 1 || !strings.Contains(stderr, "key file") || !strings.Contains(stderr, "missing") {
		t.Fatalf("copied database without its key: exit %d, %s", code, stderr)
	}

	// The original, with its key file, still works after a restart.
	l.restart(t, dir, nil)
	l.mustText(t, "+15553000003", "still there?")
	l.waitReplies(t, "+15553000003", 2, 10*time.Second)
}

// TestRotateSecretKeyCommand runs the command against a stopped server's
// database: the key file is replaced, and the restarted server still
// verifies webhooks and sends replies with the re-sealed token.
func TestRotateSecretKeyCommand(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	keyPath := filepath.Join(dir, "switchboard.db.key")
	before, _ := os.ReadFile(keyPath)
	code, out, stderr := run(t, []string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "switchboard.db")}, "rotate-secret-key")
	if code != 0 || !strings.Contains(out, "re-sealed 1 providers") {
		t.Fatalf("rotate: exit %d\n%s\n%s", code, out, stderr)
	}
	after, _ := os.ReadFile(keyPath)
	if len(after) == 0 || bytes.Equal(before, after) {
		t.Fatal("the key file was not replaced")
	}
	l.moveTo(startServer(t, dir, nil))
	l.mustText(t, "+15553000004", "after rotation")
	l.waitReplies(t, "+15553000004", 1, 10*time.Second)
}

// TestDestinationRefusedWhenUsed: a provider saved while any host was
// allowed is not used once PROVIDER_URL_ALLOWLIST no longer allows its
// apiBaseUrl: the reply is not sent, and the failure is recorded.
func TestDestinationRefusedWhenUsed(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.restart(t, dir, map[string]string{"PROVIDER_URL_ALLOWLIST": "api.twilio.com"})
	l.mustText(t, "+15553000005", "hello")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if !strings.Contains(l.srv.logs.String(), "PROVIDER_URL_ALLOWLIST") {
			return fmt.Errorf("no refusal naming PROVIDER_URL_ALLOWLIST logged yet")
		}
		return nil
	})
	if n, f := sim.Count(), len(sim.Failures()); n != 0 || f != 0 {
		t.Fatalf("a refused destination received %d messages, %d requests", n, f)
	}
	// Saving it again is refused too, naming the field.
	var p providerBody
	l.srv.mustAPI("GET", "/api/providers/"+l.ProviderID, l.token, nil, &p, 200)
	var e apiError
	if code := l.srv.api("PUT", "/api/providers/"+l.ProviderID, l.token, p, &e); code != 400 || e.Details["field"] != "config.apiBaseUrl" {
		t.Fatalf("save under the allow-list: %d %+v", code, e)
	}
}

// TestScriptedTemplatesAndReplyCap: a template using an unknown field is
// refused when saved (it used to be accepted and fail every turn), and a
// reply longer than MAX_REPLY_PARTS parts is cut, its last part ending
// with "…".
func TestScriptedTemplatesAndReplyCap(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"MAX_REPLY_PARTS": "2"})
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": strings.Repeat(`{{printf "%999s " .Text}}`, 5)}})
	var e apiError
	for _, c := range []struct {
		config map[string]any
		field  string
	}{
		{map[string]any{"defaultReply": "Hi {{.Name}}"}, "config.defaultReply"},
		{map[string]any{"rules": []any{map[string]any{"match": "x", "reply": "{{.Text.Foo}}"}}}, "config.rules[0].reply"},
	} {
		if code := s.api("POST", "/api/providers", l.token, map[string]any{"name": "bad", "apiType": "scripted", "config": c.config}, &e); code != 400 || e.Details["field"] != c.field {
			t.Fatalf("%v: %d %+v, want 400 on %s", c.config, code, e, c.field)
		}
	}
	l.mustText(t, "+15553000006", "spamspamspamspam")
	got := l.waitReplies(t, "+15553000006", 2, 10*time.Second)
	if !strings.HasSuffix(got[1], "…") || len([]rune(got[1])) > 1600 {
		t.Fatalf("last part ends %q (%d characters)", got[1][max(0, len(got[1])-10):], len([]rune(got[1])))
	}
	// The reply (5000 characters) would be 4 parts: every delivery event
	// says the reply has 2 (parts are fixed when the turn is committed).
	convs := l.conversations(t)
	if len(convs) != 1 {
		t.Fatalf("%d conversations", len(convs))
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		n := 0
		for _, ev := range l.events(t, convs[0].ID) {
			if ev.EventType != "delivery" {
				continue
			}
			var d struct {
				Parts int `json:"parts"`
			}
			if err := json.Unmarshal(ev.EventData, &d); err != nil || d.Parts != 2 {
				return fmt.Errorf("delivery event %s: want parts 2", ev.EventData)
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("no delivery event yet")
		}
		return nil
	})
	if !strings.Contains(s.logs.String(), "MAX_REPLY_PARTS") {
		t.Fatal("the cut was not logged")
	}
}

// TestPostgresRefusesSecretsWithoutKey: PostgreSQL has no key file, so
// without SWITCHBOARD_SECRET_KEY a provider secret is refused (503, naming
// the setting) and nothing is stored, unless ALLOW_PLAINTEXT_SECRETS=true;
// the first start with a key seals what was stored in clear.
func TestPostgresRefusesSecretsWithoutKey(t *testing.T) {
	db := postgresURL(t)
	twilioProvider := map[string]any{"name": "tw", "apiType": "twilio_messaging", "config": map[string]any{
		"accountSid": "AC" + strings.Repeat("1", 32), "authToken": "plaintexttoken0123456789", "fromNumber": "+15550001000"}}
	login := func(s *server, first bool) string {
		var auth struct {
			AccessToken string `json:"accessToken"`
		}
		if first {
			s.mustAPI("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "correct horse battery"}, &auth, 201)
		} else {
			s.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "correct horse battery"}, &auth, 200)
		}
		return auth.AccessToken
	}
	total := func(s *server, tok string) int {
		var page struct {
			Total int `json:"total"`
		}
		s.mustAPI("GET", "/api/providers", tok, nil, &page, 200)
		return page.Total
	}

	s := startServer(t, "", map[string]string{"DATABASE_URL": db})
	tok := login(s, true)
	var e apiError
	if code := s.api("POST", "/api/providers", tok, twilioProvider, &e); code != 503 || !strings.Contains(e.Error, "SWITCHBOARD_SECRET_KEY") {
		t.Fatalf("secret without a key: %d %+v, want 503 naming SWITCHBOARD_SECRET_KEY", code, e)
	}
	if n := total(s, tok); n != 0 {
		t.Fatalf("%d providers stored", n)
	}
	s.mustAPI("POST", "/api/providers", tok, map[string]any{"name": "s", "apiType": "scripted", "config": map[string]any{}}, nil, 201)
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s = startServer(t, "", map[string]string{"DATABASE_URL": db, "ALLOW_PLAINTEXT_SECRETS": "true"})
	tok = login(s, false)
	s.mustAPI("POST", "/api/providers", tok, twilioProvider, nil, 201)
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s = startServer(t, "", map[string]string{"DATABASE_URL": db})
	if !strings.Contains(s.logs.String(), "provider secrets are stored in clear") {
		t.Fatalf("no warning about plaintext secrets:\n%s", s.logs.String())
	}
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s = startServer(t, "", map[string]string{"DATABASE_URL": db, "SWITCHBOARD_SECRET_KEY": strings.Repeat("7e", 32)})
	if !strings.Contains(s.logs.String(), "sealed provider secrets") || !strings.Contains(s.logs.String(), "providers=1") {
		t.Fatalf("plaintext not sealed at start:\n%s", s.logs.String())
	}
	tok = login(s, false)
	if n := total(s, tok); n != 2 {
		t.Fatalf("%d providers", n)
	}
}

func TestRotateSecretKeyInHelp(t *testing.T) {
	code, out, _ := run(t, nil, "help")
	if code != 0 || !strings.Contains(out, "rotate-secret-key") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, nil, "rotate-secret-key", "--help")
	if code != 0 || !strings.Contains(out, "SWITCHBOARD_NEW_SECRET_KEY") || !strings.Contains(out, "run it again") {
		t.Fatalf("rotate-secret-key --help: exit %d\n%s", code, out)
	}
}

// TestSecretKeyFileSymlinkRefused: a symbolic link planted where the
// SQLite key file belongs is not followed: the server does not start, and
// says why and what to do.
func TestSecretKeyFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "planted.key")
	if err := os.WriteFile(elsewhere, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "switchboard.db.key")
	if err := os.Symlink(elsewhere, keyPath); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, []string{"SWITCHBOARD_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:" + filepath.Join(dir, "switchboard.db")}, "serve")
	if code != 1 || !strings.Contains(stderr, keyPath+" is a symbolic link") {
		t.Fatalf("symlinked key file: exit %d, %s", code, stderr)
	}
}
