package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/testutil"
)

// authCall is one operator API call with its status, headers and body.
type authCall struct {
	code int
	hdr  http.Header
	body map[string]any
}

// call sends a JSON request to the server and decodes the answer, keeping
// the headers (Retry-After) that server.api drops.
func call(t *testing.T, s *server, method, path, token string, body any) authCall {
	t.Helper()
	return callWith(t, s, method, path, token, nil, body)
}

// callWith is call with extra request headers.
func callWith(t *testing.T, s *server, method, path, token string, header http.Header, body any) authCall {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c := authCall{code: resp.StatusCode, hdr: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.body); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return c
}

func (c authCall) want(t *testing.T, code int) authCall {
	t.Helper()
	if c.code != code {
		t.Fatalf("status %d, want %d: %v", c.code, code, c.body)
	}
	return c
}

func (c authCall) str(t *testing.T, key string) string {
	t.Helper()
	s, ok := c.body[key].(string)
	if !ok || s == "" {
		t.Fatalf("no %s in %v", key, c.body)
	}
	return s
}

// retryAfter returns the Retry-After seconds of a 429, failing unless it
// is a positive integer no longer than max.
func (c authCall) retryAfter(t *testing.T, max time.Duration) int {
	t.Helper()
	c.want(t, http.StatusTooManyRequests)
	n, err := strconv.Atoi(c.hdr.Get("Retry-After"))
	if err != nil || n < 1 || time.Duration(n)*time.Second > max {
		t.Fatalf("Retry-After = %q, want 1..%v seconds", c.hdr.Get("Retry-After"), max)
	}
	return n
}

// setupAdmin creates the first operator, "admin" with the password
// "correct horse battery", and returns its access token.
func setupAdmin(t *testing.T, s *server) string {
	t.Helper()
	return call(t, s, "POST", "/api/setup/initial-operator", "", map[string]any{
		"id": "admin", "name": "Admin", "password": "correct horse battery",
	}).want(t, http.StatusCreated).str(t, "accessToken")
}

func login(t *testing.T, s *server, id, password string) authCall {
	t.Helper()
	return call(t, s, "POST", "/api/auth/login", "", map[string]any{"id": id, "password": password})
}

// The attack of issue 11, defect 2: an admin resets an operator's password
// because its session leaked; the leaked access token and refresh token
// must stop working at once.
func TestPasswordResetRevokesSessions(t *testing.T) {
	s := startServer(t, "", nil)
	admin := setupAdmin(t, s)
	call(t, s, "POST", "/api/operators", admin, map[string]any{
		"id": "ops", "name": "Ops", "password": "old-password", "roles": []string{"developer"},
	}).want(t, http.StatusCreated)
	leaked := login(t, s, "ops", "old-password").want(t, http.StatusOK)
	access, refresh := leaked.str(t, "accessToken"), leaked.str(t, "refreshToken")
	call(t, s, "GET", "/api/projects", access, nil).want(t, http.StatusOK)

	var op struct {
		Version int64 `json:"version"`
	}
	s.mustAPI("GET", "/api/operators/ops", admin, nil, &op, http.StatusOK)
	call(t, s, "PUT", "/api/operators/ops", admin, map[string]any{"version": op.Version, "password": "new-password"}).want(t, http.StatusOK)

	call(t, s, "GET", "/api/projects", access, nil).want(t, http.StatusUnauthorized)
	call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(t, http.StatusUnauthorized)
	login(t, s, "ops", "old-password").want(t, http.StatusUnauthorized)
	fresh := login(t, s, "ops", "new-password").want(t, http.StatusOK)
	call(t, s, "GET", "/api/projects", fresh.str(t, "accessToken"), nil).want(t, http.StatusOK)

	// "Log out everywhere" ends the new sessions too.
	other := login(t, s, "ops", "new-password").want(t, http.StatusOK)
	call(t, s, "POST", "/api/auth/logout-all", fresh.str(t, "accessToken"), nil).want(t, http.StatusNoContent)
	call(t, s, "GET", "/api/projects", other.str(t, "accessToken"), nil).want(t, http.StatusUnauthorized)
	call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": other.str(t, "refreshToken")}).want(t, http.StatusUnauthorized)
	call(t, s, "GET", "/api/projects", admin, nil).want(t, http.StatusOK)
}

