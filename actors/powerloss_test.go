package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/providers"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// The power-loss model (actors/doc.go, "Durability"): with SQLite at FULL,
// a power loss keeps the database file and the WAL up to its last flush;
// frames written since are gone. sqlite.WithPowerLossModel tracks that
// line and CrashCopy produces the database such a loss would leave, at any
// instant. These tests take copies at the instants that matter and check
// what the promises say must be in them.

// crashOpen opens a crash copy of st taken now.
func crashOpen(t *testing.T, st store.Store) *sqlite.DB {
	t.Helper()
	path, err := st.(*sqlite.DB).CrashCopy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open crash copy: %v", err)
	}
	return c
}

// TestPowerLossNeverSendsBeforeTheTurnIsDurable: at the instant of every
// send, a power loss would leave the reply's outbox row on disk (so a
// restart never runs the turn again and answers twice), and when a webhook
// is acknowledged its message is on disk.
func TestPowerLossNeverSendsBeforeTheTurnIsDurable(t *testing.T) {
	f := newFixtureSync(t, "FULL", time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil, sqlite.WithPowerLossModel())
	var mu sync.Mutex
	var problems []string
	f.sender.fn = func(n int64, m OutMessage) error {
		c := crashOpen(t, f.st)
		defer c.Close()
		rows, err := c.PendingOutbox(context.Background())
		found := false
		for _, r := range rows {
			found = found || (r.To == m.To && r.Body == m.Body)
		}
		if err != nil || !found {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("send %q to %s: its outbox row is not durable (err %v)", m.Body, m.To, err))
			mu.Unlock()
		}
		return nil
	}
	const senders, each = 4, 5
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMp%d_%d", s, i),
					ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1555000%04d", s), To: ourNumber, Body: fmt.Sprintf("m%d-%d", s, i)}
				if _, err := f.eng.Accept(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
				// Acknowledged: a power loss now keeps the message.
				c := crashOpen(t, f.st)
				again := *m
				again.ID = 0
				res, err := c.CommitInbound(context.Background(), []*store.InboundMessage{&again})
				c.Close()
				if err != nil || !res[0].Duplicate {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("acknowledged %s is not durable (err %v)", m.MessageSID, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := f.sender.count(); n != senders*each {
			return fmt.Errorf("%d replies sent, want %d", n, senders*each)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

// sentMsg identifies a text message by its addresses and body.
type sentMsg struct{ From, To, Body string }

// findingSender is a fake Twilio that remembers what it accepted and
// answers the crash reconciliation's questions from that.
type findingSender struct {
	fakeSender
	prior map[sentMsg]bool // accepted before the power loss
}

func (f *findingSender) FindSent(ctx context.Context, cfg providers.TwilioConfig, m OutMessage, since time.Time) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := sentMsg{From: m.From, To: m.To, Body: m.Body}
	if f.prior[k] {
		return "SMprior", true, nil
	}
	return "", false, nil
}

// TestPowerLossRecovery: a power loss in the middle of traffic, then a
// restart on what it left: every message acknowledged before the loss is
// answered exactly once, counting the replies that went out before it.
func TestPowerLossRecovery(t *testing.T) {
	f := newFixtureSync(t, "FULL", time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil, sqlite.WithPowerLossModel())
	// The power fails during the 7th send: the copy is taken while the
	// send is in flight, and what Twilio accepted by then is recorded.
	var crashPath string
	var before map[sentMsg]bool
	var acked []*store.InboundMessage
	var mu sync.Mutex
	f.sender.fn = func(n int64, m OutMessage) error {
		if n != 7 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		p, err := f.st.(*sqlite.DB).CrashCopy(t.TempDir())
		if err != nil {
			t.Error(err)
			return nil
		}
		crashPath = p
		before = map[sentMsg]bool{{From: m.From, To: m.To, Body: m.Body}: true} // this send goes through
		for _, s := range f.sender.sentSoFar() {
			before[sentMsg{From: s.From, To: s.To, Body: s.Body}] = true
		}
		return nil
	}
	var ackedBeforeCrash []*store.InboundMessage
	for i := range 12 {
		m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SMr%02d", i),
			ProjectID: f.project.ID, StageID: f.stage.ID, From: fmt.Sprintf("+1555111%04d", i%3), To: ourNumber, Body: fmt.Sprintf("r%d", i)}
		if _, err := f.eng.Accept(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if crashPath == "" {
			acked = append(acked, m)
		}
		mu.Unlock()
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return fmt.Errorf("%d pending", f.eng.Pending())
		}
		return nil
	})
	mu.Lock()
	ackedBeforeCrash = acked
	mu.Unlock()
	if crashPath == "" {
		t.Fatal("the power never failed")
	}

	// Restart on what the power loss left.
	st2, err := sqlite.Open(context.Background(), crashPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	sender2 := &findingSender{prior: before}
	eng2, err := New(Options{
		Store: st2, Sender: sender2, Classify: classifyFake,
		Split: func(s string) []string { return []string{s} }, LLM: f.eng.opts.LLM,
		SessionTimeout: time.Hour, LLMErrorReply: "sorry", RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng2.Close(ctx)
	})
	if _, _, err := eng2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if eng2.Pending() != 0 {
			return fmt.Errorf("%d pending after restart", eng2.Pending())
		}
		return nil
	})
	// Every reply in the recovered world: before the loss, or after.
	replies := map[string]int{} // reply body → times sent
	for k := range before {
		replies[k.Body]++
	}
	for _, s := range sender2.sentSoFar() {
		replies[s.Body]++
	}
	for _, m := range ackedBeforeCrash {
		n := 0
		for body, c := range replies {
			if len(body) > len(m.Body) && body[len(body)-len(m.Body)-2:] == ": "+m.Body {
				n += c
			}
		}
		if n != 1 {
			t.Errorf("message %s (%q), acknowledged before the power loss, answered %d times; want exactly once (replies %v)", m.MessageSID, m.Body, n, replies)
		}
	}
	if len(ackedBeforeCrash) == 0 {
		t.Fatal(errors.New("no message was acknowledged before the power loss"))
	}
}

