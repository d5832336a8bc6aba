package storetest

import (
	"context"
	"testing"

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
