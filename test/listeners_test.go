package test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
