package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"switchboard/cmd/loadgen/internal/check"
	"switchboard/cmd/loadgen/internal/report"
	"switchboard/test/twiliosim"
)

// Exit codes.
const (
	exitOK        = 0
	exitInvariant = 1 // an invariant broke
	exitSetup     = 2 // bad flags, or the run could not be set up or measured nothing
)

// run is the whole program; it returns the exit code. Cancelling ctx (an
// interrupt) stops sending early; the partial run is still reported.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitSetup
	}
	return runConfig(ctx, cfg, args, stdout, stderr)
}

// runConfig runs the load test cfg describes (args are its command line,
// for the report) and returns the exit code.
func runConfig(ctx context.Context, cfg *config, args []string, stdout, stderr io.Writer) int {
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen: cpu profile:", err)
			return exitSetup
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	rep, err := execute(ctx, cfg, args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitSetup
	}
	if !cfg.quiet {
		_ = report.WriteSummary(stdout, rep)
	}
	_ = report.WriteFailures(stderr, rep)
	for _, w := range []struct {
		kind, path string
		write      func(io.Writer, *report.Report) error
	}{{"JSON", cfg.jsonPath, report.WriteJSON}, {"HTML", cfg.htmlPath, report.WriteHTML}} {
		if w.path == "" {
			continue
		}
		if err := writeFile(w.path, rep, w.write); err != nil {
			fmt.Fprintln(stderr, err)
			return exitSetup
		}
		if !cfg.quiet {
			// Where to look: the path in full, whatever directory the
			// run started from.
			shown := w.path
			if abs, err := filepath.Abs(w.path); err == nil {
				shown = abs
			}
			fmt.Fprintf(stdout, "%s report: %s\n", w.kind, shown)
		}
	}
	if !rep.OK {
		return exitInvariant
	}
	if rep.Check.Accepted == 0 {
		fmt.Fprintln(stderr, "loadgen: no message was accepted; nothing was measured")
		return exitSetup
	}
	return exitOK
}

func writeFile(path string, rep *report.Report, write func(io.Writer, *report.Report) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if err := write(f, rep); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	return nil
}

