package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// lostAckStore commits every batch and then reports failed those that
// carry a turn for which lose says so, as PostgreSQL does when its
// connection is lost after the commit went through: the outcome is
// unknown to the caller.
type lostAckStore struct {
	*sqlite.DB
	lose func(t *store.Turn) bool
	// loseInbound, when set, does the same to batches that carry an
	// inbound message it says so of.
	loseInbound func(m *store.InboundMessage) bool
}

var errConnLost = errors.New("connection lost after the commit was sent")

func (s *lostAckStore) lost(turns []*store.Turn, err error) error {
	if err != nil {
		return err
	}
	for _, t := range turns {
		if s.lose(t) {
			return errConnLost
		}
	}
	return nil
}

func (s *lostAckStore) lostInbound(msgs []*store.InboundMessage, err error) error {
	if err != nil || s.loseInbound == nil {
		return err
	}
	for _, m := range msgs {
		if s.loseInbound(m) {
			return errConnLost
		}
	}
	return nil
}

func (s *lostAckStore) CommitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	r, err := s.DB.CommitBatch(ctx, msgs, turns)
	if err := s.lostInbound(msgs, err); err != nil {
		return nil, err
	}
	return r, s.lost(turns, err)
}

func (s *lostAckStore) CommitBatchDeferred(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	r, err := s.DB.CommitBatchDeferred(ctx, msgs, turns)
	if err := s.lostInbound(msgs, err); err != nil {
		return nil, err
	}
	return r, s.lost(turns, err)
}

// TestLostCommitAcknowledgement: a turn whose commit went through but was
// reported failed is not committed again on the retry, and its reply is
// sent once: the engine asks the store (store.TurnFinder) before retrying.
// Without the check the retry writes a second turn for the same message
// and the sender gets two replies.
func TestLostCommitAcknowledgement(t *testing.T) {
	var toLose atomic.Int32
	toLose.Store(2) // the first turn of a new conversation, and a later one
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, func(o *Options) {
		o.Store = &lostAckStore{DB: o.Store.(*sqlite.DB), lose: func(t *store.Turn) bool {
			return t.ConversationID != "" && len(t.InboundIDs) > 0 && toLose.Add(-1) >= 0
		}}
	})
	f.text("+15551110000", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110000"); len(got) != 1 {
			return fmt.Errorf("replies %q", got)
		}
		return nil
	})
	f.text("+15551110000", "again")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110000"); len(got) != 2 {
			return fmt.Errorf("replies %q", got)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, f.eng.Close(ctx))
	if n := toLose.Load(); n > 0 {
		t.Fatalf("%d lost acknowledgements were not injected", n)
	}
	if got := f.sender.to("+15551110000"); len(got) != 2 || got[0] != "R1: hi" || got[1] != "R2: again" {
		t.Fatalf("replies %q, want one per message", got)
	}
	cs := f.conversations()
	if len(cs) != 1 {
		t.Fatalf("%d conversations, want 1", len(cs))
	}
	var users int
	for _, e := range f.events(cs[0].ID) {
		var m store.MessageData
		if e.EventType == store.EventMessage && json.Unmarshal(e.EventData, &m) == nil && m.Role == "user" {
			users++
		}
	}
	if users != 2 {
		t.Fatalf("%d user messages stored, want 2 (each turn written once)", users)
	}
	pending, err := f.st.PendingOutbox(ctx)
	must(t, err)
	if len(pending) != 0 {
		t.Fatalf("pending outbox after the replies: %+v", pending)
	}
}

// TestLostInboundAcknowledgement: an inbound message whose commit went
// through but was reported failed — the webhook answers an error, and
// Twilio's retry is a duplicate — is still answered, once, by the rescan
// of pending messages, and the sender's later message after it.
func TestLostInboundAcknowledgement(t *testing.T) {
	var toLose atomic.Int32
	toLose.Store(1)
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, func(o *Options) {
		o.RescanInterval = 100 * time.Millisecond
		o.Store = &lostAckStore{DB: o.Store.(*sqlite.DB), lose: func(*store.Turn) bool { return false },
			loseInbound: func(m *store.InboundMessage) bool { return m.Body == "lost" && toLose.Add(-1) >= 0 }}
	})
	m := &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: "SM" + fmt.Sprintf("%032d", 999),
		ProjectID: f.project.ID, StageID: f.stage.ID, From: "+15551110001", To: ourNumber, Body: "lost"}
	if _, err := f.eng.Accept(context.Background(), m); err == nil {
		t.Fatal("the lost acknowledgement was not injected")
	}
	// Twilio retries the webhook: the message is a duplicate now.
	retry := *m
	if res, err := f.eng.Accept(context.Background(), &retry); err != nil || !res.Duplicate {
		t.Fatalf("retry: %+v, %v; want a duplicate", res, err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110001"); len(got) != 1 {
			return fmt.Errorf("replies %q", got)
		}
		return nil
	})
	f.text("+15551110001", "next")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110001"); len(got) != 2 {
			return fmt.Errorf("replies %q", got)
		}
		return nil
	})
	// Several more rescans pass: none answers the message again.
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, f.eng.Close(ctx))
	if got := f.sender.to("+15551110001"); len(got) != 2 || got[0] != "R1: lost" || got[1] != "R2: next" {
		t.Fatalf("replies %q, want one per message in order", got)
	}
}
