package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"switchboard/cmd/loadgen/internal/check"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// sample builds a report from 1000 acks of 1..1000 µs and 100 replies of
// 1..100 ms, spread over three seconds.
func sample(t *testing.T) *Report {
	t.Helper()
	rec := NewRecorder(t0)
	for i := 1; i <= 1000; i++ {
		at := t0.Add(time.Duration(i%3) * time.Second)
		rec.Sent(at)
		rec.Ack(at, time.Duration(i)*time.Microsecond)
	}
	for i := 1; i <= 100; i++ {
		rec.Reply(t0.Add(2*time.Second+time.Duration(i)*time.Millisecond), time.Duration(i)*time.Millisecond)
	}
	c := check.New()
	c.Sent("+1", "a-0", 0, t0)
	c.Delivered("a-0", 200)
	r := &Report{Tool: "loadgen", StartedAt: t0, Command: []string{"loadgen", "--senders", "1"},
		ServerURL: "http://127.0.0.1:1", StatusCodes: map[string]int64{"200": 1000},
		Check: c.Finish(), Config: map[string]string{"senders": "1"},
		Server: &ServerStats{PID: 42, PeakRSSBytes: 64 << 20, CPUSeconds: 1.5, CPUMicrosPerMessage: 1500,
			Samples: []ProcSample{{0, 10 << 20, 0}, {0.5, 20 << 20, 0.25}, {1, 30 << 20, 0.75}}}}
	rec.Fill(r)
	return r
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

func TestRecorderPercentiles(t *testing.T) {
	r := sample(t)
	if r.Ack.Count != 1000 || r.Reply.Count != 100 {
		t.Fatalf("counts = %d, %d", r.Ack.Count, r.Reply.Count)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ack p50", r.Ack.P50Ms, 0.5},
		{"ack p99", r.Ack.P99Ms, 0.99},
		{"ack max", r.Ack.MaxMs, 1.0},
		{"ack min", r.Ack.MinMs, 0.001},
		{"reply p50", r.Reply.P50Ms, 50},
		{"reply p90", r.Reply.P90Ms, 90},
		{"reply max", r.Reply.MaxMs, 100},
	} {
		if !near(c.got, c.want, 0.01) {
			t.Errorf("%s = %v, want ≈ %v", c.name, c.got, c.want)
		}
	}
	if len(r.Ack.Percentiles) != len(percentiles) || r.Ack.Percentiles[len(percentiles)-1].Ms != r.Ack.MaxMs {
		t.Errorf("percentile points = %+v", r.Ack.Percentiles)
	}
}

func TestHistogramBinsCoverAllSamples(t *testing.T) {
	r := sample(t)
	for _, l := range []Latency{r.Ack, r.Reply} {
		var sum int64
		for i, b := range l.Histogram {
			sum += b.Count
			if b.ToMs <= b.FromMs {
				t.Errorf("bin %d = %+v", i, b)
			}
			if i > 0 && !near(b.FromMs, l.Histogram[i-1].ToMs, 0.01) {
				t.Errorf("bins %d and %d are not contiguous: %+v %+v", i-1, i, l.Histogram[i-1], b)
			}
		}
		if sum != l.Count {
			t.Errorf("bins hold %d samples, want %d", sum, l.Count)
		}
		if len(l.Histogram) == 0 || l.Histogram[0].FromMs > l.MinMs || l.Histogram[len(l.Histogram)-1].ToMs*1.001 < l.MaxMs {
			t.Errorf("bins %+v do not span [%v, %v]", l.Histogram, l.MinMs, l.MaxMs)
		}
	}
}

func TestSeries(t *testing.T) {
	r := sample(t)
	if len(r.Series) != 3 {
		t.Fatalf("series has %d points, want 3", len(r.Series))
	}
	var sent, replied int64
	for _, p := range r.Series {
		sent += p.Sent
		replied += p.Replied
	}
	if sent != 1000 || replied != 100 {
		t.Fatalf("series sums: sent %d, replied %d", sent, replied)
	}
	if r.Series[2].ReplyP99Ms < 90 || r.Series[0].ReplyP99Ms != 0 {
		t.Fatalf("reply p99 by second: %v, %v", r.Series[0].ReplyP99Ms, r.Series[2].ReplyP99Ms)
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	r := sample(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ack.P99Ms != r.Ack.P99Ms || len(back.Series) != 3 || back.Server.PID != 42 || len(back.Check.Invariants) != 5 {
		t.Fatalf("round trip lost data: %+v", back)
	}
	for _, key := range []string{`"ack"`, `"reply"`, `"p999Ms"`, `"series"`, `"invariants"`, `"cpuMicrosPerMessage"`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	r := sample(t)
	var buf bytes.Buffer
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ack latency", "p99.9", "reply latency", "server peak RSS", "64.0 MiB", "1500 µs per message",
		"every accepted message answered: FAILED (1)", "replies in per-sender order: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := WriteFailures(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "INVARIANT BROKEN: every accepted message answered") || !strings.Contains(buf.String(), "a-0") {
		t.Errorf("failures = %q", buf.String())
	}
}

func TestWriteHTMLSelfContained(t *testing.T) {
	r := sample(t)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "<svg"); n != 7 {
		t.Errorf("HTML has %d charts, want 7 (6 + server)", n)
	}
	if strings.Count(out, "<svg") != strings.Count(out, "</svg>") {
		t.Error("unbalanced svg elements")
	}
	for _, bad := range []string{"<script src", "<link", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML references an external asset: %q", bad)
		}
	}
	for _, want := range []string{"Acknowledgement latency over time", "Webhook-to-reply latency histogram", "every accepted message answered", "invariants broken", "--senders 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestEmptyReportRenders(t *testing.T) {
	r := &Report{StartedAt: t0}
	NewRecorder(t0).Fill(r)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "NaN") {
		t.Error("empty report draws NaN coordinates")
	}
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ span, want float64 }{{10, 2}, {100, 20}, {7, 2}, {0.3, 0.1}, {0, 1}} {
		if got := niceStep(c.span, 5); !near(got, c.want, 1e-9) && got != c.want {
			t.Errorf("niceStep(%v) = %v, want %v", c.span, got, c.want)
		}
	}
}

