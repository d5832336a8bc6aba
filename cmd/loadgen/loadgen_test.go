package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/cmd/loadgen/internal/check"
	"switchboard/cmd/loadgen/internal/report"
	"switchboard/internal/opapi"
	"switchboard/internal/testutil"
)

// serverBin is the switchboard binary built once for the end-to-end tests.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loadgen-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "switchboard")
	build := exec.Command("go", "build", "-o", serverBin, "switchboard/cmd/switchboard")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build switchboard:", err)
		os.Exit(1)
	}
	code := m.Run()
	testutil.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runLoadgen runs the program in-process with a generous deadline and
// returns its exit code and output.
func runLoadgen(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func readReport(t *testing.T, path string) report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	return r
}

func TestSpawnedRunKeepsInvariants(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runLoadgen(t, "--spawn", "--server-bin", serverBin,
		"--senders", "20", "--messages", "5", "--concurrency", "16",
		"--duplicate-share", "0.2", "--whatsapp-share", "0.25", "--burst-share", "0.3", "--burst-size", "2",
		"--fault-429", "0.1", "--callbacks", "--seed", "7",
		"--server-env", "TWILIO_MESSAGING_SESSION_TIMEOUT_MS=600000",
		"--json", jsonPath, "--html", htmlPath, "--no-progress")
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readReport(t, jsonPath)
	if !r.OK || r.Check.Messages != 100 || r.Check.Accepted != 100 || r.Check.Answered != 100 || r.Check.Replies != 100 {
		t.Fatalf("check = %+v", r.Check)
	}
	if r.Duplicates == 0 || r.Check.Replayed == 0 || r.Requests != 100+r.Duplicates {
		t.Fatalf("requests %d, duplicates %d, replayed %d", r.Requests, r.Duplicates, r.Check.Replayed)
	}
	if r.Non200 != 0 || r.StatusCodes["200"] != r.Requests {
		t.Fatalf("status codes %v, non-200 %d, errors %v", r.StatusCodes, r.Non200, r.Errors)
	}
	if r.Sim.Messages != 100 || r.Sim.InjectedFaults == 0 {
		t.Fatalf("sim = %+v (want 100 sends and some injected 429s)", r.Sim)
	}
	if r.Ack.Count != r.Requests || r.Reply.Count != 100 || r.Reply.P50Ms <= 0 || r.Reply.MaxMs < r.Reply.P99Ms || r.Ack.P99Ms <= 0 {
		t.Fatalf("latencies: ack %+v, reply %+v", r.Ack, r.Reply)
	}
	if r.LoadgenCPUSeconds <= 0 || r.LoadgenCPUMicrosPerMessage != r.LoadgenCPUSeconds*1e6/100 {
		t.Fatalf("loadgen CPU %v s, %v µs per message", r.LoadgenCPUSeconds, r.LoadgenCPUMicrosPerMessage)
	}
	var sent int64
	for _, p := range r.Series {
		sent += p.Sent
	}
	if sent != r.Requests {
		t.Fatalf("series counts %d deliveries, want %d", sent, r.Requests)
	}
	if r.Server == nil || r.Server.PeakRSSBytes <= 0 || r.Server.CPUSeconds <= 0 || r.Server.CPUMicrosPerMessage <= 0 {
		t.Fatalf("server stats = %+v", r.Server)
	}
	if len(r.Check.Invariants) != 5 {
		t.Fatalf("invariants = %+v", r.Check.Invariants)
	}
	for _, want := range []string{"reply latency", "p99.9", "server peak RSS", "replies in per-sender order: ok",
		"JSON report: " + jsonPath + "\n", "HTML report: " + htmlPath + "\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("all invariants hold")) {
		t.Fatalf("HTML report lacks charts or verdict")
	}
}