// execute sets everything up, runs the load, drains, tears down and
// returns the report.
func execute(ctx context.Context, cfg *config, args []string, stderr io.Writer) (*report.Report, error) {
	seed := cfg.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	chk := check.New()
	var rec *report.Recorder // set before the first send; replies need it
	recReady := make(chan struct{})
	var kw *killWatch
	if cfg.killNode > 0 {
		kw = &killWatch{node: cfg.killNode, attributed: cfg.nodes > 1}
	}
	// One simulated Twilio, as in production one Twilio account: crash
	// reconciliation after a kill looks up, on any node, what another node
	// sent. The nodes of a spawned cluster each reach it on their own
	// address (their TWILIO_API_BASE_URL), so that each reply's sender is
	// known (Message.Via).
	var f *fleet
	attributed := cfg.spawn && cfg.nodes > 1
	sim := twiliosim.New(twiliosim.Options{
		Callbacks: cfg.callbacks,
		Latency:   cfg.simLatency,
		Faults:    twiliosim.Faults{Rate429: cfg.fault429, Rate5xx: cfg.fault5xx, RateTimeout: cfg.faultTimeout},
		Seed:      seed,
		// Kept when a node is killed: the survivors ask Twilio what it sent.
		DiscardMessages: cfg.killNode == 0,
		HoldTimeout:     cfg.simHoldTimeout,
		CallbackWorkers: 8,
		OnMessage: func(m twiliosim.Message) {
			<-recReady
			now := time.Now()
			sentAt, first := chk.Replied(m.To, m.Body, now)
			if first {
				rec.Reply(now, now.Sub(sentAt))
			}
			nodeIndex := 0 // not known
			if attributed && m.Via > 0 {
				nodeIndex = m.Via
				f.nodes[nodeIndex-1].replies.Add(1)
			}
			if kw != nil {
				kw.reply(m.To, nodeIndex, sentAt, now)
			}
		},
	})
	sims := []*twiliosim.Server{sim}
	defer sim.Close()
	if err := sim.Start(cfg.simAddr); err != nil {
		return nil, fmt.Errorf("loadgen: simulated Twilio: %w", err)
	}
	simURLs := []string{sim.URL()}
	if attributed {
		host, _, err := net.SplitHostPort(cfg.simAddr)
		if err != nil {
			return nil, fmt.Errorf("loadgen: --sim-addr: %w", err)
		}
		simURLs = simURLs[:0]
		for range cfg.nodes {
			u, err := sim.Listen(net.JoinHostPort(host, "0"))
			if err != nil {
				return nil, fmt.Errorf("loadgen: simulated Twilio: %w", err)
			}
			simURLs = append(simURLs, u)
		}
	}

	f, err := newFleet(cfg, simURLs)
	if err != nil {
		return nil, err
	}
	defer func() { f.close(30 * time.Second) }()

	l, err := setUp(ctx, cfg, f, sims)
	if err != nil {
		return nil, err
	}

	pids := f.pids()
	meas := newMeasures(cfg, f)
	meas.before(ctx)
	start := time.Now()
	selfCPU0, _, _, _ := procStat(os.Getpid())
	rec = report.NewRecorder(start)
	close(recReady)
	var smp *sampler
	var notes []string
	if len(pids) > 0 {
		if smp, err = startSampler(pids, start, 100*time.Millisecond); err != nil {
			notes = append(notes, "server process not sampled: "+err.Error())
		}
	}

	stop := ctx
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	killCtx, stopKill := context.WithCancel(ctx)
	killDone := make(chan struct{})
	if kw != nil {
		go func() { defer close(killDone); kw.run(killCtx, f, start, cfg.killAfter) }()
	} else {
		close(killDone)
	}
	runID := int(seed % 1000)
	r := newRunner(cfg, f, l, chk, rec)
	progressDone := make(chan struct{})
	progressExited := make(chan struct{})
	if !cfg.quiet && !cfg.noProgress {
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			go func() { r.progress(stderr, start, progressDone); close(progressExited) }()
		} else {
			close(progressExited)
		}
	} else {
		close(progressExited)
	}
	r.run(stop, runID, seed)
	loadEnd := time.Now()
	drain(ctx, chk, cfg.drainTimeout, cfg.settle)
	if cfg.callbacks {
		drainCallbacks(ctx, sims, loadEnd.Add(cfg.drainTimeout))
	}
	drainEnd := time.Now()
	stopKill()
	<-killDone
	selfCPU1, _, _, _ := procStat(os.Getpid())
	close(progressDone)
	<-progressExited
	if ctx.Err() != nil {
		notes = append(notes, "interrupted: the run was stopped early")
	}
	if p := chk.Pending(); p > 0 {
		notes = append(notes, fmt.Sprintf("%d accepted messages were still unanswered after --drain-timeout %s", p, cfg.drainTimeout))
	}

	var stats *report.ServerStats
	var nodeStats []*report.ServerStats
	_, replied, _, _ := rec.Snapshot()
	if smp != nil {
		stats, nodeStats = smp.finish(int(replied))
	}
	dbStats := meas.dbAfter(replied)
	store, nodeStores := meas.storeAfter(ctx, replied)
	var idle *report.IdleStats
	if cfg.idleMeasure > 0 && len(pids) > 0 && ctx.Err() == nil {
		if p := chk.Pending(); p > 0 {
			notes = append(notes, fmt.Sprintf("the idle window was measured with %d messages still unanswered", p))
		}
		if f, ok := stderr.(*os.File); ok && !cfg.quiet && !cfg.noProgress && isTerminal(f) {
			fmt.Fprintf(stderr, "measuring the idle server for %s…\n", cfg.idleMeasure)
		}
		if idle, err = meas.idle(ctx, cfg.idleMeasure, pids); err != nil {
			notes = append(notes, "idle cost not measured: "+err.Error())
		}
	}
	notes = append(notes, meas.notes...)
	for _, err := range f.close(30 * time.Second) {
		notes = append(notes, err.Error())
		fmt.Fprintln(stderr, err)
	}
	var callbacks []twiliosim.Callback
	var injected int64
	simCount := 0
	for _, sim := range sims {
		callbacks = append(callbacks, sim.Callbacks()...)
		for _, f := range sim.Failures() {
			if f.Injected {
				injected++
			}
		}
		simCount += sim.Count()
		sim.Close()
	}

	badCallbacks := 0
	for _, cb := range callbacks {
		if cb.Err != "" || cb.HTTPStatus < 200 || cb.HTTPStatus > 299 {
			badCallbacks++
		}
	}
	if badCallbacks > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d status callbacks were not answered 2xx", badCallbacks, len(callbacks)))
	}

	res := chk.Finish()
	rep := &report.Report{
		Tool:            "loadgen",
		StartedAt:       start,
		Command:         maskedCommand(args),
		Config:          cfg.values,
		ServerURL:       strings.Join(f.urls(), ","),
		PublicURL:       f.public,
		Spawned:         cfg.spawn,
		LoadSeconds:     loadEnd.Sub(start).Seconds(),
		DrainSeconds:    drainEnd.Sub(loadEnd).Seconds(),
		Requests:        r.requests.Load(),
		Duplicates:      r.duplicates.Load(),
		Non200:          r.non200.Load(),
		TransportErrors: r.transport.Load(),
		StatusCodes:     r.codes,
		Errors:          topErrors(r.errs, 10),
		Check:           res,
		Server:          stats,
		Store:           store,
		DB:              dbStats,
		Idle:            idle,
		Sim:             report.SimStats{Messages: simCount, InjectedFaults: injected, Callbacks: len(callbacks)},
		OK:              res.OK(),
		Notes:           notes,
	}
	if len(f.nodes) > 1 {
		rep.Nodes = nodeRows(f, nodeStats, nodeStores)
		if !f.attributed {
			rep.Notes = append(rep.Notes, "replies per node not known: the servers share one simulated Twilio (only nodes loadgen spawns get one each)")
		}
	}
	if kw != nil {
		rep.Kill = kw.stats(start)
	}
	if rep.LoadSeconds > 0 {
		rep.RequestRate = float64(rep.Requests) / rep.LoadSeconds
	}
	if last := rec.LastReply(); !last.IsZero() {
		rep.Throughput = float64(res.Answered+res.UnackedAnswered) / last.Sub(start).Seconds()
	}
	rep.LoadgenCPUSeconds = selfCPU1 - selfCPU0
	if _, _, hwm, err := procStat(os.Getpid()); err == nil {
		rep.LoadgenPeakRSSBytes = hwm
	}
	if res.Answered > 0 {
		rep.LoadgenCPUMicrosPerMessage = rep.LoadgenCPUSeconds * 1e6 / float64(res.Answered)
	}
	rec.Fill(rep)
	return rep, nil
}

