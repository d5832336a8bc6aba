package sqlcore

import (
	"slices"
	"testing"
	"time"

	"switchboard/store"
)

// TestSweeper: consumed ids and turns with send results wait for their
// sweep (a second, or SweepMax of them), a failed sweep is retried first,
// and a turn without a row (a bare turn, which marks its messages done
// itself) adds no inbound ids.
func TestSweeper(t *testing.T) {
	var s Sweeper
	t0 := time.Unix(1000, 0)
	s.Add([]*store.Turn{{ConversationID: "conv_a", InboundIDs: []int64{1, 2}},
		{InboundIDs: []int64{9}, OutboxUpdates: []store.OutboxUpdate{{ID: 5*TurnStride + 1}, {ID: 5 * TurnStride}}}})
	w := s.Take(t0)
	if !slices.Equal(w.Inbound, []int64{1, 2}) || !slices.Equal(w.Turns, []int64{5}) {
		t.Fatalf("first sweep %+v, want inbound [1 2], turns [5]", w)
	}
	if qs, args := w.Statements(); len(qs) != 2 || len(args[0]) != 2 || len(args[1]) != 1 {
		t.Fatalf("statements %q %v", qs, args)
	}
	s.Add([]*store.Turn{{ConversationID: "conv_a", InboundIDs: []int64{3}}})
	if w := s.Take(t0.Add(SweepEvery / 2)); !w.Empty() {
		t.Fatalf("sweep within SweepEvery of the last: %+v", w)
	}
	w = s.Take(t0.Add(SweepEvery))
	if !slices.Equal(w.Inbound, []int64{3}) {
		t.Fatalf("sweep after SweepEvery: %+v", w)
	}
	s.Add([]*store.Turn{{ConversationID: "conv_a", InboundIDs: []int64{4}}})
	s.Done(w, false)
	if w := s.Take(t0.Add(3 * SweepEvery)); !slices.Equal(w.Inbound, []int64{3, 4}) {
		t.Fatalf("sweep after a failed one: %+v, want [3 4]", w)
	}
	many := make([]int64, SweepMax+7)
	for i := range many {
		many[i] = int64(100 + i)
	}
	s.Add([]*store.Turn{{ConversationID: "conv_a", InboundIDs: many}})
	now := t0.Add(3 * SweepEvery) // no time has passed: SweepMax is due anyway
	if w := s.Take(now); len(w.Inbound) != SweepMax || w.Inbound[0] != 100 {
		t.Fatalf("a full sweep took %d ids", len(w.Inbound))
	}
	if w := s.Take(now); !w.Empty() {
		t.Fatalf("the rest is not due yet: %+v", w)
	}
}

// TestEncodeTurnBounds: a turn whose events and parts outnumber its ids,
// or whose parts go to several recipients, is refused.
func TestEncodeTurnBounds(t *testing.T) {
	at := time.Unix(2000, 0).UTC()
	big := &store.Turn{ConversationID: "conv_a", Events: make([]store.Event, TurnStride)}
	big.Outbox = []*store.OutboundMessage{{To: "+1", Body: "x"}}
	if _, err := EncodeTurn(big, at); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("%d events and a part: %v, want EINVALID", TurnStride, err)
	}
	two := &store.Turn{ConversationID: "conv_a", Outbox: []*store.OutboundMessage{{To: "+1", Body: "x"}, {To: "+2", Body: "y"}}}
	if _, err := EncodeTurn(two, at); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("parts to two recipients: %v, want EINVALID", err)
	}
	ok := &store.Turn{ConversationID: "conv_a", Events: []store.Event{{EventType: store.EventMessage}},
		Outbox: []*store.OutboundMessage{{To: "+1", Body: "x"}, {To: "+1", Body: "y", State: store.OutboxSkipped}}}
	r, err := EncodeTurn(ok, at)
	if err != nil || r.Unsent != 1 || ok.Events[0].CreatedAt != at || ok.Outbox[0].State != store.OutboxPending {
		t.Fatalf("row %+v, err %v, turn %+v", r, err, ok)
	}
	ok.AssignIDs(7)
	if ok.Events[0].ID != 7*TurnStride || ok.Outbox[1].ID != 7*TurnStride+1 {
		t.Fatalf("ids %d, %d", ok.Events[0].ID, ok.Outbox[1].ID)
	}
	if turn, j := SplitOutboxID(ok.Outbox[1].ID); turn != 7 || j != 1 {
		t.Fatalf("split %d: %d, %d", ok.Outbox[1].ID, turn, j)
	}
}
