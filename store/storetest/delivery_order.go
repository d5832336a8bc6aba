package storetest

import (
	"testing"

	"switchboard/store"
)

// testDeliveryStatusOrder checks the rank of every message status Twilio
// documents: a status of a lower rank that arrives late (callbacks are not
// ordered) never replaces one of a higher rank, and the final outcomes
// partially_delivered and canceled hold like delivered does.
func testDeliveryStatusOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := []struct {
		name string
		seq  []string // callbacks in arrival order
		want string
	}{
		{"early statuses advance", []string{"accepted", "queued", "sending", "sent"}, "sent"},
		{"scheduled then sent", []string{"scheduled", "sent"}, "sent"},
		{"partially delivered is final", []string{"sent", "partially_delivered", "sent", "sending", "queued"}, "partially_delivered"},
		{"late sent after partially delivered", []string{"partially_delivered", "sent"}, "partially_delivered"},
		{"canceled is final", []string{"scheduled", "canceled", "queued", "accepted"}, "canceled"},
		{"read follows partially delivered", []string{"partially_delivered", "read", "partially_delivered"}, "read"},
		{"late sending after delivered", []string{"delivered", "sending", "accepted"}, "delivered"},
	}
	_, rows := commitOutbox(t, s, len(cases))
	for i, tc := range cases {
		sid := "SMorder" + string(rune('a'+i))
		must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[i].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: sid}))
		for _, st := range tc.seq {
			_, err := s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: sid, Status: st, OutboundID: rows[i].ID})
			must(t, err)
		}
		got, err := s.GetOutbound(ctx, rows[i].ID)
		must(t, err)
		if got.DeliveryStatus != tc.want {
			t.Errorf("%s: %v ended as %q, want %q", tc.name, tc.seq, got.DeliveryStatus, tc.want)
		}
	}
}
