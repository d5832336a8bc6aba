package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
)

// TestResumeKeepsActiveConversation: after a crash that left only an
// outbox row pending, Recover sends it; the session made for that must not
// end the sender's conversation before its stored deadline.
func TestResumeKeepsActiveConversation(t *testing.T) {
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}"}`, nil)
	from := "+15557770000"
	f.text(from, "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if len(f.sender.to(from)) != 1 {
			return fmt.Errorf("no reply")
		}
		return nil
	})
	ctx := context.Background()
	testutil.CheckFor(t, 5*time.Second, func() error { // the send result is recorded lazily
		if rows, _ := f.st.PendingOutbox(ctx); len(rows) != 0 {
			return fmt.Errorf("%d outbox rows still pending", len(rows))
		}
		return nil
	})
	cs := f.conversations()
	if len(cs) != 1 || cs[0].Status != store.ConversationActive {
		t.Fatalf("setup: %+v", cs)
	}
	// A reply written by a turn but not sent before a crash.
	must(t, f.st.CommitTurns(ctx, []*store.Turn{{ConversationID: cs[0].ID, Outbox: []*store.OutboundMessage{{
		ProjectID: f.project.ID, ProviderID: f.channel.ID, From: ourNumber, To: from, Body: "unsent", Part: 1, Parts: 1, State: store.OutboxPending}}}}))
	// "Restart": a fresh engine on the same store.
	eng2, err := New(f.eng.opts)
	must(t, err)
	defer eng2.Close(context.Background())
	if _, out, err := eng2.Recover(ctx); err != nil || out != 1 {
		t.Fatalf("recover %d %v", out, err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if len(f.sender.to(from)) != 2 || eng2.Pending() != 0 {
			return fmt.Errorf("resumed reply not sent yet")
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // an early expiry would have happened by now
	if eng2.LiveSessions() != 1 {
		t.Fatalf("%d live sessions, want the resumed session alive until its stored deadline", eng2.LiveSessions())
	}
	c, err := f.st.GetConversation(ctx, f.project.ID, cs[0].ID)
	must(t, err)
	if c.Status != store.ConversationActive {
		t.Fatalf("conversation within its 1h window was ended after restart: status=%s details=%s", c.Status, c.StatusDetails)
	}
}

type failNewConv struct {
	store.Store
	fails atomic.Int64
}

func (s *failNewConv) CommitTurns(ctx context.Context, turns []*store.Turn) error {
	for _, t := range turns {
		if t.NewConversation != nil && s.fails.Add(1) <= 8 {
			return errors.New("transient: database is locked")
		}
	}
	return s.Store.CommitTurns(ctx, turns)
}

// TestFailedFirstCommitLosesNothing: a first turn whose commit fails for a
// while must neither leave the session on a conversation that was never
// stored nor drop the next text.
func TestFailedFirstCommitLosesNothing(t *testing.T) {
	var fs *failNewConv
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, func(o *Options) {
		fs = &failNewConv{Store: o.Store}
		o.Store = fs
	})
	from := "+15558880000"
	f.text(from, "first")
	testutil.CheckFor(t, 20*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return fmt.Errorf("pending %d", f.eng.Pending())
		}
		return nil
	})
	f.text(from, "second")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return fmt.Errorf("pending %d", f.eng.Pending())
		}
		return nil
	})
	pend, _ := f.st.PendingInbound(context.Background())
	got := f.sender.to(from)
	if len(pend) != 0 || len(f.conversations()) != 1 || len(got) != 2 || got[0] != "R1: first" || got[1] != "R2: second" {
		t.Fatalf("replies %q, %d pending, %d conversations; want both texts answered in order in one conversation", got, len(pend), len(f.conversations()))
	}
}

// TestCommitterAnswersAfterClose: a commit request made after the
// committer stopped is refused, never left waiting.
func TestCommitterAnswersAfterClose(t *testing.T) {
	f := newFixture(t, time.Hour, store.APITypeScripted, `{}`, nil)
	c := newCommitter(f.st, 512, 0, 0, nil, nil)
	c.close()
	hung := 0
	for i := 0; i < 20; i++ {
		done := make(chan error, 1)
		go func() { done <- c.commitTurn(context.Background(), &store.Turn{}, 0) }()
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			hung++
		}
	}
	if hung > 0 {
		t.Fatalf("%d/20 commitTurn calls after close never returned", hung)
	}
}

