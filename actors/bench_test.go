package actors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/store"
)

// BenchmarkWebhookToReply measures the engine's path from Accept (commit
// of the inbound message) through the turn (scripted LLM, turn commit) to
// the REST send, with real SQLite (synchronous=OFF here: the fsync cost is
// measured by the store benchmarks and the load tester) and many senders
// in parallel.
func BenchmarkWebhookToReply(b *testing.B) {
	f := newFixture(b, time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
	var wg sync.WaitGroup
	f.sender.fn = func(n int64, m OutMessage) error { wg.Done(); return nil }
	b.ReportAllocs()
	b.ResetTimer()
	var i int64
	var mu sync.Mutex
	wg.Add(b.N)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i++
			n := i
			mu.Unlock()
			m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMb%030d", n),
				ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1555%07d", n%500), To: ourNumber, Body: "hi"}
			if _, err := f.eng.Accept(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	wg.Wait()
	b.StopTimer()
	f.sender.mu.Lock()
	f.sender.sent = nil // keep the fake's memory from growing across runs
	f.sender.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.eng.Close(ctx)
	_ = f.st.Close()
}

// BenchmarkMessageCost counts what the store does per answered message —
// transactions, durable flushes (fsyncs) and SQL statements — with SQLite
// at its default durability (FULL, on the machine's disk). The counts do
// not depend on machine noise: "sequential" sends one message at a time,
// the next after the previous reply (a line at a low rate: nothing is
// shared between messages but the send result that rides the next
// message's commit); "parallel" keeps 8 messages per core in flight (the
// group committer batches them).
func BenchmarkMessageCost(b *testing.B) {
	for _, par := range []bool{false, true} {
		name := "sequential"
		if par {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			c := messageCost(b, b.N, 500, par, nil)
			b.ReportMetric(c.commits, "commits/msg")
			b.ReportMetric(c.fsyncs, "fsyncs/msg")
			b.ReportMetric(c.statements, "statements/msg")
		})
	}
}

// TestMessageCost holds the store's work per answered message to issue
// 12's bounds, counted (not timed): at most one fsync, and at most four
// SQL statements (three in the steady state: the inbound message, the
// turn row, the send result), for messages sent one at a time by 20
// senders, ten each (each sender's first message also creates its
// conversation). A message's flush waits for its quick (scripted) turn
// for up to SyncWait; the test gives it 200 ms, so that a loaded machine,
// where a turn can take longer than the default 2 ms, does not split the
// flush in two and the count measures the design.
func TestMessageCost(t *testing.T) {
	c := messageCost(t, 200, 20, false, func(o *Options) { o.SyncWait = 200 * time.Millisecond })
	t.Logf("per message: %.3f commits, %.3f fsyncs, %.3f statements", c.commits, c.fsyncs, c.statements)
	if c.fsyncs > 1.01 {
		t.Errorf("%.3f fsyncs per message, want at most 1", c.fsyncs)
	}
	if c.statements > 3.2 {
		t.Errorf("%.3f statements per message, want at most 3.2 (3, and a conversation per 10 messages)", c.statements)
	}
}

type cost struct{ commits, fsyncs, statements float64 }

// messageCost sends n messages from the given number of senders through
// the engine on SQLite FULL (one after another, each after the previous
// reply, or 8 per core in flight when par), waits for their replies and
// send results, and returns the store's work per message.
func messageCost(tb testing.TB, n, senders int, par bool, mod func(*Options)) cost {
	f := newFixtureSync(tb, "FULL", time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, mod)
	var wg sync.WaitGroup
	replied := make(chan struct{}, 1)
	f.sender.fn = func(n int64, m OutMessage) error {
		wg.Done()
		select {
		case replied <- struct{}{}:
		default:
		}
		return nil
	}
	st := f.st.(store.StatsReporter).Stats()
	var i atomic.Int64
	accept := func() {
		k := i.Add(1)
		m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMc%030d", k),
			ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1555%07d", k%int64(senders)), To: ourNumber, Body: "hi"}
		if _, err := f.eng.Accept(context.Background(), m); err != nil {
			tb.Error(err)
		}
	}
	wg.Add(n)
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
		defer b.StopTimer()
	}
	if par {
		var g sync.WaitGroup
		per := 8 * runtime.GOMAXPROCS(0)
		var left atomic.Int64
		left.Store(int64(n))
		for range per {
			g.Go(func() {
				for left.Add(-1) >= 0 {
					accept()
				}
			})
		}
		g.Wait()
	} else {
		for range n {
			accept()
			<-replied
		}
	}
	wg.Wait()
	return f.costSince(st, n)
}

