package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// send sends a request with headers through the router.
func (e *env) send(method, path string, hdr map[string]string) *result {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, req)
	return &result{t: e.t, code: w.Code, hdr: w.Header(), body: w.Body.Bytes()}
}

// preflight is the OPTIONS request a browser sends before a cross-origin
// call with a bearer token and a JSON body.
func preflight(origin, method string) map[string]string {
	return map[string]string{
		"Origin":                         origin,
		"Access-Control-Request-Method":  method,
		"Access-Control-Request-Headers": "authorization,content-type",
	}
}

const consoleOrigin = "https://console.example.com"

// corsResponseHeaders are every CORS response header; a refused origin gets none.
var corsResponseHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Allow-Credentials",
	"Access-Control-Expose-Headers"}

// TestCORSPreflight: a preflight from an allowed origin is answered 204
// with what the console needs (its methods, Authorization and
// Content-Type) on every API path — a route, a wrong method for a route,
// an unknown route — and on /version, /healthz and /readyz; credentials
// are never allowed.
func TestCORSPreflight(t *testing.T) {
	e := newEnvWith(t, Options{CORSAllowedOrigins: []string{consoleOrigin, "http://localhost:5173"}})
	for _, tt := range []struct{ method, path string }{
		{"POST", "/api/auth/login"},
		{"GET", "/api/profile"},
		{"PUT", "/api/projects/p1"},
		{"DELETE", "/api/projects/p1/agents/a1"},
		{"PATCH", "/api/projects"}, // no such method: the 405 must be readable
		{"GET", "/api/no-such-route"},
		{"GET", "/version"},
		{"GET", "/healthz"},
		{"GET", "/readyz"},
	} {
		r := e.send("OPTIONS", tt.path, preflight(consoleOrigin, tt.method))
		if r.code != http.StatusNoContent {
			t.Fatalf("preflight %s %s: status %d, want 204; body %s", tt.method, tt.path, r.code, r.body)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":  consoleOrigin,
			"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
			"Access-Control-Max-Age":       "600",
		}
		for k, v := range want {
			if got := r.hdr.Get(k); got != v {
				t.Errorf("preflight %s %s: %s = %q, want %q", tt.method, tt.path, k, got, v)
			}
		}
		if r.hdr.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s %s: credentials allowed", tt.method, tt.path)
		}
		if !hasVary(r.hdr, "Origin") {
			t.Errorf("preflight %s %s: Vary = %q, want Origin", tt.method, tt.path, r.hdr.Values("Vary"))
		}
	}
	// The second allowed origin, written as browsers send it.
	r := e.send("OPTIONS", "/api/auth/login", preflight("http://localhost:5173", "POST"))
	if r.code != http.StatusNoContent || r.hdr.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("second origin: %d %v", r.code, r.hdr)
	}
}

// TestCORSRefused: a preflight from an origin not in the list, or any
// preflight when the list is empty (the default), gets 403 naming the
// setting, and no CORS header, so the browser keeps the page out.
func TestCORSRefused(t *testing.T) {
	for _, tt := range []struct {
		name    string
		allowed []string
		origin  string
		msg     string
	}{
		{"other origin", []string{consoleOrigin}, "https://evil.example", "cross-origin requests from https://evil.example are not allowed: add the origin to CORS_ALLOWED_ORIGINS"},
		{"same host other scheme", []string{consoleOrigin}, "http://console.example.com", "add the origin to CORS_ALLOWED_ORIGINS"},
		{"same host other port", []string{consoleOrigin}, "https://console.example.com:8443", "add the origin to CORS_ALLOWED_ORIGINS"},
		{"sandboxed page", []string{consoleOrigin}, "null", "add the origin to CORS_ALLOWED_ORIGINS"},
		{"default: none", nil, consoleOrigin, "cross-origin requests are off: set CORS_ALLOWED_ORIGINS to allow https://console.example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, Options{CORSAllowedOrigins: tt.allowed})
			r := e.send("OPTIONS", "/api/auth/login", preflight(tt.origin, "POST"))
			if msg := r.wantError(http.StatusForbidden); !strings.Contains(msg, tt.msg) {
				t.Fatalf("error = %q, want %q", msg, tt.msg)
			}
			for _, h := range corsResponseHeaders {
				if v := r.hdr.Get(h); v != "" {
					t.Errorf("%s = %q on a refused preflight", h, v)
				}
			}
			// The actual request is served (a server cannot stop a
			// client that ignores CORS) but carries no permission for
			// the browser to hand the answer to the page.
			got := e.send("GET", "/api/setup/status", map[string]string{"Origin": tt.origin})
			got.want(http.StatusOK)
			for _, h := range corsResponseHeaders {
				if v := got.hdr.Get(h); v != "" {
					t.Errorf("%s = %q on an answer to a refused origin", h, v)
				}
			}
		})
	}
}

