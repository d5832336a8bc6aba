package api

import (
	"net/http"

	"net/url"
	"strings"
	"switchboard/store"
	"testing"
	"time"
)

// TestListContractBonsaiExamples pins the examples of Bonsai's
// docs/api/pagination.md and the console's requests (its generated client
// sends nested objects with axios's brackets) on Switchboard's lists.
func TestListContractBonsaiExamples(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	ids := map[string]string{}
	for _, n := range []string{"beta", "Alpha", "gamma"} {
		ids[n] = e.project(tok, n)
		e.advance(time.Second)
	}
	names := func(items []map[string]any) string {
		var out []string
		for _, it := range items {
			out = append(out, it["name"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ query, want string }{
		// Response format: items, total, offset, limit (default 100).
		{"", "gamma,Alpha,beta"}, // Bonsai's default order: -createdAt
		{"orderBy=name", "Alpha,beta,gamma"},
		{"orderBy=-createdAt", "gamma,Alpha,beta"},
		{"orderBy=name&orderBy=-createdAt", "Alpha,beta,gamma"},
		{"orderBy[]=-name", "gamma,beta,Alpha"}, // axios's array form
		{"filters[name]=beta", "beta"},
		{"filters[name][]=beta&filters[name][]=gamma", "gamma,beta"},
		{"filters[name][op]=like&filters[name][value]=%25a", "gamma,Alpha,beta"},
		{"filters[name][op]=nin&filters[name][value][0]=beta&filters[name][value][1]=gamma", "Alpha"},
		{"filters[name][op]=ne&filters[name][value]=beta&orderBy=name", "Alpha,gamma"},
		{"filters[id]=" + ids["Alpha"], "Alpha"},
		{"filters%5Bname%5D%5Bop%5D=eq&filters%5Bname%5D%5Bvalue%5D=gamma", "gamma"}, // as axios encodes it
		{"textSearch=ALP", "Alpha"},
		{"textSearch=a&filters[name][op]=ne&filters[name][value]=gamma", "Alpha,beta"},
		// The console's two project lists: archived=false is every project;
		// Switchboard does not archive, so archived=true is empty.
		{"offset=0&limit=1000&orderBy=name&archived=false", "Alpha,beta,gamma"},
		{"offset=0&limit=1000&orderBy=name&archived=true", ""},
		{"offset=1&limit=1&orderBy=name", "beta"},
	} {
		r := e.do("GET", "/api/projects?"+tc.query, tok, nil).want(http.StatusOK)
		m := r.obj()
		if got := names(r.items(int(m["total"].(float64)), int(m["offset"].(float64)), int(m["limit"].(float64)))); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
		if tc.query == "" && (m["limit"].(float64) != 100 || m["offset"].(float64) != 0 || m["total"].(float64) != 3) {
			t.Errorf("default page %v", m)
		}
		if strings.Contains(tc.query, "archived=true") && m["total"].(float64) != 0 {
			t.Errorf("archived total %v", m["total"])
		}
	}
	// Bonsai's example filters[status]=active names a field projects do not
	// have: Switchboard says so rather than ignoring it.
	e.do("GET", "/api/projects?filters[status]=active", tok, nil).wantField("filters[status]")
	e.do("GET", "/api/projects?filters[status][]=active&filters[status][]=draft", tok, nil).wantField("filters[status]")
	e.do("GET", "/api/projects?orderBy=status", tok, nil).wantField("orderBy")
	e.do("GET", "/api/projects?archived=maybe", tok, nil).wantField("archived")

	// Bonsai's audit example: filters[createdAt][op]=gte with a date.
	today := e.now().UTC().Format("2006-01-02")
	r := e.do("GET", "/api/audit-logs?filters[createdAt][op]=gte&filters[createdAt][value]="+today+"&filters[entityType]=project&orderBy=-createdAt", tok, nil).want(http.StatusOK)
	if items := r.items(3, 0, 100); items[0]["entityId"] != ids["gamma"] {
		t.Errorf("audit since today: %v", items)
	}
	tomorrow := e.now().UTC().Add(24 * time.Hour).Format("2006-01-02")
	e.do("GET", "/api/audit-logs?filters[createdAt][op]=gte&filters[createdAt][value]="+tomorrow, tok, nil).items(0, 0, 100)
	// The console's date range: between two ISO times, both included.
	from, to := url.QueryEscape(e.now().Add(-time.Hour).Format(time.RFC3339Nano)), url.QueryEscape(e.now().Add(time.Hour).Format(time.RFC3339Nano))
	e.do("GET", "/api/audit-logs?filters[entityType]=project&filters[createdAt][op]=between&filters[createdAt][value][]="+from+
		"&filters[createdAt][value][]="+to, tok, nil).items(3, 0, 100)
}

// TestEveryListTakesTheContract: each list route reads the parameters
// (a search, an order, a filter on one of its fields) and refuses a field
// it does not have, naming it.
func TestEveryListTakesTheContract(t *testing.T) {
	e := newEnv(t)
	tok, pid, sid, active, _ := shapesFixture(t, e)
	conv := "/api/projects/" + pid + "/conversations/" + active.ID
	for _, tc := range []struct{ path, good string }{
		{"/api/projects", "filters[name][op]=like&filters[name][value]=%25&orderBy=-updatedAt&textSearch=a"},
		{"/api/projects/" + pid + "/agents", "filters[projectId]=" + pid + "&orderBy=name&textSearch=x"},
		{"/api/projects/" + pid + "/stages", "filters[id]=" + sid + "&orderBy=-name&textSearch=tag:vip"},
		{"/api/providers", "filters[providerType]=channel&orderBy=apiType&textSearch=twilio"},
		{"/api/api-keys", "filters[isActive]=true&orderBy=lastUsedAt&textSearch=x"},
		{"/api/projects/" + pid + "/api-keys", "filters[isActive]=false&orderBy=-createdAt"},
		{"/api/operators", "filters[roles]=super_admin&orderBy=email&textSearch=tag:super_admin"},
		{"/api/projects/" + pid + "/conversations", "filters[status][op]=in&filters[status][value][]=awaiting_user_input&orderBy=-createdAt&textSearch=conv"},
		{conv + "/events", "filters[eventType]=message&orderBy=timestamp&textSearch=mess"},
		{conv + "/messages", "filters[state]=sent&orderBy=-createdAt&textSearch=hi"},
		{"/api/projects/" + pid + "/users", "filters[conversationCount][op]=gte&filters[conversationCount][value]=1&orderBy=-updatedAt&textSearch=%2B1"},
		{"/api/audit-logs", "filters[action]=CREATE&orderBy=createdAt&textSearch=project"},
		{"/api/projects/" + pid + "/classifiers", "filters[name]=x&orderBy=-updatedAt&textSearch=x"},
		{"/api/environments", "filters[url]=x&orderBy=login"},
		{"/api/issues", "filters[projectId]=" + pid + "&filters[severity]=critical&limit=1"},
	} {
		e.do("GET", tc.path+"?"+tc.good, tok, nil).want(http.StatusOK)
		e.do("GET", tc.path+"?filters[nope]=1", tok, nil).wantField("filters[nope]")
		e.do("GET", tc.path+"?orderBy=-nope", tok, nil).wantField("orderBy")
		e.do("GET", tc.path+"?limit=1001", tok, nil).wantField("limit")
	}
}

// TestOutboundListPages: a conversation's outbound parts are a page like
// every list (they were one unpaged array before).
func TestOutboundListPages(t *testing.T) {
	e := newEnv(t)
	tok, pid, _, active, _ := shapesFixture(t, e)
	var parts []*store.OutboundMessage
	for i := 1; i <= 2; i++ {
		parts = append(parts, &store.OutboundMessage{ProjectID: pid, ConversationID: active.ID, ProviderID: active.ChannelProviderID,
			From: "+15550000000", To: active.UserID, Body: "part", Part: i, Parts: 2, State: store.OutboxPending})
	}
	if err := e.st.CommitTurns(t.Context(), []*store.Turn{{ConversationID: active.ID, Outbox: parts}}); err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + pid + "/conversations/" + active.ID + "/messages"
	r := e.do("GET", base+"?limit=1&orderBy=id", tok, nil).want(http.StatusOK)
	m := r.obj()
	if m["limit"].(float64) != 1 || m["offset"].(float64) != 0 {
		t.Fatalf("page %v", m)
	}
	total := int(m["total"].(float64))
	if total != 2 {
		t.Fatalf("total %d, want 2", total)
	}
	e.do("GET", base+"?filters[part]=2", tok, nil).items(1, 0, 100)
	all := e.do("GET", base+"?orderBy=id", tok, nil).items(total, 0, 100)
	desc := e.do("GET", base, tok, nil).items(total, 0, 100)
	for i := range all {
		if all[i]["id"] != desc[len(desc)-1-i]["id"] {
			t.Fatalf("newest first is not the reverse of id order: %v / %v", all, desc)
		}
	}
}
