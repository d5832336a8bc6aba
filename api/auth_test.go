package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/healthz", "", nil).want(http.StatusOK)
	e.do("GET", "/readyz", "", nil).want(http.StatusOK)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/readyz", "", nil).wantError(http.StatusServiceUnavailable)
	e.do("GET", "/healthz", "", nil).want(http.StatusOK)
}

func TestSetup(t *testing.T) {
	e := newEnv(t)
	if got := e.do("GET", "/api/setup/status", "", nil).want(http.StatusOK).obj()["isSetup"]; got != false {
		t.Fatalf("isSetup = %v before setup", got)
	}
	e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "short"}).wantField("password")
	e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": 7, "password": "long-enough"}).wantField("name")
	e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "password": "long-enough"}).wantField("name")

	r := e.do("POST", "/api/setup/initial-operator", "", map[string]any{
		"id": "admin", "name": "Admin", "password": "admin-password", "email": "ignored@example.com",
	}).want(http.StatusCreated)
	m := r.obj()
	op, _ := m["operator"].(map[string]any)
	if op["id"] != "admin" || op["name"] != "Admin" || op["isActive"] != true {
		t.Fatalf("operator = %v", op)
	}
	if roles, _ := op["roles"].([]any); len(roles) != 1 || roles[0] != "super_admin" {
		t.Fatalf("roles = %v, want [super_admin]", op["roles"])
	}
	for _, k := range []string{"createdAt", "updatedAt", "version"} {
		if _, ok := op[k]; !ok {
			t.Fatalf("operator lacks %s: %v", k, op)
		}
	}
	if strings.Contains(string(r.body), "$2a$") || strings.Contains(strings.ToLower(string(r.body)), "passwordhash") {
		t.Fatalf("response leaks the password hash: %s", r.body)
	}
	if m["accessToken"] == "" || m["refreshToken"] == "" || m["expiresIn"] != float64(3600) {
		t.Fatalf("token fields = %v", m)
	}
	if got := e.do("GET", "/api/setup/status", "", nil).want(http.StatusOK).obj()["isSetup"]; got != true {
		t.Fatalf("isSetup = %v after setup", got)
	}
	e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "other", "name": "Other", "password": "other-password"}).wantError(http.StatusConflict)
	// The access token from setup works.
	e.do("GET", "/api/projects", r.str("accessToken"), nil).want(http.StatusOK)
}

func TestInitialOperatorRace(t *testing.T) {
	e := newEnv(t)
	const n = 6
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- e.do("POST", "/api/setup/initial-operator", "", map[string]any{
				"id": fmt.Sprintf("admin%d", i), "name": "Admin", "password": "admin-password",
			}).code
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Fatalf("concurrent setup answered %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent setups succeeded, want 1", created)
	}
	if items := e.do("GET", "/api/setup/status", "", nil).want(http.StatusOK).obj(); items["isSetup"] != true {
		t.Fatal("not set up")
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	e.setup()
	r := e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "admin-password"}).want(http.StatusOK)
	m := r.obj()
	if m["accessToken"] == "" || m["refreshToken"] == "" || m["expiresIn"] != float64(3600) {
		t.Fatalf("login body = %v", m)
	}
	if op, _ := m["operator"].(map[string]any); op["id"] != "admin" {
		t.Fatalf("login operator = %v", m["operator"])
	}
	wrong := e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "wrong-password"}).wantError(http.StatusUnauthorized)
	unknown := e.do("POST", "/api/auth/login", "", map[string]any{"id": "nobody", "password": "wrong-password"}).wantError(http.StatusUnauthorized)
	if wrong != unknown {
		t.Fatalf("wrong password says %q, unknown id says %q: an oracle", wrong, unknown)
	}
	e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin"}).wantField("password")
	e.do("POST", "/api/auth/login", "", `{"id": "admin", "password": `).wantError(http.StatusBadRequest)
}

func TestBearerAuth(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	e.do("GET", "/api/projects", "", nil).wantError(http.StatusUnauthorized)
	if h := e.do("GET", "/api/projects", "", nil).hdr.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Fatalf("WWW-Authenticate = %q", h)
	}
	e.do("GET", "/api/projects", "not-a-token", nil).wantError(http.StatusUnauthorized)
	e.do("GET", "/api/projects", tok, nil).want(http.StatusOK)
	e.advance(time.Hour + time.Second)
	e.do("GET", "/api/projects", tok, nil).wantError(http.StatusUnauthorized)
}

