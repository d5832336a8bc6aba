package test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCORSConsole: the real binary with CORS_ALLOWED_ORIGINS set lets
// Bonsai's console, served from its own origin, through: the preflight of
// its login gets 204 and the Access-Control-Allow-* headers, and the
// login's answer may be read by the page. A page from another origin gets
// 403 and no CORS header, and the Twilio webhook is never covered.
func TestCORSConsole(t *testing.T) {
	const console = "https://console.example.com"
	s := startServer(t, "", map[string]string{"CORS_ALLOWED_ORIGINS": console + ", http://localhost:5173"})

	send := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	preflight := func(origin, method string) map[string]string {
		return map[string]string{"Origin": origin, "Access-Control-Request-Method": method,
			"Access-Control-Request-Headers": "authorization,content-type"}
	}

	for _, path := range []string{"/api/auth/login", "/api/projects", "/version", "/healthz"} {
		resp := send("OPTIONS", path, preflight(console, "POST"))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight %s: status %d, want 204", path, resp.StatusCode)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  console,
			"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
			"Access-Control-Max-Age":       "600",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("preflight %s: %s = %q, want %q", path, k, got, want)
			}
		}
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Errorf("preflight %s: Access-Control-Allow-Credentials = %q", path, v)
		}
	}

	// The actual call: the answer carries the origin.
	resp := send("GET", "/api/setup/status", map[string]string{"Origin": console})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != console {
		t.Fatalf("GET /api/setup/status from the console: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	// Another origin: refused, and nothing that lets the browser through.
	for _, origin := range []string{"https://evil.example", "https://console.example.com:8443", "null"} {
		resp := send("OPTIONS", "/api/auth/login", preflight(origin, "POST"))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("preflight from %s: status %d, want 403", origin, resp.StatusCode)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("preflight from %s: %s = %q", origin, k, resp.Header.Get(k))
			}
		}
		resp = send("GET", "/api/setup/status", map[string]string{"Origin": origin})
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("GET from %s: Access-Control-Allow-Origin = %q", origin, v)
		}
	}

	// The routes that start conversations are called from the console's
	// page (its outgoing-conversation form): covered, preflight and answer.
	for _, path := range []string{"/api/twilio/messaging/send", "/api/twilio/messaging/send/bulk", "/api/twilio/messaging/send/jobs/job_x"} {
		resp := send("OPTIONS", path, preflight(console, "POST"))
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != console {
			t.Fatalf("preflight %s: %d, Access-Control-Allow-Origin %q", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	resp = send("POST", "/api/twilio/messaging/send?apiKey=nope&channelProviderId=x", map[string]string{"Origin": console, "Content-Type": "application/json"})
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != console {
		t.Fatalf("POST send from the console: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if resp := send("OPTIONS", "/api/twilio/messaging/send", preflight("https://evil.example", "POST")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("send preflight from another origin: %d, want 403", resp.StatusCode)
	}

	// The webhook is Twilio's, server to server: no CORS answer.
	resp = send("OPTIONS", "/api/twilio/messaging/webhook", preflight(console, "POST"))
	if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("webhook preflight: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}
