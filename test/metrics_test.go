package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// scrape returns the samples of a /metrics page: "name{labels}" → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return samples(resp.Body)
}

// samples reads a /metrics page: "name{labels}" → value.
func samples(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

func count(m map[string]float64, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	// A generous sync wait makes the flush count below exact on a loaded
	// machine: every message's turn shares its message's flush.
	s := startServer(t, "", map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "1500", "WEBHOOK_FAILURE_RATE_LIMIT": "1000",
		"COMMIT_SYNC_WAIT_US": "100000"})
	l := setupLine(t, s, sim, lineOptions{})
	before := scrape(t, s.MetricsURL)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "switchboard_sessions_active"} {
		if _, ok := before[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	for i := 0; i < 3; i++ {
		l.mustText(t, fmt.Sprintf("+1555600000%d", i), "hi")
	}
	if code, _ := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, "+15556000009", l.Number, "x", twiliosim.NewMessageSID()), http.Header{"X-Twilio-Signature": {"forged"}}); code != 403 {
		t.Fatalf("forged webhook: %d", code)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if sim.Count() != 3 {
			return fmt.Errorf("%d replies", sim.Count())
		}
		return nil
	})
	var after map[string]float64
	testutil.CheckFor(t, 10*time.Second, func() error {
		after = scrape(t, s.MetricsURL)
		if after[`switchboard_outbound_sends_total{error_code="0",result="sent"}`] != 3 {
			return fmt.Errorf("sends %v", after[`switchboard_outbound_sends_total{error_code="0",result="sent"}`])
		}
		return nil
	})
	checks := map[string]float64{
		`switchboard_webhooks_total{outcome="accepted"}`:                  3,
		`switchboard_webhooks_total{outcome="bad_signature"}`:             1,
		`switchboard_webhook_signature_failures_total{reason="mismatch"}`: 1,
		`switchboard_sessions_created_total`:                              3,
		`switchboard_sessions_active`:                                     3,
		`switchboard_turns_total{provider_type="scripted"}`:               3,
		`switchboard_webhook_to_reply_seconds_count`:                      3,
		`switchboard_llm_latency_seconds_count{provider_type="scripted"}`: 3,
		`switchboard_session_series_exported`:                             3,
	}
	for k, want := range checks {
		if got := after[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	// Three inbound messages and three turns went through the group
	// committer, in at most that many transactions.
	if n, items := after["switchboard_commit_seconds_count"], after["switchboard_commit_batch_items_sum"]; n < 1 || items < 6 || n > items {
		t.Errorf("group commits: %v transactions carrying %v writes, want ≥ 1 carrying ≥ 6", n, items)
	}
	// At most one fsync per answered message (issue 12): a message and its
	// turn share one flush, the send result rides a later commit.
	if syncs := after["switchboard_store_syncs_total"] - before["switchboard_store_syncs_total"]; syncs < 1 || syncs > 3 {
		t.Errorf("%v durable flushes for 3 answered messages, want 1 to 3", syncs)
	}
	if st := after["switchboard_store_statements_total"] - before["switchboard_store_statements_total"]; st < 3 {
		t.Errorf("%v statements counted for 3 answered messages", st)
	}
	// Every series the Grafana dashboard queries exists (but those a
	// scripted line never counts: errors, opt-outs, retries, LLM tokens).
	dash, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(dash) {
		t.Fatal("dashboard is not valid JSON")
	}
	for _, name := range regexp.MustCompile(`switchboard_[a-z_]+`).FindAllString(string(dash), -1) {
		if strings.HasPrefix(name, "switchboard_cluster_") {
			continue // a single node serves none: TestClusterKillNode checks them
		}
		if count(after, name) == 0 && name != "switchboard_sessions_expired_total" && name != "switchboard_session_lifetime_seconds_bucket" &&
			name != "switchboard_llm_errors_total" && name != "switchboard_llm_tokens_total" && name != "switchboard_opt_outs_total" && name != "switchboard_outbound_retries_total" {
			t.Errorf("dashboard queries %s, which /metrics does not serve", name)
		}
	}
	if n := count(after, "switchboard_session_messages_in{"); n != 3 {
		t.Fatalf("%d per-session series, want 3", n)
	}
	if page := fmt.Sprint(after); strings.Contains(page, "+1555600000") || strings.Contains(page, "5556000") {
		t.Fatal("a phone number appears in the metrics")
	}
	// After expiry the per-session series vanish.
	testutil.CheckFor(t, 10*time.Second, func() error {
		m := scrape(t, s.MetricsURL)
		if n := count(m, "switchboard_session_messages_in{"); n != 0 {
			return fmt.Errorf("%d per-session series remain", n)
		}
		if m["switchboard_sessions_expired_total"] != 3 || m["switchboard_sessions_active"] != 0 {
			return fmt.Errorf("expired %v active %v", m["switchboard_sessions_expired_total"], m["switchboard_sessions_active"])
		}
		if m["switchboard_session_lifetime_seconds_count"] != 3 {
			return fmt.Errorf("lifetimes %v", m["switchboard_session_lifetime_seconds_count"])
		}
		return nil
	})
}

func TestMetricsSessionCapAndSeparateListener(t *testing.T) {
	// METRICS_ADDR=127.0.0.1:0 (the harness's): a port picked in advance
	// could be taken by the server's own main listener, opened first.
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"METRICS_SESSION_SERIES_MAX": "5"})
	if s.MetricsURL == "" || strings.HasPrefix(s.MetricsURL, s.URL) {
		t.Fatalf("printed metrics URL %q, want a separate listener (main %s)", s.MetricsURL, s.URL)
	}
	l := setupLine(t, s, sim, lineOptions{})
	for i := 0; i < 12; i++ {
		l.mustText(t, fmt.Sprintf("+155570000%02d", i), "hi")
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if sim.Count() != 12 {
			return fmt.Errorf("%d replies", sim.Count())
		}
		return nil
	})
	m := scrape(t, s.MetricsURL)
	if n := count(m, "switchboard_session_turns{"); n != 5 {
		t.Fatalf("%d per-session series, want the cap of 5", n)
	}
	if m["switchboard_sessions_active"] != 12 {
		t.Fatalf("sessions_active %v", m["switchboard_sessions_active"])
	}
	if code := getStatus(t, s.URL+"/metrics", ""); code != 404 {
		t.Fatalf("/metrics on the main listener with METRICS_ADDR set: %d, want 404", code)
	}
}