// The attack of issue 11, defect 3: 100 wrong passwords in a row. After
// AUTH_MAX_FAILURES_PER_ACCOUNT (5) failures the account answers 429 (to
// this address) with
// Retry-After, without checking the password, until the window ends. The
// right password is refused too while the account is throttled: letting it
// through would tell the guesser which guess was right. The owner waits out
// the window (or an admin could reset the password from elsewhere); the
// per-address limit is what keeps one client from locking many accounts.
func TestLoginBruteForceIsThrottled(t *testing.T) {
	s := startServer(t, "", nil)
	setupAdmin(t, s)

	unauthorized, throttled := 0, 0
	for i := range 100 {
		c := login(t, s, "admin", fmt.Sprintf("guess-%03d", i))
		switch c.code {
		case http.StatusUnauthorized:
			if throttled > 0 {
				t.Fatalf("attempt %d got 401 after being throttled", i)
			}
			unauthorized++
		case http.StatusTooManyRequests:
			c.retryAfter(t, 15*time.Minute)
			throttled++
		default:
			t.Fatalf("attempt %d: status %d: %v", i, c.code, c.body)
		}
	}
	if unauthorized != 5 || throttled != 95 {
		t.Fatalf("100 wrong passwords: %d answered 401 and %d 429, want 5 and 95", unauthorized, throttled)
	}
	login(t, s, "admin", "correct horse battery").retryAfter(t, 15*time.Minute)
	// A throttled unknown id answers exactly like a throttled real one.
	for i := range 5 {
		login(t, s, "nobody", fmt.Sprintf("guess-%d", i)).want(t, http.StatusUnauthorized)
	}
	known, unknown := login(t, s, "admin", "x-guess"), login(t, s, "nobody", "x-guess")
	known.retryAfter(t, 15*time.Minute)
	unknown.retryAfter(t, 15*time.Minute)
	if known.body["error"] != unknown.body["error"] {
		t.Fatalf("throttled answers differ: %v vs %v", known.body, unknown.body)
	}

	// The per-address limit (20) holds on loopback too: 10 failures so far,
	// 10 more over fresh ids, then every id is refused from this address.
	for i := range 10 {
		login(t, s, fmt.Sprintf("spray-%d", i), "guess").want(t, http.StatusUnauthorized)
	}
	login(t, s, "spray-new", "guess").retryAfter(t, 15*time.Minute)
	call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": "guess"}).retryAfter(t, 15*time.Minute)
}

// A throttled account is free again when AUTH_FAILURE_WINDOW_MS has passed.
func TestLoginThrottleWindowEnds(t *testing.T) {
	s := startServer(t, "", map[string]string{"AUTH_MAX_FAILURES_PER_ACCOUNT": "2", "AUTH_FAILURE_WINDOW_MS": "5000"})
	setupAdmin(t, s)
	login(t, s, "admin", "guess-1").want(t, http.StatusUnauthorized)
	login(t, s, "admin", "guess-2").want(t, http.StatusUnauthorized)
	login(t, s, "admin", "correct horse battery").retryAfter(t, 6*time.Second)
	testutil.CheckFor(t, 30*time.Second, func() error {
		if c := login(t, s, "admin", "correct horse battery"); c.code != http.StatusOK {
			return fmt.Errorf("login after the window: %d %v", c.code, c.body)
		}
		return nil
	})
}

// One address guessing an operator's password cannot lock its owner out:
// after AUTH_MAX_FAILURES_PER_ACCOUNT failures the guesser's address gets
// 429 for that id, the owner elsewhere still logs in; guesses spread over
// many addresses stop at AUTH_MAX_FAILURES_PER_ACCOUNT_TOTAL. Addresses
// come from X-Forwarded-For, trusted because the peer (loopback) is listed
// in TRUSTED_PROXIES.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	s := startServer(t, "", map[string]string{"TRUSTED_PROXIES": "127.0.0.1", "AUTH_MAX_FAILURES_PER_ACCOUNT_TOTAL": "8"})
	setupAdmin(t, s)
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	for i := range 5 {
		callWith(t, s, "POST", "/api/auth/login", "", from("203.0.113.9"), map[string]any{"id": "admin", "password": fmt.Sprintf("guess-%d", i)}).want(t, http.StatusUnauthorized)
	}
	callWith(t, s, "POST", "/api/auth/login", "", from("203.0.113.9"), map[string]any{"id": "admin", "password": "correct horse battery"}).retryAfter(t, 15*time.Minute)
	callWith(t, s, "POST", "/api/auth/login", "", from("198.51.100.7"), map[string]any{"id": "admin", "password": "correct horse battery"}).want(t, http.StatusOK)
	// The owner's login forgave the account-wide count; 8 guesses from 8
	// addresses reach it, and then every address is refused.
	for i := range 8 {
		callWith(t, s, "POST", "/api/auth/login", "", from(fmt.Sprintf("192.0.2.%d", i+1)), map[string]any{"id": "admin", "password": "guess"}).want(t, http.StatusUnauthorized)
	}
	callWith(t, s, "POST", "/api/auth/login", "", from("198.51.100.7"), map[string]any{"id": "admin", "password": "correct horse battery"}).retryAfter(t, 15*time.Minute)
}