// costSince closes the engine (which commits the last send results) and
// returns the store's work since the counts in before, per message of n.
func (f *fixture) costSince(before store.Stats, n int) cost {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.eng.Close(ctx)
	end := f.st.(store.StatsReporter).Stats()
	per := func(a, z uint64) float64 { return float64(z-a) / float64(n) }
	return cost{per(before.Commits, end.Commits), per(before.Syncs, end.Syncs), per(before.Statements, end.Statements)}
}

// BenchmarkIdleSessionMemory creates sessions through the engine's real
// path (commit, registry, session actor, turn, send), lets them go idle,
// and reports the live heap per idle session. Run with -benchtime=Nx to
// choose the number of sessions (default b.N).
func BenchmarkIdleSessionMemory(b *testing.B) {
	f := newFixture(b, time.Hour, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = f.eng.Close(ctx)
		_ = f.st.Close()
	}()
	f.sender.fn = func(n int64, m OutMessage) error { return errDrop }
	n := max(b.N, 1000)
	before := liveHeap()
	b.ResetTimer()
	f.createSessions(b, n)
	b.StopTimer()
	if got := f.eng.LiveSessions(); got != n {
		b.Fatalf("%d live sessions, want %d", got, n)
	}
	b.ReportMetric(float64(liveHeap()-before)/float64(n), "bytes/session")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sessions/s")
	// The process's resident memory with every session live: the Go heap
	// with its headroom, the SQLite page caches and the runtime. Run with
	// GOMEMLIMIT to see it under a memory limit.
	if rss, hwm := procMemory(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
	}
}

