package storetest

import (
	"encoding/json"
	"testing"

	"switchboard/store"
)

// testConversationStatusFilter: a filter on status keeps only
// conversations with that stored status, and the total counts only those
// (the console's dashboard reads the total of a one-item page).
func testConversationStatusFilter(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")
	a1 := newConversation(t, s, proj.ID, "+15550000001")
	a2 := newConversation(t, s, proj.ID, "+15550000002")
	f := newConversation(t, s, proj.ID, "+15550000003")
	newConversation(t, s, other.ID, "+15550000004")
	must(t, s.EndConversation(ctx, f.ID, json.RawMessage(`{"reason":"test"}`), store.Event{EventType: store.EventConversationEnd}))

	for _, c := range []struct {
		status string
		want   []string
	}{
		{store.ConversationActive, []string{a2.ID, a1.ID}},
		{store.ConversationFinished, []string{f.ID}},
		{"nothing", nil},
		{"", []string{f.ID, a2.ID, a1.ID}},
	} {
		var opts store.ListOptions
		if c.status != "" {
			opts.Filters = []store.Filter{{Field: "status", Op: store.OpEq, Values: []string{c.status}}}
		}
		list, total, err := s.ListConversations(ctx, proj.ID, opts)
		must(t, err)
		if total != len(c.want) || len(list) != len(c.want) {
			t.Fatalf("status %q: %d of total %d, want %d", c.status, len(list), total, len(c.want))
		}
		for i, conv := range list {
			if conv.ID != c.want[i] {
				t.Fatalf("status %q: item %d = %s, want %s", c.status, i, conv.ID, c.want[i])
			}
		}
	}
	// A page of one still counts them all.
	list, total, err := s.ListConversations(ctx, proj.ID, store.ListOptions{Limit: 1,
		Filters: []store.Filter{{Field: "status", Op: store.OpEq, Values: []string{store.ConversationActive}}}})
	must(t, err)
	if total != 2 || len(list) != 1 {
		t.Fatalf("page of one: %d of total %d", len(list), total)
	}
}

// testGetEvent: one event by ID, only under its own conversation.
func testGetEvent(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15550000001")
	d := newConversation(t, s, proj.ID, "+15550000002")
	ev := messageEvent("user", "hi")
	ev.ConversationID = c.ID
	must(t, s.AppendEvents(ctx, []store.Event{ev}))
	evs, _, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for _, want := range evs {
		got, err := s.GetEvent(ctx, c.ID, want.ID)
		must(t, err)
		wantEqual(t, "get event", got, want)
	}
	_, err = s.GetEvent(ctx, d.ID, evs[1].ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetEvent(ctx, c.ID, evs[1].ID+1000)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetEvent(ctx, "conv_missing", evs[1].ID)
	wantCode(t, err, store.ENOTFOUND)
}
