package storetest

import (
	"database/sql"
	"encoding/json"
	"io/fs"
	"testing"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// UpgradeToTurns checks migration 0007 (one row per turn) on data the
// older layout wrote: raw is an empty database of the store's engine, own
// the store's migrations and d its dialect; open opens the store on raw's
// database (applying the remaining migrations). Nothing the older layout
// stored may be lost or change its meaning: the conversation's events
// keep their ids and order and new ones follow them, an unsent reply is
// still sent (PendingOutbox) and its result recorded, an unanswered
// message still gets its turn, and a status callback for a message sent
// before the upgrade (its URL names no row) still finds it by its SID.
func UpgradeToTurns(t *testing.T, d *sqlcore.Dialect, raw *sql.DB, own fs.FS, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	if err := d.MigrateTo(ctx, raw, own, 6); err != nil {
		t.Fatalf("migrate to version 6: %v", err)
	}
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	deadline := at.Add(30 * time.Minute)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, d.Q(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO projects (id, name, description, created_at, updated_at, version) VALUES ('proj_old', 'old', '', ?, ?, 1)`, d.Time(at), d.Time(at))
	exec(`INSERT INTO conversations (id, project_id, stage_id, agent_id, user_id, channel_provider_id, channel_address, status,
		status_details, metadata, deadline, created_at, updated_at, version)
		VALUES ('conv_old', 'proj_old', 'stag_x', '', '+15551230000', 'prov_chan', '+15550000001', 'active', NULL, NULL, ?, ?, ?, 1)`,
		d.Time(deadline), d.Time(at), d.Time(at))
	for _, e := range []struct{ typ, data string }{
		{store.EventConversationStart, `{}`},
		{store.EventMessage, `{"role":"user","text":"old question"}`},
		{store.EventMessage, `{"role":"assistant","text":"old answer"}`},
	} {
		exec(`INSERT INTO events (conversation_id, event_type, event_data, created_at) VALUES ('conv_old', ?, ?, ?)`, e.typ, e.data, d.Time(at))
	}
	for _, o := range []struct{ state, sid string }{{store.OutboxSent, "SMold"}, {store.OutboxPending, ""}} {
		exec(`INSERT INTO outbound_messages (project_id, conversation_id, provider_id, from_address, to_address, body, part, parts,
			state, attempts, error_code, error_message, twilio_sid, delivery_status, created_at, updated_at)
			VALUES ('proj_old', 'conv_old', 'prov_chan', '+15550000001', '+15551230000', 'old answer', 1, 1, ?, 1, 0, '', ?, '', ?, ?)`,
			o.state, o.sid, d.Time(at), d.Time(at))
	}
	exec(`INSERT INTO inbound_messages (provider_id, message_sid, idempotency_token, project_id, stage_id, agent_id,
		from_address, to_address, body, media_urls, profile_name, received_at, state, conversation_id)
		VALUES ('prov_chan', 'SMin', 'tok', 'proj_old', 'stag_x', '', '+15551230000', '+15550000001', 'unanswered', NULL, '', ?, 'pending', '')`,
		d.Time(at))

	s := open(t)
	oldEvents := listAll(t, s, "conv_old")
	if len(oldEvents) != 3 || oldEvents[1].EventType != store.EventMessage {
		t.Fatalf("events after the upgrade: %+v", oldEvents)
	}
	c, err := s.GetConversation(ctx, "proj_old", "conv_old")
	must(t, err)
	if !c.Deadline.Equal(deadline) {
		t.Fatalf("deadline after the upgrade %v, want %v", c.Deadline, deadline)
	}
	pendingOut, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(pendingOut) != 1 || pendingOut[0].State != store.OutboxPending || pendingOut[0].ConversationID != "conv_old" {
		t.Fatalf("pending outbox after the upgrade: %+v", pendingOut)
	}
	pendingIn, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pendingIn) != 1 || pendingIn[0].Body != "unanswered" {
		t.Fatalf("pending inbound after the upgrade: %+v", pendingIn)
	}

	// A callback for the message sent before the upgrade: found by SID.
	o, err := s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMold", Status: "delivered"})
	must(t, err)
	if o.DeliveryStatus != "delivered" || o.ConversationID != "conv_old" {
		t.Fatalf("callback for an old message: %+v", o)
	}
	// The old unsent row is sent; its result and delivery event recorded.
	ev, _ := json.Marshal(map[string]any{"outboxId": pendingOut[0].ID, "state": store.OutboxSent})
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: pendingOut[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMresent", Event: ev}))
	got, err := s.GetOutbound(ctx, pendingOut[0].ID)
	must(t, err)
	if got.State != store.OutboxSent || got.TwilioSID != "SMresent" {
		t.Fatalf("old row after its send: %+v", got)
	}

	// The unanswered message gets its turn in the new layout.
	turn := &store.Turn{ConversationID: "conv_old", InboundIDs: []int64{pendingIn[0].ID}, Deadline: deadline.Add(time.Minute),
		Events: []store.Event{messageEvent("user", "unanswered"), messageEvent("assistant", "new answer")},
		Outbox: []*store.OutboundMessage{{ProjectID: "proj_old", ProviderID: "prov_chan", From: "+15550000001", To: "+15551230000",
			Body: "new answer", Part: 1, Parts: 1}}}
	must(t, s.CommitTurns(ctx, []*store.Turn{turn}))
	all := listAll(t, s, "conv_old")
	if len(all) != 6 {
		t.Fatalf("events after a new turn: %d, want 6 (3 old, the old row's delivery, 2 new): %+v", len(all), all)
	}
	for i, e := range all[:3] {
		if e.ID != oldEvents[i].ID {
			t.Fatalf("old event %d changed its id: %d, was %d", i, e.ID, oldEvents[i].ID)
		}
	}
	if all[3].EventType != store.EventDelivery || all[4].ID != turn.Events[0].ID || all[5].ID != turn.Events[1].ID {
		t.Fatalf("events after a new turn, in id order: %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("event ids not increasing: %+v", all)
		}
	}
	hist, err := s.RecentMessages(ctx, "conv_old", 10)
	must(t, err)
	var texts []string
	for _, e := range hist {
		var m store.MessageData
		must(t, json.Unmarshal(e.EventData, &m))
		texts = append(texts, m.Role+":"+m.Text)
	}
	if want := []string{"user:old question", "assistant:old answer", "user:unanswered", "assistant:new answer"}; !equalStrings(texts, want) {
		t.Fatalf("history across the upgrade %q, want %q", texts, want)
	}
	if n, err := s.CountUserMessages(ctx, "conv_old"); err != nil || n != 2 {
		t.Fatalf("user messages across the upgrade: %d, %v; want 2", n, err)
	}
	rows, _, err := s.ListOutbound(ctx, "conv_old", store.ListOptions{OrderBy: []store.Order{{Field: "id"}}})
	must(t, err)
	if len(rows) != 3 || rows[2].ID != turn.Outbox[0].ID || rows[2].ID <= rows[1].ID || rows[0].DeliveryStatus != "delivered" {
		t.Fatalf("outbox across the upgrade: %+v", rows)
	}
	if pendingIn, err = s.PendingInbound(ctx); err != nil || len(pendingIn) != 0 {
		t.Fatalf("pending inbound after its turn: %+v, %v", pendingIn, err)
	}
	if c, err = s.GetConversation(ctx, "proj_old", "conv_old"); err != nil || !c.Deadline.Equal(deadline.Add(time.Minute)) {
		t.Fatalf("deadline after a new turn: %+v, %v", c, err)
	}
}

// listAll returns every event of a conversation in id order.
func listAll(t *testing.T, s store.Store, conv string) []*store.Event {
	t.Helper()
	evs, _, err := s.ListEvents(t.Context(), conv, store.ListOptions{Limit: 1000, OrderBy: []store.Order{{Field: "id"}}})
	must(t, err)
	return evs
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
