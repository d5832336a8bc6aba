package actors

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"switchboard/store"
)

// BenchmarkWebhookToReply measures the engine's path from Accept (commit
// of the inbound message) through the turn (scripted LLM, turn commit) to
// the REST send, with real SQLite (synchronous=OFF here: the fsync cost is
// measured by the store benchmarks and the load tester) and many senders
// in parallel.
func BenchmarkWebhookToReply(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
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

// BenchmarkIdleSessionMemory creates sessions through the engine's real
// path (commit, registry, session actor, turn, send), lets them go idle,
// and reports the live heap per idle session. Run with -benchtime=Nx to
// choose the number of sessions (default b.N).
func BenchmarkIdleSessionMemory(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = f.eng.Close(ctx)
		_ = f.st.Close()
	}()
	var wg sync.WaitGroup
	f.sender.fn = func(n int64, m OutMessage) error { wg.Done(); return errDrop }
	n := max(b.N, 1000)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	b.ResetTimer()
	wg.Add(n)
	sem := make(chan struct{}, 256)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMm%030d", i),
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
	b.StopTimer()
	if got := f.eng.LiveSessions(); got != n {
		b.Fatalf("%d live sessions, want %d", got, n)
	}
	after := heap()
	b.ReportMetric(float64(after-before)/float64(n), "bytes/session")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sessions/s")
}

// errDrop makes the fake sender fail permanently, so the benchmark does
// not keep the sent messages in memory.
var errDrop = &sendErr{SendFailure{Message: "dropped by the benchmark"}}