// Refresh tokens do not rotate (Bonsai's behaviour, which its console
// relies on: it refreshes with its login's refresh token for the whole
// session), and a session is not extended by refreshing: it ends
// RefreshTokenTTL after the login, and no access token outlives it.
func TestRefreshKeepsSession(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "admin-password"}).want(http.StatusCreated)
	access, refresh := r.str("accessToken"), r.str("refreshToken")

	// An access token is no refresh token, and vice versa.
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": access}).wantError(http.StatusUnauthorized)
	e.do("GET", "/api/projects", refresh, nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/refresh", "", map[string]any{}).wantField("refreshToken")

	seen := map[string]bool{access: true}
	for i := range 3 {
		e.advance(2 * time.Hour) // the previous access token has expired
		n := e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(http.StatusOK)
		if seen[n.str("accessToken")] {
			t.Fatalf("refresh %d returned an old access token", i+1)
		}
		seen[n.str("accessToken")] = true
		if n.str("refreshToken") != refresh {
			t.Fatalf("refresh %d answered another refresh token; the console would never use it", i+1)
		}
		e.do("GET", "/api/projects", n.str("accessToken"), nil).want(http.StatusOK)
	}

	// The session ends 30 days after the login, however often it was
	// refreshed; an access token issued near the end expires with it.
	e.advance(30*24*time.Hour - 6*time.Hour - 30*time.Minute) // 30 minutes left
	n := e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(http.StatusOK)
	if got := int64(n.obj()["expiresIn"].(float64)); got > 30*60 || got < 30*60-5 {
		t.Fatalf("expiresIn near the end of the session = %d, want about 1800 (the session's end)", got)
	}
	e.advance(31 * time.Minute)
	e.do("GET", "/api/projects", n.str("accessToken"), nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).wantError(http.StatusUnauthorized)
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	e.setup()
	r := e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "admin-password"}).want(http.StatusOK)
	access, refresh := r.str("accessToken"), r.str("refreshToken")
	e.do("POST", "/api/auth/logout", "", nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/logout", access, map[string]any{"refreshToken": refresh}).want(http.StatusNoContent)
	e.do("GET", "/api/projects", access, nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).wantError(http.StatusUnauthorized)
	// Without a body the whole session goes: its refresh token and every
	// access token refreshed in it, and no other session.
	other, otherRefresh := e.pair("admin", "admin-password")
	keep, keepRefresh := e.pair("admin", "admin-password")
	refreshed := e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": otherRefresh}).want(http.StatusOK).str("accessToken")
	e.do("POST", "/api/auth/logout", other, nil).want(http.StatusNoContent)
	e.do("GET", "/api/projects", other, nil).wantError(http.StatusUnauthorized)
	e.do("GET", "/api/projects", refreshed, nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": otherRefresh}).wantError(http.StatusUnauthorized)
	e.do("GET", "/api/projects", keep, nil).want(http.StatusOK)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": keepRefresh}).want(http.StatusOK)
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	tok := e.operator(admin, "vera", "viewer")
	m := e.do("GET", "/api/auth/me", tok, nil).want(http.StatusOK).obj()
	if m["id"] != "vera" {
		t.Fatalf("me = %v", m)
	}
	perms, _ := m["permissions"].([]any)
	// 7 of Switchboard's entities, 9 of Bonsai's features it answers
	// empty (bonsai_only.go) and user:read (users.go).
	if len(perms) != 17 || perms[0] != "agent:read" {
		t.Fatalf("viewer permissions = %v", perms)
	}
}

func TestInactiveOperatorIsUnauthorized(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	tok := e.operator(admin, "dev", "developer")
	e.do("GET", "/api/projects", tok, nil).want(http.StatusOK)
	v := e.do("GET", "/api/operators/dev", admin, nil).want(http.StatusOK).version()
	e.do("PUT", "/api/operators/dev", admin, map[string]any{"isActive": false, "version": v}).want(http.StatusOK)
	e.do("GET", "/api/projects", tok, nil).wantError(http.StatusUnauthorized)
	msg := e.do("POST", "/api/auth/login", "", map[string]any{"id": "dev", "password": "password-dev"}).wantError(http.StatusUnauthorized)
	if msg != "invalid id or password" {
		t.Fatalf("inactive login says %q", msg)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	// Routes registered after the API on the same router still get
	// /api/twilio/... (the webhook package owns it).
	reached := false
	e.router.HandleFunc("/api/twilio/messaging/webhook", func(w http.ResponseWriter, _ *http.Request) {
		reached = true
		w.WriteHeader(http.StatusOK)
	}).Methods("POST")
	e.do("POST", "/api/twilio/messaging/webhook?apiKey=x", "", nil).want(http.StatusOK)
	if !reached {
		t.Fatal("the webhook route was shadowed by the API")
	}

	e.do("GET", "/api/nope", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/p/nope/deeper", "", nil).wantError(http.StatusNotFound)
	r := e.do("PATCH", "/api/projects", tok, nil)
	r.wantError(http.StatusMethodNotAllowed)
	if allow := r.hdr.Get("Allow"); allow != "POST, GET, HEAD" {
		t.Fatalf("Allow = %q", allow)
	}
	// HEAD is served wherever GET is, with GET's status (net/http drops
	// the body; the recorder does not).
	e.do("HEAD", "/api/projects", tok, nil).want(http.StatusOK)
	e.do("HEAD", "/api/projects", "", nil).wantError(http.StatusUnauthorized)
	e.do("PATCH", "/api/projects/p1/stages/s1", tok, nil).wantError(http.StatusMethodNotAllowed)
	e.do("DELETE", "/api/setup/status", "", nil).wantError(http.StatusMethodNotAllowed)
}

func TestBodyRules(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	e.do("POST", "/api/projects", tok, `{"name":`).wantError(http.StatusBadRequest)
	e.do("POST", "/api/projects", tok, `["x"]`).wantError(http.StatusBadRequest)
	e.do("POST", "/api/projects", tok, ``).wantError(http.StatusBadRequest)
	e.do("POST", "/api/projects", tok, `{"name":"a"} {"name":"b"}`).wantError(http.StatusBadRequest)
	big := `{"name":"big","description":"` + strings.Repeat("x", 1<<20) + `"}`
	msg := e.do("POST", "/api/projects", tok, big).wantError(http.StatusRequestEntityTooLarge)
	if !strings.Contains(msg, "exceeds") {
		t.Fatalf("oversized body error = %q", msg)
	}
	e.do("GET", "/api/projects?limit=abc", tok, nil).wantField("limit")
	e.do("GET", "/api/projects?offset=-1", tok, nil).wantField("offset")
}

// A body not declared JSON is refused with 415 before anything happens: a
// web page may send a text/plain or form POST anywhere without a CORS
// preflight, and with it, say, claim a fresh server's setup.
func TestBodyMustBeDeclaredJSON(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		req := httptest.NewRequest("POST", "/api/setup/initial-operator", strings.NewReader(`{"id":"evil","name":"Evil","password":"evil-password"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		e.router.ServeHTTP(w, req)
		if w.Code != http.StatusUnsupportedMediaType || !strings.Contains(w.Body.String(), "application/json") {
			t.Fatalf("Content-Type %q: %d %s", ct, w.Code, w.Body.String())
		}
	}
	if n, err := e.st.CountOperators(t.Context()); err != nil || n != 0 {
		t.Fatalf("%d operators after refused setups (%v)", n, err)
	}
	// application/json with parameters, and +json types, are JSON.
	req := httptest.NewRequest("POST", "/api/setup/initial-operator", strings.NewReader(`{"id":"admin","name":"Admin","password":"admin-password"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		t.Fatalf("application/json; charset=utf-8: %d %s", w.Code, w.Body.String())
	}
}

// With Options.Starting, /readyz answers 503 "starting up" (even though
// the store answers) until Started: the binary holds readiness until its
// start-up, the demo line included, is done.
func TestReadinessWaitsForStartup(t *testing.T) {
	e := newEnv(t)
	srv := New(e.st, nil, Options{Starting: true})
	r := mux.NewRouter()
	srv.Register(r)
	get := func() (int, string) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting up") {
		t.Fatalf("/readyz while starting: %d %s", code, body)
	}
	srv.Started()
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("/readyz once started: %d %s", code, body)
	}
}