// TestBrokenInvariantExitsOne points loadgen at a stage whose replies do
// not echo the text, so no accepted message is ever answered as expected.
func TestBrokenInvariantExitsOne(t *testing.T) {
	srv, err := spawnServer(serverBin, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.stop(30 * time.Second) })
	ctx := context.Background()
	api := &opapi.Client{Base: srv.URL, HTTP: srvClient()}
	if err := login(ctx, api, "admin", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	var rec struct{ ID string }
	if err := api.Do(ctx, "POST", "/api/projects", map[string]any{"name": "p"}, &rec, 201); err != nil {
		t.Fatal(err)
	}
	project := rec.ID
	if err := api.Do(ctx, "POST", "/api/providers", map[string]any{"name": "wrong", "providerType": "llm", "apiType": "scripted",
		"config": map[string]any{"defaultReply": "R{{.Turn}}: not {{.Text}}"}}, &rec, 201); err != nil {
		t.Fatal(err)
	}
	if err := api.Do(ctx, "POST", "/api/projects/"+project+"/stages", map[string]any{"name": "s", "prompt": "x", "llmProviderId": rec.ID,
		"llmSettings": map[string]any{"model": "m"}}, &rec, 201); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	if srv.MetricsURL == "" {
		t.Fatal("the spawned server's metrics URL was not picked up from its output")
	}
	code, stdout, stderr := runLoadgen(t, "--server", srv.URL, "--project", project, "--stage", rec.ID,
		"--senders", "3", "--messages", "2", "--drain-timeout", "2s", "--settle", "0", "--json", jsonPath, "--quiet",
		"--metrics-url", srv.MetricsURL)
	if code != exitInvariant {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitInvariant, stdout, stderr)
	}
	if stdout != "" {
		t.Errorf("--quiet printed a summary:\n%s", stdout)
	}
	for _, want := range []string{"INVARIANT BROKEN: " + check.InvAnswered, "INVARIANT BROKEN: " + check.InvNothingExtra, "not 0-0"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	r := readReport(t, jsonPath)
	if r.OK || r.Check.Accepted != 6 || r.Check.Answered != 0 {
		t.Fatalf("check = %+v", r.Check)
	}
	// --metrics-url scrapes a server loadgen did not spawn; nothing was
	// answered, so there is nothing per message.
	if r.Store == nil || r.Store.MetricsURL != srv.MetricsURL || r.Store.Messages != 0 || !r.Store.Reported() && r.Store.GroupCommits == nil {
		t.Fatalf("store = %+v", r.Store)
	}
}

