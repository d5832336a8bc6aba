package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
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
	sim := twiliosim.New(twiliosim.Options{
		Callbacks:       cfg.callbacks,
		Latency:         cfg.simLatency,
		Faults:          twiliosim.Faults{Rate429: cfg.fault429, Rate5xx: cfg.fault5xx, RateTimeout: cfg.faultTimeout},
		Seed:            seed,
		DiscardMessages: true,
		HoldTimeout:     cfg.simHoldTimeout,
		CallbackWorkers: 8,
		OnMessage: func(m twiliosim.Message) {
			<-recReady
			now := time.Now()
			if sentAt, first := chk.Replied(m.To, m.Body, now); first {
				rec.Reply(now, now.Sub(sentAt))
			}
		},
	})
	if err := sim.Start(cfg.simAddr); err != nil {
		return nil, fmt.Errorf("loadgen: simulated Twilio: %w", err)
	}
	simClosed := false
	defer func() {
		if !simClosed {
			sim.Close()
		}
	}()

	serverURL := cfg.server
	var srv *spawned
	if cfg.spawn {
		env := append([]string{"TWILIO_API_BASE_URL=" + sim.URL()}, cfg.serverEnv...)
		var err error
		if srv, err = spawnServer(cfg.serverBin, env, cfg.serverLog, cfg.dbDir); err != nil {
			return nil, err
		}
		defer func() {
			if srv != nil {
				_ = srv.stop(30 * time.Second)
			}
		}()
		serverURL = srv.URL
	}

	setupCtx, cancel := context.WithTimeout(ctx, time.Minute)
	l, err := setupLine(setupCtx, cfg, serverURL, sim.URL())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("loadgen: set up the line at %s: %w", serverURL, err)
	}
	sim.AddAccount(l.AccountSID, l.AuthToken)

	pid := cfg.serverPID
	if srv != nil {
		pid = srv.PID()
	}
	meas := newMeasures(cfg, srv)
	meas.before(ctx)
	start := time.Now()
	selfCPU0, _, _, _ := procStat(os.Getpid())
	rec = report.NewRecorder(start)
	close(recReady)
	var smp *sampler
	var notes []string
	if pid > 0 {
		if smp, err = startSampler(pid, start, 100*time.Millisecond); err != nil {
			notes = append(notes, "server process not sampled: "+err.Error())
		}
	}

	stop := ctx
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	runID := int(seed % 1000)
	r := newRunner(cfg, l, chk, rec)
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
	drainEnd := time.Now()
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
	_, replied, _, _ := rec.Snapshot()
	if smp != nil {
		stats = smp.finish(int(replied))
	}
	dbStats := meas.dbAfter(replied)
	store := meas.storeAfter(ctx, replied)
	var idle *report.IdleStats
	if cfg.idleMeasure > 0 && pid > 0 && ctx.Err() == nil {
		if p := chk.Pending(); p > 0 {
			notes = append(notes, fmt.Sprintf("the idle window was measured with %d messages still unanswered", p))
		}
		if f, ok := stderr.(*os.File); ok && !cfg.quiet && !cfg.noProgress && isTerminal(f) {
			fmt.Fprintf(stderr, "measuring the idle server for %s…\n", cfg.idleMeasure)
		}
		if idle, err = meas.idle(ctx, cfg.idleMeasure, pid); err != nil {
			notes = append(notes, "idle cost not measured: "+err.Error())
		}
	}
	notes = append(notes, meas.notes...)
	if srv != nil {
		if err := srv.stop(30 * time.Second); err != nil {
			notes = append(notes, err.Error())
			fmt.Fprintln(stderr, err)
		}
		srv = nil
	}
	callbacks := sim.Callbacks()
	var injected int64
	for _, f := range sim.Failures() {
		if f.Injected {
			injected++
		}
	}
	simCount := sim.Count()
	sim.Close()
	simClosed = true

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
		ServerURL:       serverURL,
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
