package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// bonsaiUserKeys are the fields of Bonsai's UserResponse (the console's
// src/api/generated/data-contracts.ts and Bonsai's
// src/http/contracts/user.ts): id, projectId, profile, banned, banReason
// (optional, nullable), createdAt, updatedAt; archived is optional and
// Switchboard has no archived projects.
var bonsaiUserKeys = []string{"id", "projectId", "profile", "banned", "banReason", "createdAt", "updatedAt"}

// switchboardUserKeys are what Switchboard adds to a user (users.go).
var switchboardUserKeys = []string{"channel", "address", "conversationCount", "firstContactAt", "lastContactAt", "optedOut"}

// newUserConversation stores a conversation of sender from on a number of
// the project through providerID.
func newUserConversation(t *testing.T, e *env, projectID, from, providerID string) *store.Conversation {
	t.Helper()
	c := &store.Conversation{ProjectID: projectID, StageID: "stag_x", UserID: from, ChannelProviderID: providerID,
		ChannelAddress: "+15550009999", Deadline: time.Now().Add(time.Hour)}
	if err := e.st.CreateConversation(t.Context(), c, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUsersShape: a user is Bonsai's UserResponse plus Switchboard's
// documented fields, with the values the project's conversations and
// opt-outs give; its id is the conversations' userId.
func TestUsersShape(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	const sms, wa = "+15550001111", "whatsapp:+15550002222"
	c1 := newUserConversation(t, e, pid, sms, "prov_a")
	if err := e.st.EndConversation(t.Context(), c1.ID, nil, store.Event{EventType: store.EventConversationEnd}); err != nil {
		t.Fatal(err)
	}
	newUserConversation(t, e, pid, sms, "prov_b")
	cw := &store.Conversation{ProjectID: pid, StageID: "stag_x", UserID: wa, ChannelProviderID: "prov_a",
		ChannelAddress: "whatsapp:+15550009999", Deadline: time.Now().Add(time.Hour),
		Metadata: json.RawMessage(`{"channel":"whatsapp","profileName":"Ann"}`)}
	if err := e.st.CreateConversation(t.Context(), cw, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetOptOut(t.Context(), "prov_a", wa, true); err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + pid + "/users"

	items := e.do("GET", base, tok, nil).items(2, 0, 100)
	want := append(slices.Clone(bonsaiUserKeys), switchboardUserKeys...)
	slices.Sort(want)
	for _, it := range items {
		var keys []string
		for k := range it {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("user keys %v, want %v", keys, want)
		}
	}

	g := e.do("GET", base+"/"+wa, tok, nil).want(http.StatusOK).obj()
	if g["id"] != wa || g["projectId"] != pid || g["banned"] != false || g["banReason"] != nil ||
		g["channel"] != "whatsapp" || g["address"] != wa || g["conversationCount"] != float64(1) || g["optedOut"] != true {
		t.Fatalf("whatsapp user %v", g)
	}
	if p, _ := g["profile"].(map[string]any); p["channel"] != "whatsapp" || p["optedOut"] != true || p["name"] != "Ann" || len(p) != 3 {
		t.Fatalf("profile %v", g["profile"])
	}
	for _, k := range []string{"createdAt", "updatedAt", "firstContactAt", "lastContactAt"} {
		s, _ := g[k].(string)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Fatalf("%s = %v: not an ISO 8601 time", k, g[k])
		}
	}
	if g["createdAt"] != g["firstContactAt"] || g["updatedAt"] != g["lastContactAt"] {
		t.Fatalf("createdAt/updatedAt are not first/last contact: %v", g)
	}
	if at, _ := time.Parse(time.RFC3339Nano, g["createdAt"].(string)); !at.Equal(cw.CreatedAt) {
		t.Fatalf("createdAt %v, want the conversation's %v", at, cw.CreatedAt)
	}

	s := e.do("GET", base+"/"+url.PathEscape(sms), tok, nil).want(http.StatusOK).obj()
	if s["id"] != sms || s["channel"] != "sms" || s["conversationCount"] != float64(2) || s["optedOut"] != false {
		t.Fatalf("sms user %v", s)
	}
	if p, _ := s["profile"].(map[string]any); p["channel"] != "sms" || p["optedOut"] != false || len(p) != 2 {
		t.Fatalf("sms profile %v (no name: SMS has none)", s["profile"])
	}

	// The console's search box: a part of the address.
	found := e.do("GET", base+"?textSearch=WhatsApp", tok, nil).items(1, 0, 100)
	if found[0]["id"] != wa {
		t.Fatalf("search whatsapp: %v", found)
	}
	found = e.do("GET", base+"?textSearch=%2B1555000111", tok, nil).items(1, 0, 100)
	if found[0]["id"] != sms {
		t.Fatalf("search +1555000111: %v", found)
	}
	e.do("GET", base+"?textSearch=+1555000", tok, nil).items(2, 0, 100) // "+" unencoded: a space
	e.do("GET", base+"?textSearch=nobody", tok, nil).items(0, 0, 100)
	e.do("GET", base+"?textSearch="+strings.Repeat("1", 201), tok, nil).wantField("textSearch")

	// Paging and 404s.
	page := e.do("GET", base+"?offset=1&limit=1", tok, nil).items(2, 1, 1)
	if len(page) != 1 || page[0]["id"] != items[1]["id"] {
		t.Fatalf("second page %v", page)
	}
	e.do("GET", base+"/+15559999999", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/proj_nope/users", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/proj_nope/users/"+sms, tok, nil).wantError(http.StatusNotFound)
	e.do("GET", base+"?limit=x", tok, nil).wantField("limit")

	// Another project has none of them.
	other := e.project(tok, "other")
	e.do("GET", "/api/projects/"+other+"/users", tok, nil).items(0, 0, 100)
	e.do("GET", "/api/projects/"+other+"/users/"+sms, tok, nil).wantError(http.StatusNotFound)
}

// TestUsersConversationFilter: the console's user detail lists the user's
// conversations with filters[userId][op]=eq&filters[userId][value]=<id>
// (axios's encoding of {filters: {userId: {op: 'eq', value}}}); the plain
// filters[userId]=<id> works too.
func TestUsersConversationFilter(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	const sms, wa = "+15550001111", "whatsapp:+15550002222"
	newUserConversation(t, e, pid, sms, "prov_a")
	cw := newUserConversation(t, e, pid, wa, "prov_a")
	base := "/api/projects/" + pid + "/conversations"
	e.do("GET", base, tok, nil).items(2, 0, 100)

	for _, q := range []string{
		"filters[userId][op]=eq&filters[userId][value]=" + url.QueryEscape(wa),
		"filters[userId]=" + url.QueryEscape(wa),
		"limit=100&orderBy=-createdAt&filters%5BuserId%5D%5Bop%5D=eq&filters%5BuserId%5D%5Bvalue%5D=whatsapp:%2B15550002222",
	} {
		items := e.do("GET", base+"?"+q, tok, nil).items(1, 0, 100)
		if items[0]["id"] != cw.ID || items[0]["userId"] != wa {
			t.Fatalf("%s: %v", q, items)
		}
	}
	e.do("GET", base+"?filters[userId]=%2B15559999999", tok, nil).items(0, 0, 100)
	// Any operator, several users (Bonsai's contract).
	e.do("GET", base+"?filters[userId][op]=ne&filters[userId][value]="+url.QueryEscape(wa), tok, nil).items(1, 0, 100)
	e.do("GET", base+"?filters[userId][]="+url.QueryEscape(sms)+"&filters[userId][]="+url.QueryEscape(wa), tok, nil).items(2, 0, 100)
	e.do("GET", base+"?filters[userId][op]=eq", tok, nil).wantField("filters[userId]")
}

// TestUsersReadOnly: creating, changing or deleting a user is refused
// with Bonsai-only features' 400, and changes nothing; a user's history
// is an empty array.
func TestUsersReadOnly(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	const sms = "+15550001111"
	newUserConversation(t, e, pid, sms, "prov_a")
	base := "/api/projects/" + pid + "/users"
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", base, map[string]any{"id": "u1", "profile": map[string]any{"name": "x"}}},
		{"PUT", base + "/" + sms, map[string]any{"profile": map[string]any{"name": "x"}}},
		{"PUT", base + "/" + sms, map[string]any{"banned": true, "banReason": "spam"}},
		{"DELETE", base + "/" + sms, nil},
	} {
		msg := e.do(r.method, r.path, tok, r.body).wantError(http.StatusBadRequest)
		if !strings.Contains(msg, "does not support creating, editing or deleting users") {
			t.Fatalf("%s %s: %q", r.method, r.path, msg)
		}
	}
	g := e.do("GET", base+"/"+sms, tok, nil).want(http.StatusOK).obj()
	if p, _ := g["profile"].(map[string]any); p["name"] != nil || g["banned"] != false {
		t.Fatalf("user changed: %v", g)
	}
	e.do("GET", base, tok, nil).items(1, 0, 100)
	if body := strings.TrimSpace(string(e.do("GET", base+"/"+sms+"/audit-logs", tok, nil).want(http.StatusOK).body)); body != "[]" {
		t.Fatalf("user history = %s", body)
	}
}

// TestUsersLogPath: a user's address in a request path is masked where a
// failed request's path is logged; other paths are logged as they are.
func TestUsersLogPath(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/api/projects/p1/users/+15551234567", "/api/projects/p1/users/+1555…4567"},
		{"/api/projects/p1/users/whatsapp:+15551234567/audit-logs", "/api/projects/p1/users/whatsapp:+1555…4567/audit-logs"},
		{"/api/projects/p1/users/someone", "/api/projects/p1/users/…"},
		{"/api/projects/p1/users", "/api/projects/p1/users"},
		{"/api/projects/users/stages", "/api/projects/users/stages"},
		{"/api/operators/users", "/api/operators/users"},
	} {
		r, _ := http.NewRequest("GET", "http://x"+tt.path, nil)
		if got := logPath(r); got != tt.want {
			t.Errorf("logPath(%s) = %s, want %s", tt.path, got, tt.want)
		}
	}
}