// TestSpawnedRunMeasuresStoreAndIdle proves the store counters are read
// from the spawned server's metrics listener (found from its output) and
// the idle window is measured with the sessions still live.
func TestSpawnedRunMeasuresStoreAndIdle(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runLoadgen(t, "--spawn", "--server-bin", serverBin, "--senders", "5", "--messages", "4",
		"--idle-measure", "1s", "--json", jsonPath, "--no-progress")
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readReport(t, jsonPath)
	st := r.Store
	if st == nil || !strings.HasPrefix(st.MetricsURL, "http://127.0.0.1:") || !strings.HasSuffix(st.MetricsURL, "/metrics") || st.Messages != 20 {
		t.Fatalf("store = %+v", st)
	}
	if st.Reported() {
		// A build with the store counters: every answered message was
		// committed at least once.
		if st.Commits == nil || st.Commits.Delta < 1 || st.Commits.PerMessage != st.Commits.Delta/20 || st.Statements == nil || st.Statements.Delta < st.Commits.Delta {
			t.Fatalf("store counters: commits %+v, statements %+v", st.Commits, st.Statements)
		}
	} else if st.GroupCommits == nil || st.GroupCommits.Delta < 1 || st.GroupCommits.PerMessage != st.GroupCommits.Delta/20 {
		t.Fatalf("group commits = %+v", st.GroupCommits)
	}
	idle := r.Idle
	if idle == nil || idle.Seconds < 1 || idle.SessionsAtStart == nil || *idle.SessionsAtStart != 5 || idle.SessionsAtEnd == nil || *idle.SessionsAtEnd != 5 ||
		idle.ServerCPUMillisPerSecond != idle.ServerCPUSeconds*1000/idle.Seconds || idle.DBCPUSeconds != nil {
		t.Fatalf("idle = %+v", idle)
	}
	if r.LoadgenPeakRSSBytes <= 0 {
		t.Errorf("loadgen peak RSS %d", r.LoadgenPeakRSSBytes)
	}
	for _, want := range []string{"\nstore ", " per answered message", "\nidle ", "live sessions 5 at start, 5 at end"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

// localPostmaster returns the pid of the PostgreSQL server this test
// binary started (0 when it uses one it did not start).
func localPostmaster(t *testing.T) int {
	all, err := allProcs("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.comm == "postgres" && p.ppid == os.Getpid() {
			return p.pid
		}
	}
	return 0
}

// TestPostgresRunMeasuresDatabaseCPU runs the server on PostgreSQL and
// proves the database's own CPU is reported, per message and idle.
func TestPostgresRunMeasuresDatabaseCPU(t *testing.T) {
	url := testutil.PostgresURL(t)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	// 500 messages: some 50 ms of PostgreSQL's CPU, several of /proc's
	// 10 ms ticks.
	args := []string{"--spawn", "--server-bin", serverBin, "--senders", "20", "--messages", "25",
		"--server-env", "DATABASE_URL=" + url, "--server-env", "ALLOW_PLAINTEXT_SECRETS=true",
		"--db-cpu-procs", "postgres", "--idle-measure", "1s", "--json", jsonPath, "--no-progress"}
	if root := localPostmaster(t); root > 0 {
		// Only this test's cluster, not another one on the host.
		args = append(args, "--db-cpu-root", strconv.Itoa(root))
	}
	code, stdout, stderr := runLoadgen(t, args...)
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readReport(t, jsonPath)
	if r.DB == nil {
		t.Fatalf("no db stats; notes %q", r.Notes)
	}
	if r.DB.Procs == 0 {
		t.Skipf("PostgreSQL at %s runs on another host: its processes cannot be read here", url)
	}
	t.Logf("db CPU: %s", r.DB.Summary())
	if r.DB.CPUSeconds <= 0 || r.DB.CPUMicrosPerMessage != r.DB.CPUSeconds*1e6/500 || r.DB.Names[0] != "postgres" {
		t.Fatalf("db = %+v", r.DB)
	}
	if r.Idle == nil || r.Idle.DBCPUSeconds == nil || r.Idle.DBCPUMillisPerSecond == nil || *r.Idle.DBCPUSeconds < 0 {
		t.Fatalf("idle = %+v", r.Idle)
	}
	if r.Store == nil || !r.Store.Reported() && (r.Store.GroupCommits == nil || r.Store.GroupCommits.Delta < 1) {
		t.Fatalf("store = %+v", r.Store)
	}
	if !strings.Contains(stdout, "\ndb CPU ") || !strings.Contains(stdout, "database ") {
		t.Errorf("summary lacks the database's CPU:\n%s", stdout)
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"--senders", "0"},
		{"--messages", "0"},
		{"--duplicate-share", "1.5"},
		{"--spawn"},
		{"--provider", "p1"},
		{"--server-env", "NOEQUALS"},
		{"--stage", "stag_x"},
		{"stray"},
		{"--idle-measure", "1s"}, // neither --spawn nor --server-pid
		{"--spawn", "--server-bin", "x", "--idle-measure", "-1s"},
		{"--metrics-url", "127.0.0.1:9464"},
		{"--db-cpu-root", "-1"},
		{"--db-cpu-procs", " , "},
		{"--server", "127.0.0.1:3000"},
		{"--server", "http://a:1,ftp://b"},
		{"--server", " , "},
		{"--server", "http://a:1,http://b:2", "--server-pid", "1"},
		{"--server", "http://a:1,http://b:2", "--metrics-url", "http://a:9/metrics"},
		{"--server-pid", "12x"},
		{"--nodes", "0"},
		{"--nodes", "2"}, // without --spawn
		{"--spawn", "--server-bin", "x", "--nodes", "2", "--server-env", "DATABASE_URL=sqlite:/tmp/x.db"},
		{"--spawn", "--server-bin", "x", "--nodes", "2", "--metrics-url", "http://a:9/metrics"},
		{"--public-url", "sms.example.com"},
		{"--public-url", "https://sms.example.com/?x=1"},
		{"--spawn", "--server-bin", "x", "--public-url", "https://a.example", "--server-env", "PUBLIC_BASE_URL=https://b.example"},
		{"--spawn", "--server-bin", "x", "--nodes", "2", "--kill-node", "1"},                       // no --kill-after
		{"--spawn", "--server-bin", "x", "--nodes", "2", "--kill-node", "3", "--kill-after", "1s"}, // no node 3
		{"--spawn", "--server-bin", "x", "--kill-node", "1", "--kill-after", "1s"},                 // one node
		{"--server", "http://a:1,http://b:2", "--kill-node", "1", "--kill-after", "1s"},            // not spawned
		{"--kill-node", "-1"},
		{"--kill-after", "1s"},
	} {
		code, _, stderr := runLoadgen(t, args...)
		if code != exitSetup || !strings.Contains(stderr, "loadgen") && !strings.Contains(stderr, "flag") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	code, _, stderr := runLoadgen(t, "--help")
	for _, flag := range []string{"-duplicate-share", "-metrics-url", "-metrics-token", "-db-cpu-procs", "-db-cpu-root", "-idle-measure",
		"-nodes", "-public-url", "-kill-node", "-kill-after"} {
		if code != exitOK || !strings.Contains(stderr, flag) {
			t.Errorf("--help: exit %d, stderr lacks %s", code, flag)
		}
	}
}

func TestUnreachableServerExitsTwo(t *testing.T) {
	code, _, stderr := runLoadgen(t, "--server", "http://127.0.0.1:1", "--senders", "1", "--messages", "1")
	if code != exitSetup || !strings.Contains(stderr, "loadgen:") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func srvClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// runLoadgenConfig is runLoadgen with the parsed flags adjusted by adjust
// before the run (for settings no flag offers).
func runLoadgenConfig(t *testing.T, adjust func(*config), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cfg, err := parseFlags(args, &errOut)
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	adjust(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = runConfig(ctx, cfg, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// onlyOrderMayBreak fails the test unless the run kept every invariant
// but, perhaps, the per-sender order: what holds when one sender's
// messages land on independent servers (or on nodes that are not yet a
// cluster).
func onlyOrderMayBreak(t *testing.T, code int, r report.Report, stdout, stderr string) {
	t.Helper()
	if code != exitOK && code != exitInvariant {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, inv := range r.Check.Failed() {
		if inv.Name != check.InvOrder {
			t.Errorf("invariant broken: %s %v\nstdout:\n%s", inv.Name, inv.Examples, stdout)
		}
	}
}

// TestServerListSpreadsDeliveries drives two independent single-node
// servers (each its own SQLite database, each with the line set up)
// listed in --server: each sender's deliveries alternate between them,
// and the report has a row per node whose figures add up to the total.
// Independent servers keep no per-sender order between them, so only the
// other invariants are asserted.
func TestServerListSpreadsDeliveries(t *testing.T) {
	var srvs [2]*spawned
	for i := range srvs {
		srv, err := spawnServer(serverBin, nil, "", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.stop(30 * time.Second) })
		srvs[i] = srv
	}
	jsonPath, htmlPath := filepath.Join(t.TempDir(), "r.json"), filepath.Join(t.TempDir(), "r.html")
	code, stdout, stderr := runLoadgenConfig(t, func(c *config) { c.setupEach = true },
		"--server", srvs[0].URL+","+srvs[1].URL,
		"--server-pid", fmt.Sprintf("%d,%d", srvs[0].PID(), srvs[1].PID()),
		"--metrics-url", srvs[0].MetricsURL+","+srvs[1].MetricsURL,
		"--senders", "5", "--messages", "4", "--seed", "3", "--json", jsonPath, "--html", htmlPath, "--no-progress")
	r := readReport(t, jsonPath)
	onlyOrderMayBreak(t, code, r, stdout, stderr)
	if r.Check.Accepted != 20 || r.Check.Answered != 20 || r.Check.Replies != 20 {
		t.Fatalf("check = %+v", r.Check)
	}
	if len(r.Nodes) != 2 {
		t.Fatalf("nodes = %+v", r.Nodes)
	}
	var deliveries int64
	var cpu float64
	for i, n := range r.Nodes {
		// Round-robin per delivery: 10 each, whatever the senders.
		if n.Node != i+1 || n.URL != srvs[i].URL || n.Deliveries != 10 || n.Accepted != 10 || n.Replies != nil {
			t.Errorf("node row %+v", n)
		}
		if n.Server == nil || n.Server.PID != srvs[i].PID() || n.Server.CPUSeconds <= 0 || n.Server.PeakRSSBytes <= 0 {
			t.Errorf("node %d server = %+v", n.Node, n.Server)
		} else {
			cpu += n.Server.CPUSeconds
		}
		if n.Store == nil || n.Store.MetricsURL != srvs[i].MetricsURL || n.Store.Messages != 20 {
			t.Errorf("node %d store = %+v", n.Node, n.Store)
		}
		deliveries += n.Deliveries
	}
	if deliveries != r.Requests || r.Server == nil || math.Abs(r.Server.CPUSeconds-cpu) > 1e-9 || r.Server.PID != 0 {
		t.Fatalf("total: %d deliveries of %d, server %+v (nodes' CPU %v)", deliveries, r.Requests, r.Server, cpu)
	}
	if r.Store == nil || r.Store.MetricsURL != srvs[0].MetricsURL+","+srvs[1].MetricsURL {
		t.Fatalf("store total = %+v", r.Store)
	}
	if r.Store.Commits != nil && r.Nodes[0].Store.Commits != nil && r.Nodes[1].Store.Commits != nil &&
		r.Store.Commits.Delta != r.Nodes[0].Store.Commits.Delta+r.Nodes[1].Store.Commits.Delta {
		t.Fatalf("commits: total %v, nodes %v + %v", r.Store.Commits, r.Nodes[0].Store.Commits, r.Nodes[1].Store.Commits)
	}
	for _, want := range []string{"\nnode 1 ", "\nnode 2 ", "10 deliveries (10 answered 200)", "server CPU", "all nodes", "replies per node not known"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<h2>Nodes</h2>")) || !bytes.Contains(html, []byte("<th>total</th>")) {
		t.Fatal("HTML report lacks the nodes table")
	}
}

// TestSpawnedNodesSharePrivatePostgres starts two nodes on a private
// PostgreSQL loadgen starts (and stops), behind its balancer's public URL:
// both take deliveries and both send replies, and the status callbacks
// reach them through the balancer with valid signatures. Each sender sends
// one message: until the nodes form a cluster, two nodes must not serve
// one sender's conversation.
func TestSpawnedNodesSharePrivatePostgres(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runLoadgen(t, "--spawn", "--server-bin", serverBin, "--nodes", "2",
		"--senders", "20", "--messages", "1", "--callbacks", "--json", jsonPath, "--no-progress")
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readReport(t, jsonPath)
	if r.Check.Answered != 20 || r.Check.Replies != 20 || len(r.Nodes) != 2 {
		t.Fatalf("check %+v, nodes %+v", r.Check, r.Nodes)
	}
	var replies int64
	for _, n := range r.Nodes {
		if n.Deliveries != 10 || n.Accepted != 10 || n.Replies == nil || *n.Replies == 0 || n.Server == nil || n.Server.CPUSeconds <= 0 {
			t.Errorf("node row %+v", n)
		}
		if n.Replies != nil {
			replies += *n.Replies
		}
	}
	if replies != 20 {
		t.Errorf("the nodes sent %d replies, want 20", replies)
	}
	if !strings.HasPrefix(r.PublicURL, "http://127.0.0.1:") || r.Sim.Callbacks == 0 {
		t.Errorf("public URL %q, %d status callbacks", r.PublicURL, r.Sim.Callbacks)
	}
	for _, n := range r.Notes {
		if strings.Contains(n, "status callbacks") {
			t.Errorf("note: %s", n)
		}
	}
	// The database's CPU is that of the private PostgreSQL, which is gone.
	if r.DB == nil || r.DB.Root <= 0 || r.DB.Procs == 0 {
		t.Fatalf("db = %+v", r.DB)
	}
	if err := syscall.Kill(r.DB.Root, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("private PostgreSQL (pid %d) still running: %v", r.DB.Root, err)
	}
}

// TestKillNode kills node 2 of 2 during the load: the report says when,
// node 2's row says killed, deliveries after the kill all go to node 1,
// and the time from the kill to the first reply to a message delivered
// after it is measured. Until the nodes form a cluster, messages node 2
// accepted but had not answered stay unanswered, so only that invariant
// may break besides per-sender order.
func TestKillNode(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runLoadgen(t, "--spawn", "--server-bin", serverBin, "--nodes", "2",
		"--senders", "40", "--messages", "4", "--rate", "100", "--kill-node", "2", "--kill-after", "400ms",
		"--drain-timeout", "20s", "--settle", "300ms", "--json", jsonPath, "--no-progress")
	// The cluster moves the killed node's senders to the survivor: every
	// acknowledged message is answered once, in order.
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := readReport(t, jsonPath)
	for _, inv := range r.Check.Failed() {
		t.Errorf("invariant broken: %s %v", inv.Name, inv.Examples)
	}
	k := r.Kill
	if k == nil || !k.Killed || k.Node != 2 || k.PID != r.Nodes[1].Server.PID || k.AtSeconds < 0.4 || k.AtSeconds > 1 {
		t.Fatalf("kill = %+v", k)
	}
	if k.KillToFirstReplySeconds == nil || *k.KillToFirstReplySeconds <= 0 || k.MovedSenders == nil {
		t.Fatalf("kill = %+v", k)
	}
	if !r.Nodes[1].Killed || r.Nodes[0].Killed || r.Nodes[0].Deliveries <= r.Nodes[1].Deliveries {
		t.Fatalf("nodes = %+v", r.Nodes)
	}
	if !strings.Contains(stdout, "node 2 (pid ") || !strings.Contains(stdout, "KILLED") {
		t.Errorf("summary lacks the kill:\n%s", stdout)
	}
}