// TestCORSActualResponses: answers to an allowed origin carry
// Access-Control-Allow-Origin — successes, JSON errors (401, 404, 405)
// and /healthz alike — so the page can read them; the Twilio webhook
// never does.
func TestCORSActualResponses(t *testing.T) {
	e := newEnvWith(t, Options{CORSAllowedOrigins: []string{consoleOrigin}})
	origin := map[string]string{"Origin": consoleOrigin}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/setup/status", 200},
		{"GET", "/api/projects", 401},
		{"GET", "/api/no-such-route", 404},
		{"PATCH", "/api/projects", 405},
		{"GET", "/healthz", 200},
		{"GET", "/version", 200},
	} {
		r := e.send(tt.method, tt.path, origin)
		if r.code != tt.status {
			t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, r.code, tt.status)
		}
		if got := r.hdr.Get("Access-Control-Allow-Origin"); got != consoleOrigin {
			t.Errorf("%s %s: Access-Control-Allow-Origin = %q", tt.method, tt.path, got)
		}
		if !hasVary(r.hdr, "Origin") {
			t.Errorf("%s %s: no Vary: Origin", tt.method, tt.path)
		}
		if r.hdr.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s: credentials allowed", tt.method, tt.path)
		}
	}
	if got := e.send("GET", "/api/projects", origin).hdr.Get("Access-Control-Expose-Headers"); got != "Retry-After, WWW-Authenticate, Location, Idempotent-Replayed" {
		t.Errorf("Access-Control-Expose-Headers = %q", got)
	}
	// The webhook is not the API's and not covered.
	for _, p := range []string{"/api/twilio/messaging/webhook", "/api/twilio"} {
		r := e.send("OPTIONS", p, preflight(consoleOrigin, "POST"))
		if r.code == http.StatusNoContent || r.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("OPTIONS %s: %d %v, want no CORS answer", p, r.code, r.hdr)
		}
	}
}

// TestCORSAnyOrigin: with "*" every origin may read answers, and the
// answer does not depend on Origin (no Vary needed, caches share it).
func TestCORSAnyOrigin(t *testing.T) {
	e := newEnvWith(t, Options{CORSAllowedOrigins: []string{"*"}})
	r := e.send("OPTIONS", "/api/auth/login", preflight("https://anywhere.example", "POST"))
	if r.code != http.StatusNoContent || r.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", r.code, r.hdr)
	}
	r = e.send("GET", "/api/setup/status", map[string]string{"Origin": "https://anywhere.example"})
	if r.hdr.Get("Access-Control-Allow-Origin") != "*" || r.hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("answer: %v", r.hdr)
	}
}

// TestPlainOptions: OPTIONS without the preflight headers (not from a
// browser) is answered with the route's methods, never 405.
func TestPlainOptions(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ path, allow string }{
		{"/api/projects", "POST, GET, HEAD, OPTIONS"},
		{"/api/projects/p1", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"/healthz", "GET, HEAD, OPTIONS"},
	} {
		r := e.send("OPTIONS", tt.path, nil)
		if r.code != http.StatusNoContent || r.hdr.Get("Allow") != tt.allow {
			t.Errorf("OPTIONS %s: %d Allow %q, want 204 %q", tt.path, r.code, r.hdr.Get("Allow"), tt.allow)
		}
		if r.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("OPTIONS %s: CORS header without CORS", tt.path)
		}
	}
}

func hasVary(h http.Header, v string) bool {
	for _, x := range h.Values("Vary") {
		if x == v {
			return true
		}
	}
	return false
}