// TestPanickingSessionKeepsItsState: a session that panics is restarted by
// its supervisor with the state it had (the state is handed from the
// failed instance to the new one), so the sender's next text continues the
// same conversation in the same session.
func TestPanickingSessionKeepsItsState(t *testing.T) {
	// Once armed, the clock panics when the session reads it while taking
	// a delivery, inside its Receive.
	var armed, panicked atomic.Bool
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}"}`, func(o *Options) {
		o.Now = func() time.Time {
			if armed.Load() {
				if pc, _, _, ok := runtime.Caller(1); ok && strings.HasSuffix(runtime.FuncForPC(pc).Name(), ".onDeliver") && armed.CompareAndSwap(true, false) {
					panicked.Store(true)
					panic("clock failure (test)")
				}
			}
			return time.Now()
		}
	})
	from := "+15557770001"
	f.text(from, "one")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to(from); len(got) != 1 || f.eng.Pending() != 0 {
			return fmt.Errorf("replies %v, %d pending", got, f.eng.Pending())
		}
		return nil
	})
	sessionIDs := func() []string {
		var ids []string
		f.eng.live.walk(10, func(s *sessionState) { ids = append(ids, s.id) })
		return ids
	}
	before := sessionIDs()
	armed.Store(true)
	f.text(from, "two") // its delivery panics inside the session
	testutil.CheckFor(t, 5*time.Second, func() error {
		if !panicked.Load() {
			return fmt.Errorf("the session has not panicked yet")
		}
		return nil
	})
	f.text(from, "three")
	testutil.CheckFor(t, 5*time.Second, func() error {
		// "two" stays pending in the store for the next start.
		if got := f.sender.to(from); len(got) != 2 || got[1] != "R2" {
			return fmt.Errorf("replies %v, want [R1 R2]", got)
		}
		return nil
	})
	// The same session answered: restarted in place, not stopped and
	// replaced by a successor.
	if after := sessionIDs(); len(before) != 1 || len(after) != 1 || after[0] != before[0] {
		t.Fatalf("sessions %v before the panic, %v after, want the same one", before, after)
	}
	// "two" is still pending: the drain times out and says so; a later
	// Close returns that at once instead of waiting again.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := f.eng.Close(ctx)
	if err == nil {
		t.Fatal("Close with a message unfinished returned nil")
	}
	start := time.Now()
	if again := f.eng.Close(context.Background()); again != err || time.Since(start) > time.Second {
		t.Fatalf("second Close: %v after %v, want the first's error (%v) at once", again, time.Since(start), err)
	}
	if cs := f.conversations(); len(cs) != 1 {
		t.Fatalf("%d conversations, want 1", len(cs))
	}
}

// holdSendResults is a store whose commits of send results wait until
// release is closed.
type holdSendResults struct {
	store.Store
	release chan struct{}
}

func (s *holdSendResults) CommitTurns(ctx context.Context, turns []*store.Turn) error {
	for _, t := range turns {
		if len(t.OutboxUpdates) > 0 {
			<-s.release
			break
		}
	}
	return s.Store.CommitTurns(ctx, turns)
}

// TestAwaitSendResult: a status callback can wait for a send's result
// that is queued but not yet committed, and learns at once when the
// engine has none for the SID.
func TestAwaitSendResult(t *testing.T) {
	hold := &holdSendResults{release: make(chan struct{})}
	f := newFixture(t, time.Hour, store.APITypeScripted, `{"defaultReply":"ok"}`, func(o *Options) {
		hold.Store = o.Store
		o.Store = hold
	})
	ctx := context.Background()
	if f.eng.AwaitSendResult(ctx, f.channel.ID, "SM_unknown") {
		t.Fatal("waited for a SID the engine never sent")
	}
	f.text("+15557770002", "hi")
	sid := fmt.Sprintf("SM%032d", 1) // the fake sender's first SID
	testutil.CheckFor(t, 5*time.Second, func() error {
		if f.sender.count() != 1 {
			return fmt.Errorf("not sent yet")
		}
		if _, ok := f.eng.unrecorded.Load(sentKey{f.channel.ID, sid}); !ok {
			return fmt.Errorf("send result not queued yet")
		}
		return nil
	})
	waited := make(chan bool)
	go func() { waited <- f.eng.AwaitSendResult(ctx, f.channel.ID, sid) }()
	select {
	case <-waited:
		t.Fatal("returned before the send result was committed")
	case <-time.After(50 * time.Millisecond):
	}
	if f.eng.AwaitSendResult(ctx, "prov_other", sid) {
		t.Fatal("another provider's callback waited on this provider's send")
	}
	close(hold.release)
	if !<-waited {
		t.Fatal("AwaitSendResult did not report the queued result")
	}
	rows, _, err := f.st.ListOutbound(ctx, f.conversations()[0].ID, store.ListOptions{OrderBy: []store.Order{{Field: "id"}}})
	must(t, err)
	if len(rows) != 1 || rows[0].TwilioSID != sid {
		t.Fatalf("outbox after the wait: %+v", rows)
	}
	if f.eng.AwaitSendResult(ctx, f.channel.ID, sid) {
		t.Fatal("still waiting on a committed result")
	}
}