// flakySync is a store whose first flushes fail as a dropped connection
// would: the writes are in, only the flush failed.
type flakySync struct {
	*sqlite.DB
	fail atomic.Int32
}

func (f *flakySync) Sync(ctx context.Context) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("read tcp: connection reset by peer")
	}
	return f.DB.Sync(ctx)
}

// TestFailedFlushIsRetried: when a flush fails but the store still works
// (a dropped connection), the committer flushes again instead of failing
// the writes that were already in: the webhook is acknowledged, and the
// message is answered once (one reply, one outbox row, one user and one
// assistant event). The message is flushed on its own (no sync wait), so
// its flush is a Sync.
func TestFailedFlushIsRetried(t *testing.T) {
	var flaky *flakySync
	f := newFixtureSync(t, "FULL", time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, func(o *Options) {
		flaky = &flakySync{DB: o.Store.(*sqlite.DB)}
		flaky.fail.Store(3)
		o.Store = flaky
		o.SyncWait = -1
	})
	m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: "SMflaky", ProjectID: f.project.ID, StageID: f.stage.ID,
		From: "+15550009999", To: ourNumber, Body: "hello"}
	if _, err := f.eng.Accept(context.Background(), m); err != nil {
		t.Fatalf("accept: %v (the flush is retried, so the message is acknowledged)", err)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return fmt.Errorf("%d pending", f.eng.Pending())
		}
		return nil
	})
	if flaky.fail.Load() >= 0 {
		t.Fatalf("the failing flushes were never tried")
	}
	convs := f.conversations()
	if len(convs) != 1 {
		t.Fatalf("%d conversations", len(convs))
	}
	rows, _, err := f.st.ListOutbound(context.Background(), convs[0].ID, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := f.st.ListEvents(context.Background(), convs[0].ID, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	messages := 0
	for _, e := range evs {
		if e.EventType == store.EventMessage {
			messages++
		}
	}
	if got := f.sender.to("+15550009999"); len(got) != 1 || len(rows) != 1 || messages != 2 {
		t.Fatalf("replies %q, %d outbox rows, %d message events; want one reply, one row, two events", got, len(rows), messages)
	}
}
