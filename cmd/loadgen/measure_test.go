package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/cmd/loadgen/internal/check"
	"switchboard/cmd/loadgen/internal/report"
)

func TestParseStat(t *testing.T) {
	// The command name holds a space and a parenthesis.
	stat := []byte("4763 (postgres: x)) S 4700 4763 4763 0 -1 4194304 1200 0 0 0 250 75 30 20 20 0 9 0 123 1000 2000")
	got, err := parseStat(stat)
	want := procTimes{pid: 4763, ppid: 4700, comm: "postgres: x)", self: 3.25, children: 0.5, start: 123}
	if err != nil || got != want {
		t.Fatalf("parseStat = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"garbage", "12 (x) S 1 2 3", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

// fakeProc is a /proc fixture: one directory per process with its stat
// line and, optionally, an exe link.
type fakeProc struct {
	t   *testing.T
	dir string
}

func newFakeProc(t *testing.T) *fakeProc {
	return &fakeProc{t: t, dir: t.TempDir()}
}

// set writes process pid's stat: ticks are utime, stime, cutime, cstime.
func (f *fakeProc) set(pid, ppid int, comm string, ticks [4]int, exe string) {
	f.t.Helper()
	f.setStarted(pid, ppid, comm, ticks, exe, 1)
}

// setStarted is set for a process that started at the given tick.
func (f *fakeProc) setStarted(pid, ppid int, comm string, ticks [4]int, exe string, start int) {
	f.t.Helper()
	d := filepath.Join(f.dir, fmt.Sprint(pid))
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	line := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 0 0 0 0 0 %d %d %d %d 20 0 1 0 %d 1 1\n", pid, comm, ppid, pid, pid, ticks[0], ticks[1], ticks[2], ticks[3], start)
	if err := os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if exe != "" {
		_ = os.Remove(filepath.Join(d, "exe"))
		if err := os.Symlink(exe, filepath.Join(d, "exe")); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeProc) remove(pid int) {
	if err := os.RemoveAll(filepath.Join(f.dir, fmt.Sprint(pid))); err != nil {
		f.t.Fatal(err)
	}
}

func TestDBProcsSelection(t *testing.T) {
	p := newFakeProc(t)
	p.set(100, 1, "postgres", [4]int{100, 0, 0, 0}, "")                                    // our postmaster
	p.set(101, 100, "postgres", [4]int{10, 0, 0, 0}, "")                                   // its backend
	p.set(102, 100, "bgworker", [4]int{1, 0, 0, 0}, "/usr/lib/postgresql/16/bin/postgres") // renamed, same binary
	p.set(103, 100, "sh", [4]int{1000, 0, 0, 0}, "/bin/sh")                                // archive_command, say
	p.set(200, 1, "postgres", [4]int{10000, 0, 0, 0}, "")                                  // another cluster
	p.set(300, 1, "switchboard", [4]int{5, 0, 0, 0}, "")
	if err := os.WriteFile(filepath.Join(p.dir, "uptime"), []byte("1 1\n"), 0o644); err != nil {
		t.Fatal(err) // not a process: ignored
	}
	for _, c := range []struct {
		names []string
		root  int
		want  float64 // seconds
		procs int
	}{
		{[]string{"postgres"}, 0, 101.11, 4},        // every postgres on the host
		{[]string{"postgres"}, 100, 1.11, 3},        // ours: by comm or by executable
		{nil, 100, 11.11, 4},                        // the whole tree
		{[]string{"nothing"}, 0, 0, 0},              // nothing matches
		{[]string{"postgres", "sh"}, 100, 11.11, 4}, // several names
	} {
		d := &dbProcs{procRoot: p.dir, names: c.names, root: c.root}
		got, err := d.read()
		if err != nil || len(got.procs) != c.procs || math.Abs(got.seconds()-c.want) > 1e-9 {
			t.Errorf("names %v root %d: read = %+v, %v; want %v s over %d processes", c.names, c.root, got, err, c.want, c.procs)
		}
	}
}

// TestDBCPUWindowCountsExitedAndNewProcesses plays the approximation the
// documentation states: a backend that exits during the window is counted
// through its parent's cutime/cstime, a new one from zero.
func TestDBCPUWindowCountsExitedAndNewProcesses(t *testing.T) {
	p := newFakeProc(t)
	d := &dbProcs{procRoot: p.dir, names: []string{"postgres"}}
	p.set(100, 1, "postgres", [4]int{50, 50, 0, 0}, "")    // postmaster, 1 s so far
	p.set(101, 100, "postgres", [4]int{150, 50, 0, 0}, "") // backend A, 2 s so far
	before, err := d.read()
	if err != nil || before.seconds() != 3 {
		t.Fatalf("before = %+v, %v", before, err)
	}
	// A runs 0.5 s more and exits; the postmaster reaps it (its 2.5 s go to
	// the postmaster's cutime/cstime) and spends 0.1 s itself; backend B
	// starts and runs 0.3 s.
	p.remove(101)
	p.set(100, 1, "postgres", [4]int{55, 55, 200, 50}, "")
	p.set(102, 100, "postgres", [4]int{20, 10, 0, 0}, "")
	after, err := d.read()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.since(before); math.Abs(got-0.9) > 1e-9 || len(after.procs) != 2 {
		t.Fatalf("window = %v s over %d processes, want 0.9 s (0.5 A + 0.1 postmaster + 0.3 B) over 2", got, len(after.procs))
	}
}

// TestDBCPUWindowOtherClusterStops: another PostgreSQL on the host (a
// test's private cluster) stops during the window, and a new process
// reuses a pid of the first reading. The window still holds what ours
// spent; it never shrinks by what the stopped cluster had spent before.
func TestDBCPUWindowOtherClusterStops(t *testing.T) {
	p := newFakeProc(t)
	d := &dbProcs{procRoot: p.dir, names: []string{"postgres"}}
	p.set(100, 1, "postgres", [4]int{100, 0, 0, 0}, "")   // ours: postmaster, 1 s
	p.set(101, 100, "postgres", [4]int{100, 0, 0, 0}, "") // ours: backend, 1 s
	p.set(200, 50, "postgres", [4]int{500, 0, 0, 0}, "")  // theirs: postmaster, 5 s
	p.set(201, 200, "postgres", [4]int{700, 0, 0, 0}, "") // theirs: backend, 7 s
	before, err := d.read()
	if err != nil || before.seconds() != 14 {
		t.Fatalf("before = %+v, %v", before, err)
	}
	// Theirs stops (its parent, a test binary, reaps the postmaster); our
	// backend runs 0.4 s more; a new backend of ours takes pid 201 and runs
	// 0.2 s.
	p.remove(200)
	p.set(101, 100, "postgres", [4]int{140, 0, 0, 0}, "")
	p.setStarted(201, 100, "postgres", [4]int{20, 0, 0, 0}, "", 9)
	after, err := d.read()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.since(before); math.Abs(got-0.6) > 1e-9 {
		t.Fatalf("window = %v s, want 0.6 s (0.4 old backend + 0.2 new one)", got)
	}
}

func TestParseNames(t *testing.T) {
	if got := parseNames(" postgres, ,postmaster,"); !reflect.DeepEqual(got, []string{"postgres", "postmaster"}) {
		t.Fatalf("parseNames = %q", got)
	}
}

// metricsText renders a scrape of a server with the given counters; the
// store counters are left out when store is false (today's build).
func metricsText(store bool, commits, syncs, statements, groupCommits, sessions int) string {
	var b strings.Builder
	if store {
		fmt.Fprintf(&b, "# HELP switchboard_store_commits_total Transactions.\n# TYPE switchboard_store_commits_total counter\nswitchboard_store_commits_total %d\n", commits)
		// Split by a label: the series are summed.
		fmt.Fprintf(&b, "# TYPE switchboard_store_syncs_total counter\nswitchboard_store_syncs_total{file=\"wal\"} %d\nswitchboard_store_syncs_total{file=\"db\"} 1\n", syncs-1)
		fmt.Fprintf(&b, "# TYPE switchboard_store_statements_total counter\nswitchboard_store_statements_total %d\n", statements)
	}
	fmt.Fprintf(&b, "# HELP switchboard_commit_seconds Duration of one group commit.\n# TYPE switchboard_commit_seconds histogram\n"+
		"switchboard_commit_seconds_bucket{le=\"0.001\"} 1\nswitchboard_commit_seconds_bucket{le=\"+Inf\"} %d\n"+
		"switchboard_commit_seconds_sum 0.5\nswitchboard_commit_seconds_count %d\n", groupCommits, groupCommits)
	fmt.Fprintf(&b, "# TYPE switchboard_sessions_active gauge\nswitchboard_sessions_active %d\n", sessions)
	return b.String()
}

func TestStoreStatsPerMessage(t *testing.T) {
	before, err := parseMetrics(strings.NewReader(metricsText(true, 10, 10, 40, 10, 0)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMetrics(strings.NewReader(metricsText(true, 210, 110, 840, 210, 200)))
	if err != nil {
		t.Fatal(err)
	}
	st := storeStats("http://m/metrics", before, after, 200)
	if !st.Reported() || st.Commits.Delta != 200 || st.Commits.PerMessage != 1 || st.Syncs.PerMessage != 0.5 ||
		st.Statements.PerMessage != 4 || st.GroupCommits.PerMessage != 1 || st.Messages != 200 {
		t.Fatalf("storeStats = %+v (commits %+v syncs %+v statements %+v)", st, st.Commits, st.Syncs, st.Statements)
	}
	if got, want := st.Summary(), "1 commits, 0.5 syncs, 4 statements per answered message"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if s := sessionsActive(after); s == nil || *s != 200 {
		t.Errorf("sessionsActive = %v", s)
	}
}

func TestStoreStatsFallBackOnCommitHistogram(t *testing.T) {
	before, _ := parseMetrics(strings.NewReader(metricsText(false, 0, 0, 0, 7, 0)))
	after, _ := parseMetrics(strings.NewReader(metricsText(false, 0, 0, 0, 307, 3)))
	st := storeStats("http://m/metrics", before, after, 400)
	if st.Reported() || st.GroupCommits == nil || st.GroupCommits.Delta != 300 || st.GroupCommits.PerMessage != 0.75 {
		t.Fatalf("storeStats = %+v", st)
	}
	want := "commits, syncs and statements not reported by this server (0.75 group commits per answered message from switchboard_commit_seconds_count)"
	if got := st.Summary(); got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	// Counters the server stops exporting between the scrapes (a restart
	// into another build) are not reported from one side alone.
	withStore, _ := parseMetrics(strings.NewReader(metricsText(true, 5, 5, 5, 7, 0)))
	if st := storeStats("u", withStore, after, 400); st.Reported() {
		t.Errorf("a counter present in one scrape only was reported: %+v", st.Commits)
	}
	if _, err := parseMetrics(strings.NewReader("switchboard_store_commits_total{ 12\n")); err == nil {
		t.Error("malformed exposition parsed")
	}
}

func TestMetricsScrapeSendsToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "metrics: a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, metricsText(true, 3, 2, 9, 3, 1))
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := newMetricsClient(srv.URL, "").scrape(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("scrape without the token: %v, want a 401 error", err)
	}
	fams, err := newMetricsClient(srv.URL, token).scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := metricValue(fams, metricStoreStatements); !ok || v != 9 {
		t.Fatalf("statements = %v, %v", v, ok)
	}
	if newMetricsClient("", token) != nil {
		t.Error("a client without a URL")
	}
}

func TestSpawnedMetricsURL(t *testing.T) {
	for _, c := range []struct {
		printed string
		env     []string
		want    string
	}{
		{"http://127.0.0.1:5/metrics", nil, "http://127.0.0.1:5/metrics"},
		{"", []string{"METRICS_ADDR=off"}, ""},
		{"", []string{"METRICS_ADDR=off", "METRICS_ADDR="}, "http://127.0.0.1:9/metrics"}, // the last one wins, as in the server's environment
		{"", nil, ""},
	} {
		if got := spawnedMetricsURL(c.printed, "http://127.0.0.1:9/", c.env); got != c.want {
			t.Errorf("spawnedMetricsURL(%q, %q) = %q, want %q", c.printed, c.env, got, c.want)
		}
	}
	if got := envValue([]string{"METRICS_TOKEN=a", "X=1", "METRICS_TOKEN=b"}, "METRICS_TOKEN"); got != "b" {
		t.Errorf("envValue = %q", got)
	}
}

func TestIdleAndDBSummaries(t *testing.T) {
	db, rate, sessions := 0.6, 20.0, 100000.0
	idle := &report.IdleStats{Seconds: 30, ServerCPUSeconds: 0.12, ServerCPUMillisPerSecond: idleRate(0.12, 30),
		DBCPUSeconds: &db, DBCPUMillisPerSecond: &rate, SessionsAtStart: &sessions, SessionsAtEnd: &sessions}
	want := "30.0 s: server 4.00 ms CPU per second (0.40% of a core), database 20.00 ms CPU per second; live sessions 100000 at start, 100000 at end"
	if got := idle.Summary(); got != want {
		t.Errorf("idle Summary = %q, want %q", got, want)
	}
	if idleRate(1, 0) != 0 {
		t.Error("idleRate over an empty window")
	}
	d := &report.DBStats{Names: []string{"postgres"}, Root: 573, Procs: 9, CPUSeconds: 0.55, CPUMicrosPerMessage: 550}
	if got, want := d.Summary(), "0.55 s (550 µs per message answered; 9 processes named postgres under pid 573)"; got != want {
		t.Errorf("db Summary = %q, want %q", got, want)
	}
}

// TestSendersStartInAWindow runs 10,000 one-message senders against a
// webhook that answers at once: all are sent, while the live sender
// goroutines stay within the start window instead of reaching 10,000.
func TestSendersStartInAWindow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<Response/>")
	}))
	defer srv.Close()
	cfg := &config{senders: 10_000, messages: 1, concurrency: 16, requestTimeout: 10 * time.Second, burstSize: 1}
	l := &line{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "token", Number: "+15550001000", WebhookQuery: "apiKey=k"}
	f := &fleet{nodes: []*node{{index: 1, url: srv.URL}}}
	f.setLine(l)
	chk := check.New()
	r := newRunner(cfg, f, l, chk, report.NewRecorder(time.Now()))
	r.run(context.Background(), 1, 1)
	if got := r.requests.Load(); got != 10_000 || r.non200.Load() != 0 {
		t.Fatalf("%d requests, %d non-200 (errors %v)", got, r.non200.Load(), r.errs)
	}
	if window := r.startWindow(); window != 4096 {
		t.Fatalf("start window %d, want 4096 at --concurrency 16", window)
	}
	// Senders past the window's release only return, so the peak stays
	// near 4,096; 2×4,096 is still well below the 10,000 senders.
	if peak := r.peakSenders.Load(); peak > 2*4096 || peak == 0 {
		t.Fatalf("peak live senders %d, want at most about the start window 4096", peak)
	}
	if r.liveSenders.Load() != 0 {
		t.Fatalf("%d senders still live after run", r.liveSenders.Load())
	}
}
