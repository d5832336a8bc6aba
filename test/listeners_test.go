package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
)

// getStatus GETs url (with a bearer token unless it is "") and returns the
// status code.
func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	code, _ := getBody(t, url, token)
	return code
}

func getBody(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The security pass read project, provider and session ids from /metrics on
// the public address. By default metrics now live on a separate loopback
// listener; the public address does not serve them.
func TestMetricsNotOnThePublicListenerByDefault(t *testing.T) {
	s := startServer(t, "", nil)
	code, body := getBody(t, s.URL+"/metrics", "")
	if code != 404 || strings.Contains(body, "switchboard_") {
		t.Fatalf("GET /metrics on the public listener: %d %.200s", code, body)
	}
	u, err := url.Parse(s.MetricsURL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/metrics" {
		t.Fatalf("printed metrics URL %q (%v), want one on loopback", s.MetricsURL, err)
	}
	if code, body := getBody(t, s.MetricsURL, ""); code != 200 || !strings.Contains(body, "switchboard_sessions_active") {
		t.Fatalf("GET %s: %d %.200s", s.MetricsURL, code, body)
	}
}

// With METRICS_TOKEN, a scrape needs "Authorization: Bearer <token>"
// (Prometheus: authorization.credentials), on the separate listener too.
func TestMetricsBearerToken(t *testing.T) {
	const token = "metrics-token-0123456789abcdef"
	s := startServer(t, "", map[string]string{"METRICS_TOKEN": token})
	for _, tc := range []struct {
		name, header string
	}{
		{"none", ""},
		{"wrong token", "Bearer metrics-token-0123456789abcdeX"},
		{"token prefix", "Bearer metrics-token"},
		{"token with a suffix", "Bearer " + token + "x"},
		{"basic scheme", "Basic " + token},
		{"bare token", token},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.MetricsURL, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(b), "switchboard_") || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q %.100s, want 401 with a Bearer challenge and no metrics", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
		}
	}
	if code, body := getBody(t, s.MetricsURL, token); code != 200 || !strings.Contains(body, "switchboard_sessions_active") {
		t.Fatalf("with the token: %d %.200s", code, body)
	}
}

// METRICS_ADDR= (empty) serves /metrics beside the webhook, which is only
// allowed with a token; METRICS_ADDR=off serves it nowhere.
func TestMetricsOnMainListenerNeedsToken(t *testing.T) {
	db := "DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "x.db")
	code, _, stderr := run(t, []string{db, "SWITCHBOARD_ADDR=127.0.0.1:0", "METRICS_ADDR=", "METRICS_TOKEN="}, "serve")
	if code != 2 || !strings.Contains(stderr, "METRICS_ADDR") || !strings.Contains(stderr, "METRICS_TOKEN") {
		t.Fatalf("METRICS_ADDR= without a token: exit %d, stderr %q; want exit 2 naming both variables", code, stderr)
	}

	const token = "metrics-token-0123456789abcdef"
	s := startServer(t, "", map[string]string{"METRICS_ADDR": "", "METRICS_TOKEN": token})
	if s.MetricsURL != "" {
		t.Fatalf("printed a separate metrics URL %q", s.MetricsURL)
	}
	if code := getStatus(t, s.URL+"/metrics", ""); code != 401 {
		t.Fatalf("/metrics on the main listener without the token: %d, want 401", code)
	}
	if code := getStatus(t, s.URL+"/metrics", "not-the-metrics-token-at-all"); code != 401 {
		t.Fatalf("/metrics on the main listener with a wrong token: %d, want 401", code)
	}
	if code, body := getBody(t, s.URL+"/metrics", token); code != 200 || !strings.Contains(body, "switchboard_sessions_active") {
		t.Fatalf("/metrics on the main listener with the token: %d %.200s", code, body)
	}

	off := startServer(t, "", map[string]string{"METRICS_ADDR": "off"})
	if off.MetricsURL != "" {
		t.Fatalf("METRICS_ADDR=off printed a metrics URL %q", off.MetricsURL)
	}
	if code := getStatus(t, off.URL+"/metrics", ""); code != 404 {
		t.Fatalf("METRICS_ADDR=off: /metrics on the main listener %d, want 404", code)
	}
}

// rawGet sends a keep-alive GET on c and reads the answer.
func connGet(c net.Conn, r *bufio.Reader, path string) (*http.Response, error) {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: switchboard\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// MAX_CONNECTIONS caps the open connections on the main listener: with N
// held open (idle keep-alive, as a connection flood would), the next
// client is not served until one of them closes.
func TestMaxConnections(t *testing.T) {
	s := startServer(t, "", map[string]string{"MAX_CONNECTIONS": "2"})
	addr := strings.TrimPrefix(s.URL, "http://")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, r := dial()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := connGet(c, r, "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i+1, resp, err)
		}
		held = append(held, c)
	}

	// The third connection is queued by the kernel, but the server does
	// not accept it while two are open: its request stays unanswered.
	third, r3 := dial()
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: switchboard\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := r3.Peek(1); err == nil {
		t.Fatal("a third connection was served while MAX_CONNECTIONS=2 were open")
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("third connection: %v, want no answer yet", err)
	}

	// One closes; the third is served.
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(r3, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v %v", resp, err)
	}
	resp.Body.Close()
}