// drainCallbacks waits until every simulated Twilio posted both status
// callbacks (sent, delivered) of every send it accepted, or until the
// deadline: the servers must still be up to answer them.
func drainCallbacks(ctx context.Context, sims []*twiliosim.Server, deadline time.Time) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, sim := range sims {
		if sim.WaitForCallbacks(ctx, 2*sim.Count()) != nil {
			return
		}
	}
}

// setUp sets the line up through the first server (a cluster shares its
// database) or, with cfg.setupEach, on every server with the same Twilio
// account, and tells the simulated Twilios the account.
func setUp(ctx context.Context, cfg *config, f *fleet, sims []*twiliosim.Server) (*line, error) {
	setupCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The nodes of a spawned cluster send to their own address of the simulated Twilio
	// (TWILIO_API_BASE_URL): the provider names none.
	simURL := sims[0].URL()
	if f.attributed {
		simURL = ""
	}
	l, err := setupLine(setupCtx, cfg, f.nodes[0].url, simURL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: set up the line at %s: %w", f.nodes[0].url, err)
	}
	if cfg.setupEach {
		each := *cfg
		each.accountSID, each.authToken = l.AccountSID, l.AuthToken
		for _, n := range f.nodes[1:] {
			if n.line, err = setupLine(setupCtx, &each, n.url, simURL); err != nil {
				return nil, fmt.Errorf("loadgen: set up the line at %s: %w", n.url, err)
			}
		}
	}
	for _, sim := range sims {
		sim.AddAccount(l.AccountSID, l.AuthToken)
	}
	f.setLine(l)
	return l, nil
}

// nodeRows are the report's per-node rows.
func nodeRows(f *fleet, procs []*report.ServerStats, stores []*report.StoreStats) []report.NodeStats {
	rows := make([]report.NodeStats, len(f.nodes))
	for i, n := range f.nodes {
		row := report.NodeStats{Node: n.index, URL: n.url, Deliveries: n.deliveries.Load(), Accepted: n.accepted.Load(), Killed: n.dead.Load()}
		if f.attributed {
			v := n.replies.Load()
			row.Replies = &v
		}
		if i < len(procs) {
			row.Server = procs[i]
		}
		if i < len(stores) {
			row.Store = stores[i]
		}
		rows[i] = row
	}
	return rows
}

// maskedCommand returns the command line with secret flag values hidden.
func maskedCommand(args []string) []string {
	out := []string{"loadgen"}
	maskNext := false
	for _, a := range args {
		if maskNext {
			out = append(out, "(secret)")
			maskNext = false
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && secretFlags[name] {
			if hasValue {
				a = a[:strings.Index(a, "=")+1] + "(secret)"
			} else {
				maskNext = true
			}
		}
		out = append(out, a)
	}
	return out
}

// topErrors keeps the n most frequent error texts.
func topErrors(errs map[string]int64, n int) map[string]int64 {
	if len(errs) <= n {
		return errs
	}
	type kv struct {
		k string
		v int64
	}
	all := make([]kv, 0, len(errs))
	for k, v := range errs {
		all = append(all, kv{k, v})
	}
	// partial selection is plenty for a handful of kinds
	out := make(map[string]int64, n)
	for range n {
		best := -1
		for i, e := range all {
			if _, taken := out[e.k]; !taken && (best < 0 || e.v > all[best].v) {
				best = i
			}
		}
		out[all[best].k] = all[best].v
	}
	return out
}