// A steady 100 replies/s run that ends inside its last second: the
// throughput chart stays at 100/s to the end instead of dropping to the
// partial second's count, and a final sliver too short to be a rate is
// left out. The JSON keeps the raw counts and says what each covers.
func TestThroughputLastPartialSecond(t *testing.T) {
	for _, c := range []struct {
		end       time.Duration
		points    int
		lastSpan  float64
		lastCount int64
	}{
		{2500 * time.Millisecond, 3, 0.495, 50}, // scaled
		{2100 * time.Millisecond, 2, 0.095, 10}, // dropped from the chart
	} {
		rec := NewRecorder(t0)
		// Every 10 ms, mid-slot: the last event is 5 ms before c.end.
		for at := 5 * time.Millisecond; at < c.end; at += 10 * time.Millisecond {
			rec.Reply(t0.Add(at), time.Millisecond)
		}
		r := &Report{}
		rec.Fill(r)
		last := r.Series[len(r.Series)-1]
		if len(r.Series) != 3 || last.Replied != c.lastCount || math.Abs(last.Span-c.lastSpan) > 1e-9 || r.Series[0].Span != 1 {
			t.Fatalf("end %v: series %+v", c.end, r.Series)
		}
		n, ss := throughput(r.Series)
		if n != c.points {
			t.Fatalf("end %v: chart has %d seconds, want %d", c.end, n, c.points)
		}
		for i, y := range ss[2].Y { // replies
			if math.Abs(y-100) > 2 {
				t.Errorf("end %v: replies/s at second %d = %v, want 100", c.end, i, y)
			}
		}
	}
}

// TestMeasuresRender shows the store, database and idle figures in the
// summary, the HTML and the JSON when measured, and nowhere when not.
func TestMeasuresRender(t *testing.T) {
	r := sample(t)
	db, rate, sessions := 0.3, 2.5, 100000.0
	r.Store = &StoreStats{MetricsURL: "http://127.0.0.1:9/metrics", Messages: 100,
		Commits: &Counter{Metric: "switchboard_store_commits_total", Delta: 100, PerMessage: 1}}
	r.DB = &DBStats{Names: []string{"postgres"}, Procs: 7, CPUSeconds: 0.05, CPUMicrosPerMessage: 500}
	r.Idle = &IdleStats{Seconds: 30, ServerCPUSeconds: 0.3, ServerCPUMillisPerSecond: 10, DBCPUSeconds: &db,
		DBCPUMillisPerSecond: &rate, SessionsAtStart: &sessions, SessionsAtEnd: &sessions}
	var text, html, js bytes.Buffer
	if err := WriteSummary(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	store := "1 commits, syncs not reported, statements not reported per answered message"
	for _, want := range []string{store, "500 µs per message answered; 7 processes named postgres",
		"server 10.00 ms CPU per second (1.00% of a core), database 2.50 ms CPU per second; live sessions 100000 at start"} {
		if !strings.Contains(text.String(), want) || !strings.Contains(html.String(), want) {
			t.Errorf("summary or HTML lacks %q:\n%s", want, text.String())
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Store.Commits.PerMessage != 1 || back.Store.Syncs != nil || back.DB.Procs != 7 || *back.Idle.SessionsAtEnd != sessions {
		t.Fatalf("round trip: store %+v, db %+v, idle %+v", back.Store, back.DB, back.Idle)
	}
	plain := sample(t)
	text.Reset()
	if err := WriteSummary(&text, plain); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"\nstore ", "\ndb CPU ", "\nidle "} {
		if strings.Contains(text.String(), absent) {
			t.Errorf("unmeasured %q shown:\n%s", absent, text.String())
		}
	}
}
