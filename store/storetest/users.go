package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"switchboard/store"
)

// testUsers checks the users of a project: its conversations' senders,
// summed up per address over every number of the project, newest first,
// with their opt-out state; and one user's conversations.
func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")

	// No conversations, no users.
	us, total, err := s.ListUsers(ctx, proj.ID, store.ListOptions{})
	must(t, err)
	if us == nil || len(us) != 0 || total != 0 {
		t.Fatalf("empty project lists %v, total %d", us, total)
	}

	const sms, wa = "+15551110001", "whatsapp:+15551110002"
	newUserConv := func(projectID, from, providerID, to string, metadata ...string) *store.Conversation {
		t.Helper()
		c := &store.Conversation{ProjectID: projectID, StageID: "stag_x", UserID: from, ChannelProviderID: providerID,
			ChannelAddress: to, Deadline: time.Now().Add(time.Hour)}
		if len(metadata) > 0 {
			c.Metadata = json.RawMessage(metadata[0])
		}
		must(t, s.CreateConversation(ctx, c, store.Event{EventType: store.EventConversationStart}))
		return c
	}
	// The SMS user texts two of the project's numbers (two providers);
	// its first conversation is finished.
	first := newUserConv(proj.ID, sms, "prov_a", "+15550000001")
	must(t, s.EndConversation(ctx, first.ID, nil, store.Event{EventType: store.EventConversationEnd}))
	second := newUserConv(proj.ID, sms, "prov_b", "+15550000002", `{"profileName":"Bo"}`)
	// The engine keeps the WhatsApp profile name in the metadata.
	waConv := newUserConv(proj.ID, wa, "prov_a", "whatsapp:+15550000001", `{"channel":"whatsapp","profileName":"Ann"}`)
	// The same address in another project is another project's user.
	newUserConv(other.ID, sms, "prov_a", "+15550000001")
	// The SMS user opted out on prov_b; the WhatsApp user opted out on a
	// provider it never texted through in this project, then back in on
	// prov_a.
	must(t, s.SetOptOut(ctx, "prov_b", sms, true))
	must(t, s.SetOptOut(ctx, "prov_z", wa, true))
	must(t, s.SetOptOut(ctx, "prov_a", wa, true))
	must(t, s.SetOptOut(ctx, "prov_a", wa, false))

	// The WhatsApp user's conversation is the latest touched: end it.
	must(t, s.EndConversation(ctx, waConv.ID, nil, store.Event{EventType: store.EventConversationEnd}))
	waConv, err = s.GetConversation(ctx, proj.ID, waConv.ID)
	must(t, err)
	second, err = s.GetConversation(ctx, proj.ID, second.ID)
	must(t, err)
	first, err = s.GetConversation(ctx, proj.ID, first.ID)
	must(t, err)

	wantSMS := &store.User{ProjectID: proj.ID, Address: sms, Channel: store.ChannelSMS, ConversationCount: 2,
		FirstContactAt: first.CreatedAt, LastContactAt: latest(first.UpdatedAt, second.UpdatedAt), OptedOut: true, ProfileName: "Bo"}
	wantWA := &store.User{ProjectID: proj.ID, Address: wa, Channel: store.ChannelWhatsApp, ConversationCount: 1,
		FirstContactAt: waConv.CreatedAt, LastContactAt: waConv.UpdatedAt, OptedOut: false, ProfileName: "Ann"}
	if !wantWA.LastContactAt.After(wantSMS.LastContactAt) && !wantWA.LastContactAt.Equal(wantSMS.LastContactAt) {
		t.Fatalf("clock went back: %v before %v", wantWA.LastContactAt, wantSMS.LastContactAt)
	}

	// Newest (first contact) first, Bonsai's default; the WhatsApp user
	// came last (and in a tie, "whatsapp:…" sorts after "+…", descending
	// first).
	us, total, err = s.ListUsers(ctx, proj.ID, store.ListOptions{})
	must(t, err)
	if total != 2 || len(us) != 2 {
		t.Fatalf("list: %d users, total %d; want 2", len(us), total)
	}
	wantEqual(t, "list", us, []*store.User{wantWA, wantSMS})
	// Oldest first, by address, by conversation count.
	for _, tc := range []struct {
		order []store.Order
		want  []*store.User
	}{
		{[]store.Order{{Field: "createdAt"}}, []*store.User{wantSMS, wantWA}},
		{[]store.Order{{Field: "id", Desc: true}}, []*store.User{wantWA, wantSMS}},
		{[]store.Order{{Field: "conversationCount", Desc: true}}, []*store.User{wantSMS, wantWA}},
		{[]store.Order{{Field: "conversationCount"}, {Field: "id"}}, []*store.User{wantWA, wantSMS}},
	} {
		got, _, err := s.ListUsers(ctx, proj.ID, store.ListOptions{OrderBy: tc.order})
		must(t, err)
		wantEqual(t, "users ordered by "+tc.order[0].Field, got, tc.want)
	}
	// Filters on the address and on the sums.
	for _, tc := range []struct {
		f    store.Filter
		want []*store.User
	}{
		{store.Filter{Field: "id", Op: store.OpEq, Values: []string{wa}}, []*store.User{wantWA}},
		{store.Filter{Field: "conversationCount", Op: store.OpGte, Values: []string{"2"}}, []*store.User{wantSMS}},
		{store.Filter{Field: "createdAt", Op: store.OpGt, Values: []string{first.CreatedAt.Format(time.RFC3339Nano)}}, []*store.User{wantWA}},
		{store.Filter{Field: "updatedAt", Op: store.OpGte, Values: []string{first.CreatedAt.Format(time.RFC3339Nano)}}, []*store.User{wantWA, wantSMS}},
		{store.Filter{Field: "id", Op: store.OpLike, Values: []string{"WHATSAPP:%"}}, []*store.User{wantWA}},
	} {
		got, total, err := s.ListUsers(ctx, proj.ID, store.ListOptions{Filters: []store.Filter{tc.f}})
		must(t, err)
		if total != len(tc.want) {
			t.Fatalf("users %s %s: total %d, want %d", tc.f.Field, tc.f.Op, total, len(tc.want))
		}
		wantEqual(t, "users "+tc.f.Field+" "+tc.f.Op, got, tc.want)
	}
	_, _, err = s.ListUsers(ctx, proj.ID, store.ListOptions{Filters: []store.Filter{{Field: "profile", Op: store.OpEq, Values: []string{"x"}}}})
	wantCode(t, err, store.EINVALID)

	// Paging: total counts users, not conversations.
	page, total, err := s.ListUsers(ctx, proj.ID, store.ListOptions{Offset: 1, Limit: 1})
	must(t, err)
	if total != 2 || len(page) != 1 || page[0].Address != us[1].Address {
		t.Fatalf("page 2 of 1: %+v, total %d", page, total)
	}
	page, total, err = s.ListUsers(ctx, proj.ID, store.ListOptions{Offset: 5})
	must(t, err)
	if page == nil || len(page) != 0 || total != 2 {
		t.Fatalf("past the end: %v, total %d", page, total)
	}

	// Search: a part of the address.
	for _, tt := range []struct {
		search string
		want   []string
	}{
		{"whatsapp:", []string{wa}},
		{"5551110001", []string{sms}},
		{"+1555111000", []string{sms, wa}},
		{"5559", nil},
		// Bonsai searches the profile name too: the WhatsApp profile name
		// of any of the user's conversations, ignoring ASCII case.
		{"aNN", []string{wa}},
	} {
		found, total, err := s.ListUsers(ctx, proj.ID, store.ListOptions{Search: tt.search})
		must(t, err)
		var got []string
		for _, u := range found {
			got = append(got, u.Address)
		}
		slices.Sort(got)
		if total != len(tt.want) || !slices.Equal(got, tt.want) {
			t.Fatalf("search %q: %v, total %d; want %v", tt.search, got, total, tt.want)
		}
	}
	// A user found by its name still sums all its conversations.
	found, total, err := s.ListUsers(ctx, proj.ID, store.ListOptions{Search: "ann"})
	must(t, err)
	if total != 1 {
		t.Fatalf("search by name: total %d", total)
	}
	wantEqual(t, "found by name", found[0], wantWA)
	found, _, err = s.ListUsers(ctx, proj.ID, store.ListOptions{Search: "BO"})
	must(t, err)
	wantEqual(t, "found by the name of one of its conversations", found, []*store.User{wantSMS})
	found, total, err = s.ListUsers(ctx, proj.ID, store.ListOptions{Search: "+1555111000", Offset: 1, Limit: 1})
	must(t, err)
	if total != 2 || len(found) != 1 || found[0].Address != us[1].Address {
		t.Fatalf("search, page 2 of 1: %+v, total %d", found, total)
	}

	// One user.
	got, err := s.GetUser(ctx, proj.ID, sms)
	must(t, err)
	wantEqual(t, "get sms user", got, wantSMS)
	got, err = s.GetUser(ctx, proj.ID, wa)
	must(t, err)
	wantEqual(t, "get whatsapp user", got, wantWA)
	_, err = s.GetUser(ctx, proj.ID, "+15559999999")
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetUser(ctx, proj.ID, "")
	wantCode(t, err, store.ENOTFOUND)
	// In the other project the SMS address texted through prov_a only,
	// where it has not opted out: opt-outs count through the providers of
	// the project's own conversations.
	got, err = s.GetUser(ctx, other.ID, sms)
	must(t, err)
	if got.ConversationCount != 1 || got.OptedOut || got.ProjectID != other.ID {
		t.Fatalf("other project's user %+v", got)
	}
	_, err = s.GetUser(ctx, other.ID, wa)
	wantCode(t, err, store.ENOTFOUND)

	// A user's conversations (a filter on userId), newest first like
	// every conversation list, of this project only.
	user := func(id string) []store.Filter {
		return []store.Filter{{Field: "userId", Op: store.OpEq, Values: []string{id}}}
	}
	cs, total, err := s.ListConversations(ctx, proj.ID, store.ListOptions{Filters: user(sms)})
	must(t, err)
	if total != 2 || len(cs) != 2 || cs[0].ID != second.ID || cs[1].ID != first.ID {
		t.Fatalf("sms user's conversations %+v, total %d", cs, total)
	}
	cs, total, err = s.ListConversations(ctx, proj.ID, store.ListOptions{Offset: 1, Limit: 1, Filters: user(sms)})
	must(t, err)
	if total != 2 || len(cs) != 1 || cs[0].ID != first.ID {
		t.Fatalf("sms user's second page %+v, total %d", cs, total)
	}
	cs, total, err = s.ListConversations(ctx, other.ID, store.ListOptions{Filters: user(wa)})
	must(t, err)
	if len(cs) != 0 || total != 0 {
		t.Fatalf("other project lists %d conversations of the whatsapp user", total)
	}
	cs, total, err = s.ListConversations(ctx, proj.ID, store.ListOptions{Filters: user("+15559999999")})
	must(t, err)
	if cs == nil || len(cs) != 0 || total != 0 {
		t.Fatalf("unknown user's conversations %v, total %d", cs, total)
	}

	// Deleting a user's conversations forgets the user.
	must(t, s.DeleteConversation(ctx, proj.ID, waConv.ID, waConv.Version))
	_, err = s.GetUser(ctx, proj.ID, wa)
	wantCode(t, err, store.ENOTFOUND)
	_, total, err = s.ListUsers(ctx, proj.ID, store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("after delete: total %d users, want 1", total)
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
