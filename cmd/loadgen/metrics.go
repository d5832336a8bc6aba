package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/cmd/loadgen/internal/report"
)

// The server's metrics loadgen reads.
const (
	// The store counters of issue 12: transactions the hot path committed,
	// fsyncs (durable flushes), and SQL write statements in those
	// transactions.
	metricStoreCommits    = "switchboard_store_commits_total"
	metricStoreSyncs      = "switchboard_store_syncs_total"
	metricStoreStatements = "switchboard_store_statements_total"
	// metricCommitSeconds is the group-commit latency histogram of builds
	// that predate the store counters; its count is commits.
	metricCommitSeconds = "switchboard_commit_seconds"
	// metricSessionsActive is the gauge of live session actors.
	metricSessionsActive = "switchboard_sessions_active"
)

// maxMetricsBytes bounds one scrape's answer (per-session series are capped
// by the server's METRICS_SESSION_SERIES_MAX, so a scrape is far smaller).
const maxMetricsBytes = 64 << 20

// metricsClient scrapes the server's /metrics.
type metricsClient struct {
	url   string
	token string // bearer token (METRICS_TOKEN), "" = none
	http  *http.Client
}

// newMetricsClient returns a client for url; nil when url is empty.
func newMetricsClient(url, token string) *metricsClient {
	if url == "" {
		return nil
	}
	return &metricsClient{url: url, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// scrape reads every metric family the server exports.
func (m *metricsClient) scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	// The classic text format, whatever else the server could negotiate.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if m.token != "" {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("loadgen: metrics: %s answered %d %s", m.url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return parseMetrics(io.LimitReader(resp.Body, maxMetricsBytes))
}

// parseMetrics parses the Prometheus text exposition format.
func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("loadgen: metrics: %w", err)
	}
	return fams, nil
}

// metricValue is the family's value summed over its series (labels): a
// counter's, gauge's or untyped value, a histogram's or summary's count.
// ok is false when the server does not export the family.
func metricValue(fams map[string]*dto.MetricFamily, name string) (v float64, ok bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		case m.Summary != nil:
			v += float64(m.Summary.GetSampleCount())
		}
	}
	return v, true
}

// storeStats computes the store counters' growth between two scrapes, per
// answered message. A counter is reported only when both scrapes have it.
func storeStats(url string, before, after map[string]*dto.MetricFamily, answered int64) *report.StoreStats {
	st := &report.StoreStats{MetricsURL: url, Messages: answered}
	counter := func(name string) *report.Counter {
		v0, ok0 := metricValue(before, name)
		v1, ok1 := metricValue(after, name)
		if !ok0 || !ok1 {
			return nil
		}
		c := &report.Counter{Metric: name, Delta: v1 - v0}
		if answered > 0 {
			c.PerMessage = c.Delta / float64(answered)
		}
		return c
	}
	st.Commits = counter(metricStoreCommits)
	st.Syncs = counter(metricStoreSyncs)
	st.Statements = counter(metricStoreStatements)
	st.GroupCommits = counter(metricCommitSeconds)
	return st
}

// sessionsActive returns the live sessions a scrape reports (nil when it
// does not).
func sessionsActive(fams map[string]*dto.MetricFamily) *float64 {
	v, ok := metricValue(fams, metricSessionsActive)
	if !ok {
		return nil
	}
	return &v
}

// spawnedMetricsURL is where a server loadgen spawned serves /metrics:
// printed reports the URL from its start-up output ("" when it printed
// none); env is the environment it was given (the last value of a key
// wins). METRICS_ADDR empty serves /metrics on the main listener.
func spawnedMetricsURL(printed, serverURL string, env []string) string {
	if printed != "" {
		return printed
	}
	addr, set := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "METRICS_ADDR="); ok {
			addr, set = v, true
		}
	}
	if set && strings.TrimSpace(addr) == "" {
		return strings.TrimRight(serverURL, "/") + "/metrics"
	}
	return ""
}

// envValue returns the last value of key in env ("" when absent).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, key+"="); ok {
			v = rest
		}
	}
	return v
}