// dialServer opens a raw connection to s's main listener, closed when the
// test ends; every read and write on it gives up after 20 s.
func dialServer(t *testing.T, s *server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// holdConnections opens n keep-alive connections from 127.0.0.1, sends one
// GET /healthz on each (as a connection flood would) and keeps them open.
func holdConnections(t *testing.T, s *server, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for i := 0; i < n; i++ {
		c, r := dialServer(t, s)
		if resp, err := connGet(c, r, "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i+1, resp, err)
		}
		held = append(held, c)
	}
	return held
}

// One client address could take every MAX_CONNECTIONS slot with idle
// keep-alive connections, and Twilio's webhooks would then wait in the
// kernel's queue until Twilio gave up. MAX_CONNECTIONS_PER_IP closes a
// connection over one address's share at once, and counts it; the
// connections within the share are still served, and a slot is free again
// once one of them closes. A peer in TRUSTED_PROXIES is exempt: everything
// behind a proxy shares its address.
func TestMaxConnectionsPerIP(t *testing.T) {
	s := startServer(t, "", map[string]string{"MAX_CONNECTIONS_PER_IP": "2"})
	held := holdConnections(t, s, 2)

	c, r := dialServer(t, s)
	resp, err := connGet(c, r, "/healthz")
	if err == nil {
		t.Fatalf("a third connection from 127.0.0.1 was served (%d) with MAX_CONNECTIONS_PER_IP=2", resp.StatusCode)
	}
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the third connection was left waiting, not closed: %v", err)
	}
	for i, c := range held {
		if resp, err := connGet(c, bufio.NewReader(c), "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection %d after the refusal: %v %v", i+1, resp, err)
		}
	}
	if got := scrape(t, s.MetricsURL)[`switchboard_connections_refused_total{reason="per_ip"}`]; got != 1 {
		t.Fatalf(`switchboard_connections_refused_total{reason="per_ip"} = %v, want 1`, got)
	}

	// A closed connection gives its slot back (the server notices the
	// close asynchronously: poll).
	held[0].Close()
	testutil.CheckFor(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := connGet(c, bufio.NewReader(c), "/healthz")
		if err != nil {
			return fmt.Errorf("new connection after one closed: %w", err)
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("new connection after one closed: %d", resp.StatusCode)
		}
		return nil
	})

	proxied := startServer(t, "", map[string]string{"MAX_CONNECTIONS_PER_IP": "2", "TRUSTED_PROXIES": "127.0.0.1"})
	holdConnections(t, proxied, 3)
	if got := scrape(t, proxied.MetricsURL)[`switchboard_connections_refused_total{reason="per_ip"}`]; got != 0 {
		t.Fatalf("behind a trusted proxy: %v connections refused, want 0", got)
	}
}

// The documented proxy setup without TRUSTED_PROXIES makes every client
// share the proxy's address (login throttling, the webhook's failure
// limit). Forwarded requests from a private or loopback peer that is not
// trusted are counted, and the first of them logs a warning that names
// TRUSTED_PROXIES (then at most one an hour); from a trusted peer, nothing.
func TestUntrustedForwardedWarning(t *testing.T) {
	const warning = "not in TRUSTED_PROXIES"
	forwarded := func(s *server) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /healthz with X-Forwarded-For: %d", resp.StatusCode)
		}
	}

	s := startServer(t, "", nil)
	getStatus(t, s.URL+"/healthz", "") // no X-Forwarded-For: not counted
	forwarded(s)
	forwarded(s)
	if got := scrape(t, s.MetricsURL)["switchboard_untrusted_forwarded_requests_total"]; got != 2 {
		t.Fatalf("switchboard_untrusted_forwarded_requests_total = %v, want 2", got)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if !strings.Contains(s.logs.String(), warning) {
			return errors.New("no warning naming TRUSTED_PROXIES was logged")
		}
		return nil
	})
	var lines []string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, warning) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "127.0.0.1") {
		t.Fatalf("want one warning naming the peer, got %q", lines)
	}

	trusted := startServer(t, "", map[string]string{"TRUSTED_PROXIES": "127.0.0.1"})
	forwarded(trusted)
	if got := scrape(t, trusted.MetricsURL)["switchboard_untrusted_forwarded_requests_total"]; got != 0 {
		t.Fatalf("from a trusted proxy: switchboard_untrusted_forwarded_requests_total = %v, want 0", got)
	}
	if strings.Contains(trusted.logs.String(), warning) {
		t.Fatalf("warned about a trusted proxy: %s", trusted.logs.String())
	}
}
