package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"switchboard/store"
)

// testDeferredCommit: a deferred batch is visible at once (its inbound
// messages pending, duplicates recognised, its turn applied) before any
// flush, Sync succeeds, and the store counts the work.
func testDeferredCommit(t *testing.T, s store.Store) {
	d, ok := s.(store.DeferredCommitter)
	if !ok {
		t.Fatalf("%T does not defer durability", s)
	}
	sr, ok := s.(store.StatsReporter)
	if !ok {
		t.Fatalf("%T does not count its work", s)
	}
	ctx := context.Background()
	before := sr.Stats()
	m1 := &store.InboundMessage{ProviderID: "prov_d", MessageSID: "SMdeferred1", ProjectID: "proj_d", StageID: "stag_d", From: "+15550001", To: "+15550002", Body: "one"}
	m2 := &store.InboundMessage{ProviderID: "prov_d", MessageSID: "SMdeferred2", ProjectID: "proj_d", StageID: "stag_d", From: "+15550001", To: "+15550002", Body: "two"}
	res, err := d.CommitBatchDeferred(ctx, []*store.InboundMessage{m1, m2}, nil)
	if err != nil || len(res) != 2 || res[0].Duplicate || res[1].Duplicate || res[0].ID == 0 || res[1].ID <= res[0].ID {
		t.Fatalf("deferred commit: %+v, %v", res, err)
	}
	pend, err := s.PendingInbound(ctx)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending after a deferred commit: %d messages, %v; want both visible before any flush", len(pend), err)
	}
	again := *m1
	again.ID = 0
	res, err = d.CommitBatchDeferred(ctx, []*store.InboundMessage{&again}, []*store.Turn{{InboundIDs: []int64{m2.ID}}})
	if err != nil || !res[0].Duplicate || res[0].ID != m1.ID {
		t.Fatalf("deferred duplicate: %+v, %v", res, err)
	}
	pend, err = s.PendingInbound(ctx)
	if err != nil || len(pend) != 1 || pend[0].ID != m1.ID {
		t.Fatalf("pending after the deferred turn: %+v, %v; want only %d", pend, err, m1.ID)
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	after := sr.Stats()
	if c := after.Commits - before.Commits; c != 2 {
		t.Errorf("%d commits counted, want 2", c)
	}
	if st := after.Statements - before.Statements; st < 4 {
		t.Errorf("%d statements counted, want at least 4 (two inserts, a duplicate insert, a turn)", st)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after sync: %v", err)
	}
}

// testDeliveryInBatch: a status callback committed in a batch (a bare
// turn's Delivery) updates the row its provider sent with the SID, like
// SetDeliveryStatus, and reports whether there was one; another
// provider's SID, or an unknown one, changes nothing and is not an error.
func testDeliveryInBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, rows := commitOutbox(t, s, 1)
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: c.ID,
		OutboxUpdates: []store.OutboxUpdate{{ID: rows[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMbatch1"}}}}))
	id := rows[0].ID
	ours := &store.DeliveryUpdate{ProviderID: rows[0].ProviderID, TwilioSID: "SMbatch1", Status: "delivered", OutboundID: id}
	other := &store.DeliveryUpdate{ProviderID: "prov_other", TwilioSID: "SMbatch1", Status: "failed", ErrorCode: 30003, OutboundID: id}
	unknown := &store.DeliveryUpdate{ProviderID: rows[0].ProviderID, TwilioSID: "SMnobody", Status: "delivered", OutboundID: id}
	must(t, s.CommitTurns(ctx, []*store.Turn{{Delivery: ours}, {Delivery: other}, {Delivery: unknown}}))
	if !ours.Found || other.Found || unknown.Found {
		t.Fatalf("found: ours %v, another provider's %v, unknown %v; want true, false, false", ours.Found, other.Found, unknown.Found)
	}
	got, err := s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if got.DeliveryStatus != "delivered" || got.ErrorCode != 0 {
		t.Fatalf("row after the batch: %+v; want delivered, no error code", got)
	}
	// A late "sent" does not move a delivered message back.
	late := &store.DeliveryUpdate{ProviderID: rows[0].ProviderID, TwilioSID: "SMbatch1", Status: "sent", OutboundID: id}
	must(t, s.CommitTurns(ctx, []*store.Turn{{Delivery: late}}))
	got, err = s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if !late.Found || got.DeliveryStatus != "delivered" {
		t.Fatalf("late sent: found %v, status %q; want found, still delivered", late.Found, got.DeliveryStatus)
	}
	// Only a bare turn may carry a delivery update.
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: c.ID, Delivery: ours}}), store.EINVALID)
}

// testDeadlineFromTurns: a conversation's deadline and updatedAt are its
// last turn's (with a deadline) while it is active, and stay so once it
// has ended, in reads and in lists filtered by deadline.
func testDeadlineFromTurns(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newProject(t, s, "deadlines")
	c := newConversation(t, s, p.ID, "+15559870001")
	d1 := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Microsecond)
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: c.ID, Deadline: d1, Events: []store.Event{messageEvent("user", "hi")}}}))
	// A turn without a deadline leaves it as it was.
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: c.ID, Events: []store.Event{messageEvent("assistant", "note")}}}))
	got, err := s.GetConversation(ctx, p.ID, c.ID)
	must(t, err)
	if !got.Deadline.Equal(d1) || got.UpdatedAt.Before(c.CreatedAt) {
		t.Fatalf("active: deadline %v updatedAt %v, want the turn's %v", got.Deadline, got.UpdatedAt, d1)
	}
	must(t, s.EndConversation(ctx, c.ID, json.RawMessage(`{"reason":"inactivity_timeout"}`), store.Event{}))
	ended, err := s.GetConversation(ctx, p.ID, c.ID)
	must(t, err)
	if ended.Status != store.ConversationFinished || !ended.Deadline.Equal(d1) || ended.UpdatedAt.Before(got.UpdatedAt) {
		t.Fatalf("ended: %+v; want finished with the last turn's deadline %v", ended, d1)
	}
	list, n, err := s.ListConversations(ctx, p.ID, store.ListOptions{Filters: []store.Filter{{Field: "deadline", Op: store.OpGte,
		Values: []string{d1.Add(-time.Second).Format(time.RFC3339Nano)}}}})
	must(t, err)
	if n != 1 || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("filter by the turn's deadline: %d found", n)
	}
}