// procMemory returns the process's resident set size and its peak, in
// bytes, from /proc (zero where /proc is missing).
func procMemory() (rss, peak int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

// BenchmarkRestoreSessions measures the other real path that creates
// sessions: start-up, where Recover gives every active conversation of
// the store its session back (with its stored deadline), through the
// registries, without a message. b.N (at least 1000) conversations are
// stored before the clock starts; the clock runs from Recover until every
// session is live. Memory is reported as in BenchmarkIdleSessionMemory.
func BenchmarkRestoreSessions(b *testing.B) {
	n := max(b.N, 1000)
	f := newFixture(b, time.Hour, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	ctx := context.Background()
	_ = f.eng.Close(ctx)
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i += 512 {
		turns := make([]*store.Turn, 0, 512)
		for j := i; j < min(i+512, n); j++ {
			id := store.NewID(store.PrefixConversation)
			turns = append(turns, &store.Turn{ConversationID: id, NewConversation: &store.Conversation{Meta: store.Meta{ID: id},
				ProjectID: f.project.ID, StageID: f.stage.ID, UserID: fmt.Sprintf("+1%010d", j), ChannelProviderID: f.channel.ID,
				ChannelAddress: ourNumber, Deadline: deadline},
				Events: []store.Event{{EventType: store.EventConversationStart}}})
		}
		if err := f.st.CommitTurns(ctx, turns); err != nil {
			b.Fatal(err)
		}
	}
	eng, err := New(f.eng.opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = eng.Close(ctx)
		_ = f.st.Close()
	}()
	before := liveHeap()
	b.ResetTimer()
	if _, _, err := eng.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	for eng.LiveSessions() < n || eng.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(liveHeap()-before)/float64(n), "bytes/session")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sessions/s")
	if rss, hwm := procMemory(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
	}
}

// BenchmarkRegistryForward measures the actor path alone: a message to a
// live session through its shard's registry (route, forward) and the
// session's mailbox, without store or network work (an empty resumeSends,
// which the session takes and counts as done). 1000 live sessions share
// the b.N messages.
func BenchmarkRegistryForward(b *testing.B) {
	f := newFixture(b, time.Hour, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	defer func() {
		_ = f.eng.Close(context.Background())
		_ = f.st.Close()
	}()
	deadline := time.Now().Add(time.Hour)
	send := func(k store.SessionKey) {
		f.eng.pending.Add(1)
		f.eng.system.Root.Send(f.eng.shardFor(k), &resumeSends{key: k, deadline: deadline})
	}
	wait := func() {
		for f.eng.Pending() > 0 {
			runtime.Gosched()
		}
	}
	keys := make([]store.SessionKey, 1000)
	for i := range keys {
		keys[i] = store.SessionKey{ProjectID: f.project.ID, ChannelProviderID: f.channel.ID, To: ourNumber, From: fmt.Sprintf("+1%010d", i)}
		send(keys[i])
	}
	wait()
	if n := f.eng.LiveSessions(); n != len(keys) {
		b.Fatalf("%d live sessions, want %d", n, len(keys))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(keys[i%len(keys)])
	}
	wait()
}

// liveHeap is the live heap after two collections.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// errDrop makes the fake sender fail permanently, so the benchmark does
// not keep the sent messages in memory.
var errDrop = &sendErr{SendFailure{Message: "dropped by the benchmark"}}

// BenchmarkExpiry creates b.N sessions (at least 1000) through the real
// path with a timeout long enough for all of them to be live together,
// then lets them all expire, and reports the worst lateness (end of the
// session versus its deadline) and the process CPU spent per second while
// they expired. Run with -benchtime=100000x for the 100k target.
func BenchmarkExpiry(b *testing.B) {
	n := max(b.N, 1000)
	timeout := 10*time.Second + time.Duration(n)*300*time.Microsecond
	f := newFixture(b, timeout, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = f.eng.Close(ctx)
		_ = f.st.Close()
	}()
	f.sender.fn = func(int64, OutMessage) error { return errDrop }
	start := time.Now()
	f.createSessions(b, n)
	created := time.Since(start)
	if created > timeout {
		b.Fatalf("creating %d sessions took %v, longer than the timeout %v", n, created, timeout)
	}
	// Idle until the first deadline, then measure CPU while they expire.
	time.Sleep(time.Until(start.Add(timeout)))
	cpu0 := cpuTime()
	t0 := time.Now()
	for f.eng.LiveSessions() > 0 {
		time.Sleep(10 * time.Millisecond)
		if time.Since(t0) > timeout+time.Minute {
			b.Fatalf("%d sessions still live", f.eng.LiveSessions())
		}
	}
	window := time.Since(t0)
	cpu := cpuTime() - cpu0
	b.ReportMetric(time.Duration(f.eng.maxLate.Load()).Seconds(), "max-late-s")
	b.ReportMetric(100*cpu.Seconds()/window.Seconds(), "cpu-%-of-core")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/expiry")
	b.ReportMetric(window.Seconds(), "expiry-window-s")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// createSessions texts once from n distinct senders, 256 at a time, and
// waits until every turn is done.
func (f *fixture) createSessions(b *testing.B, n int) {
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMs%030d", f.sid.Add(1)),
				ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1%010d", i), To: ourNumber, Body: "hi"}
			if _, err := f.eng.Accept(context.Background(), m); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	for f.eng.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkSessionCollector scrapes the per-session series with 100k live
// sessions and the default cap of 1000: the walk takes one shard lock at a
// time and stops at the cap, so a scrape stays cheap however many sessions
// live, and never messages an actor.
func BenchmarkSessionCollector(b *testing.B) {
	e := &Engine{live: newLiveSessions()}
	for i := 0; i < 100_000; i++ {
		st := &sessionState{id: store.NewID("sess_"), key: store.SessionKey{ProjectID: "proj_x", ChannelProviderID: "prov_x"}}
		st.lastInbound.Store(time.Now().UnixNano())
		e.live.add(st)
	}
	c := e.NewSessionCollector(1000)
	ch := make(chan prometheus.Metric, 8192)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		done := make(chan struct{})
		go func() {
			for range ch {
				n++
				if n == 5*1000+1 {
					close(done)
					return
				}
			}
		}()
		c.Collect(ch)
		<-done
	}
}

// TestSlowTurnRidesTheNextFlush: with an LLM slower than SyncWait, a
// message's own flush (before its 200) is over when its turn is written;
// the turn then waits (up to a tenth of its 310 ms) for the next webhook's
// flush instead of flushing on its own, so a steady stream at 50/s still
// costs one fsync per message. With TurnWait off, the same stream costs
// two. Sparse traffic (one message at a time) costs one with a SyncWait
// longer than the LLM: the webhook's 200 waits for the turn.
func TestSlowTurnRidesTheNextFlush(t *testing.T) {
	llmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A remote LLM, much slower than SyncWait; not a multiple of the
		// 20 ms between messages, so that a turn does not land while a
		// later message waits for its flush by the pace alone.
		time.Sleep(310 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)
	}))
	defer llmSrv.Close()
	t.Run("sparse, long sync wait", func(t *testing.T) {
		// One message at a time, each after the previous reply: no webhook
		// for a slow turn to ride, unless the message's own flush waits
		// for its turn (COMMIT_SYNC_WAIT_US raised past the LLM's time).
		f := newFixtureSync(t, "FULL", time.Hour, store.APITypeOpenAILegacy, `{"apiKey":"k","baseUrl":"`+llmSrv.URL+`"}`,
			func(o *Options) { o.SyncWait = 5 * time.Second })
		replied := make(chan struct{}, 1)
		f.sender.fn = func(int64, OutMessage) error { replied <- struct{}{}; return nil }
		before := f.st.(store.StatsReporter).Stats()
		const n = 4
		for k := range n {
			begin := time.Now()
			f.text(fmt.Sprintf("+1555%07d", k), "hi")
			if d := time.Since(begin); d < 300*time.Millisecond {
				t.Errorf("acknowledged after %v, before its 310 ms turn", d)
			}
			<-replied
		}
		if got := f.costSince(before, n).fsyncs; got != 1 {
			t.Errorf("%.3f fsyncs per message, want 1", got)
		}
	})
	for _, c := range []struct {
		name     string
		turnWait time.Duration
		check    func(fsyncs float64) bool
		want     string
	}{
		{"riding", 0, func(f float64) bool { return f <= 1.15 }, "at most 1.15"},
		{"own flush", -1, func(f float64) bool { return f >= 1.4 }, "at least 1.4 (the control: a flush per turn)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n, senders = 100, 30
			f := newFixtureSync(t, "FULL", time.Hour, store.APITypeOpenAILegacy, `{"apiKey":"k","baseUrl":"`+llmSrv.URL+`"}`,
				func(o *Options) { o.TurnWait = c.turnWait })
			var replies sync.WaitGroup
			replies.Add(n)
			f.sender.fn = func(int64, OutMessage) error { replies.Done(); return nil }
			before := f.st.(store.StatsReporter).Stats()
			// One message every 20 ms (50/s), round robin over the senders:
			// each sender's session is idle again (310 ms turn) before its
			// next (600 ms later).
			var accepts sync.WaitGroup
			tick := time.NewTicker(20 * time.Millisecond)
			for k := range n {
				<-tick.C
				accepts.Go(func() {
					m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMs%030d", k),
						ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1555%07d", k%senders), To: ourNumber, Body: "hi"}
					if _, err := f.eng.Accept(context.Background(), m); err != nil {
						t.Error(err)
					}
				})
			}
			tick.Stop()
			accepts.Wait()
			replies.Wait()
			fsyncs := f.costSince(before, n).fsyncs
			t.Logf("%s: %.3f fsyncs per message", c.name, fsyncs)
			if !c.check(fsyncs) {
				t.Errorf("%.3f fsyncs per message, want %s", fsyncs, c.want)
			}
			if got := len(f.sender.sent); got != n {
				t.Errorf("%d replies, want %d", got, n)
			}
		})
	}
}
