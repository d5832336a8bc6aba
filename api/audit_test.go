package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"switchboard/store"
	"switchboard/store/sealed"
	"switchboard/store/sqlite"
)

// auditList reads GET /api/audit-logs with the query and returns its
// entries after checking the list shape.
func (e *env) auditList(tok, query string) ([]*store.AuditEntry, int) {
	e.t.Helper()
	r := e.do("GET", "/api/audit-logs?"+query, tok, nil).want(http.StatusOK)
	var l struct {
		Items []*store.AuditEntry `json:"items"`
		Total int                 `json:"total"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil || l.Items == nil {
		e.t.Fatalf("audit list body: %v: %s", err, r.body)
	}
	return l.Items, l.Total
}

// entityAudit reads a per-entity audit route (a plain JSON array).
func (e *env) entityAudit(tok, path string) []*store.AuditEntry {
	e.t.Helper()
	r := e.do("GET", path, tok, nil).want(http.StatusOK)
	var es []*store.AuditEntry
	if err := json.Unmarshal(r.body, &es); err != nil || es == nil {
		e.t.Fatalf("per-entity audit body is not an array: %v: %s", err, r.body)
	}
	return es
}

func actions(es []*store.AuditEntry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return strings.Join(out, ",")
}

// TestAuditProviderSecrets: a provider's create, update (new token) and
// delete are recorded with the operator, old and new values, and neither
// the old nor the new raw token appears anywhere in the audit responses.
func TestAuditProviderSecrets(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	const secret1, secret2 = "tokAAAA1111bbbb2222cccc3333dd01", "tokZZZZ9999yyyy8888xxxx7777ww02"
	id := e.do("POST", "/api/providers", tok, map[string]any{
		"name": "line", "apiType": "twilio_messaging",
		"config": map[string]any{"accountSid": testSID, "authToken": secret1, "fromNumber": "+15551234567"},
	}).want(http.StatusCreated).str("id")
	v := e.do("PUT", "/api/providers/"+id, tok, map[string]any{
		"version": 1, "name": "line 2",
		"config": map[string]any{"accountSid": testSID, "authToken": secret2, "fromNumber": "+15551234567"},
	}).want(http.StatusOK).version()
	e.do("DELETE", fmt.Sprintf("/api/providers/%s?version=%d", id, v), tok, nil).want(http.StatusNoContent)

	for _, path := range []string{"/api/audit-logs?filters[entityType]=provider", "/api/providers/" + id + "/audit-logs"} {
		body := e.do("GET", path, tok, nil).want(http.StatusOK).body
		for _, s := range []string{secret1, secret2} {
			if strings.Contains(string(body), s) {
				t.Fatalf("%s leaks the token %s: %s", path, s, body)
			}
		}
		if !strings.Contains(string(body), "••••dd01") || !strings.Contains(string(body), "••••ww02") {
			t.Fatalf("%s: want the masked tokens: %s", path, body)
		}
	}
	es, total := e.auditList(tok, "filters[entityType]=provider")
	if total != 3 || actions(es) != "DELETE,UPDATE,CREATE" {
		t.Fatalf("provider entries = %s (%d)", actions(es), total)
	}
	for _, en := range es {
		if en.UserID != "admin" || en.EntityID != id || en.EntityType != "provider" || en.ProjectID != "" {
			t.Fatalf("entry = %+v", en)
		}
	}
	var old, upd map[string]any
	if err := json.Unmarshal(es[1].OldEntity, &old); err != nil || old["name"] != "line" {
		t.Fatalf("update oldEntity = %s", es[1].OldEntity)
	}
	if err := json.Unmarshal(es[1].NewEntity, &upd); err != nil || upd["name"] != "line 2" || upd["version"] != float64(2) {
		t.Fatalf("update newEntity = %s", es[1].NewEntity)
	}
	if es[0].NewEntity != nil || es[0].OldEntity == nil || es[2].OldEntity != nil || es[2].NewEntity == nil {
		t.Fatalf("delete/create snapshots: %+v / %+v", es[0], es[2])
	}
	// The client address is recorded.
	if es[0].ClientIP == "" {
		t.Fatalf("no client address: %+v", es[0])
	}
}

// TestAuditFailedCallsRecordNothing: 4xx answers change nothing and
// record nothing.
func TestAuditFailedCallsRecordNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	viewer := e.operator(admin, "vera", "viewer")
	pid := e.project(admin, "p")
	_, before := e.auditList(admin, "")

	e.do("POST", "/api/providers", admin, map[string]any{"name": "x"}).want(http.StatusBadRequest)
	e.do("PUT", "/api/projects/"+pid, admin, map[string]any{"version": 7, "name": "y"}).want(http.StatusConflict)
	e.do("PUT", "/api/projects/"+pid, admin, map[string]any{"version": 1, "name": ""}).want(http.StatusBadRequest)
	e.do("DELETE", "/api/projects/"+pid+"?version=9", admin, nil).want(http.StatusConflict)
	e.do("DELETE", "/api/providers/nope?version=1", admin, nil).want(http.StatusNotFound)
	e.do("POST", "/api/projects", viewer, map[string]any{"name": "z"}).want(http.StatusForbidden)
	e.do("DELETE", "/api/operators/admin?version=1", admin, nil).want(http.StatusConflict)
	e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "x", "name": "x", "password": "password-x"}).want(http.StatusConflict)

	es, after := e.auditList(admin, "")
	if after != before {
		t.Fatalf("failed calls recorded %d entries: %s", after-before, actions(es))
	}
}

// TestAuditEveryResource: each resource's create, update and delete is
// recorded once, with its project, and read back through its per-entity
// route, also after the resource is gone.
func TestAuditEveryResource(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	prov := e.scripted(tok)
	pid := e.project(tok, "p")
	pp := "/api/projects/" + pid

	type res struct {
		entityType, create, item, route string
		body                            map[string]any
		projectID                       string
	}
	resources := []res{
		{"operator", "/api/operators", "/api/operators/", "/api/operators/%s/audit-logs",
			map[string]any{"id": "olga", "name": "Olga", "password": "password-olga", "roles": []string{"viewer"}}, ""},
		{"project", "/api/projects", "/api/projects/", "/api/projects/%s/audit-logs", map[string]any{"name": "q"}, "self"},
		{"agent", pp + "/agents", pp + "/agents/", pp + "/agents/%s/audit-logs", map[string]any{"name": "a", "prompt": "x"}, pid},
		{"stage", pp + "/stages", pp + "/stages/", pp + "/stages/%s/audit-logs",
			map[string]any{"name": "s", "prompt": "x", "llmProviderId": prov}, pid},
		{"api_key", pp + "/api-keys", "/api/api-keys/", "/api/api-keys/%s/audit-logs", map[string]any{"name": "k"}, pid},
	}
	for _, rs := range resources {
		t.Run(rs.entityType, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			cr := e.do("POST", rs.create, tok, rs.body).want(http.StatusCreated)
			id := cr.str("id")
			if rs.entityType == "api_key" {
				if key := cr.str("key"); strings.Contains(string(e.do("GET", fmt.Sprintf(rs.route, id), tok, nil).body), key) {
					t.Fatal("the API key value is in the audit log")
				}
			}
			v := e.do("PUT", rs.item+id, tok, map[string]any{"version": 1, "name": "renamed"}).want(http.StatusOK).version()
			e.do("DELETE", fmt.Sprintf("%s%s?version=%d", rs.item, id, v), tok, nil).want(http.StatusNoContent)
			es := e.entityAudit(tok, fmt.Sprintf(rs.route, id))
			if actions(es) != "DELETE,UPDATE,CREATE" {
				t.Fatalf("entries = %s", actions(es))
			}
			wantProject := rs.projectID
			if wantProject == "self" {
				wantProject = id
			}
			for _, en := range es {
				if en.EntityType != rs.entityType || en.EntityID != id || en.UserID != "admin" || en.ProjectID != wantProject {
					t.Fatalf("entry = %+v", en)
				}
			}
			if strings.Contains(string(es[2].NewEntity), "$2a$") || strings.Contains(string(es[2].NewEntity), "password-") {
				t.Fatalf("password material in %s", es[2].NewEntity)
			}
		})
	}

	// The project-scoped API key route keeps to its project.
	kid := e.do("POST", pp+"/api-keys", tok, map[string]any{"name": "k2"}).want(http.StatusCreated).str("id")
	if es := e.entityAudit(tok, pp+"/api-keys/"+kid+"/audit-logs"); actions(es) != "CREATE" {
		t.Fatalf("project key route = %s", actions(es))
	}
	other := e.project(tok, "other")
	if es := e.entityAudit(tok, "/api/projects/"+other+"/api-keys/"+kid+"/audit-logs"); len(es) != 0 {
		t.Fatalf("another project's route shows %s", actions(es))
	}

	// A conversation's delete is recorded with the sender's number masked.
	c := &store.Conversation{ProjectID: pid, StageID: e.stage(tok, pid, prov), UserID: "+15557654321", ChannelProviderID: e.twilio(tok),
		ChannelAddress: "+15551234567", Deadline: time.Now().Add(time.Hour)}
	if err := e.st.CreateConversation(t.Context(), c, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	e.do("DELETE", fmt.Sprintf("%s/conversations/%s?version=1", pp, c.ID), tok, nil).want(http.StatusNoContent)
	es := e.entityAudit(tok, fmt.Sprintf("%s/conversations/%s/audit-logs", pp, c.ID))
	if actions(es) != "DELETE" || es[0].ProjectID != pid || strings.Contains(string(es[0].OldEntity), "7654321") {
		t.Fatalf("conversation entries = %+v: %s", es, es[0].OldEntity)
	}
}

// TestAuditAuthEvents: setup, logins (good and bad) and logout are in
// the log; a failed login of an unknown id has a null userId.
func TestAuditAuthEvents(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.do("POST", "/api/auth/login", "", map[string]any{"id": "ghost", "password": "whatever1"}).want(http.StatusUnauthorized)
	e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "wrong-password"}).want(http.StatusUnauthorized)
	tok := e.login("admin", "admin-password")
	e.do("POST", "/api/auth/logout", tok, nil).want(http.StatusNoContent)

	es, _ := e.auditList(admin, "orderBy=createdAt")
	if got := actions(es); got != "CREATE,LOGIN_FAILED,LOGIN_FAILED,LOGIN,LOGOUT" {
		t.Fatalf("actions = %s", got)
	}
	if es[0].UserID != "admin" || es[0].EntityID != "admin" {
		t.Fatalf("setup entry = %+v", es[0])
	}
	ghost := "unknown:" + store.HashKey("ghost")[:16]
	if es[1].UserID != "" || es[1].EntityID != ghost || !strings.Contains(string(es[1].NewEntity), "unknown operator") {
		t.Fatalf("unknown-id failure = %+v", es[1])
	}
	if strings.Contains(string(e.do("GET", "/api/audit-logs", admin, nil).body), "wrong-password") {
		t.Fatal("a password is in the audit log")
	}
	raw := e.do("GET", "/api/audit-logs?filters[action]=LOGIN_FAILED&filters[entityId]="+ghost, admin, nil).want(http.StatusOK).obj()
	item := raw["items"].([]any)[0].(map[string]any)
	if v, ok := item["userId"]; !ok || v != nil {
		t.Fatalf("userId of an anonymous event = %v (present %v), want null", v, ok)
	}
	if es[2].UserID != "" || es[2].EntityID != "admin" || es[3].UserID != "admin" || es[4].UserID != "admin" {
		t.Fatalf("entries = %+v", es)
	}
	e.do("GET", "/api/audit-logs", "", nil).wantError(http.StatusUnauthorized)
}

// TestAuditListFilters covers Bonsai's list parameters on /api/audit-logs.
func TestAuditListFilters(t *testing.T) {
	e := newEnv(t)
	admin := e.setup() // CREATE operator admin at t0
	t0 := e.now().UTC()
	dev := e.operator(admin, "dave", "developer") // CREATE operator dave (t0), LOGIN dave (t0)
	e.advance(time.Minute)
	pid := e.project(dev, "p") // t0+1m
	e.advance(time.Minute)
	e.do("PUT", "/api/projects/"+pid, dev, map[string]any{"version": 1, "name": "p2"}).want(http.StatusOK) // t0+2m
	e.advance(time.Minute)
	e.do("DELETE", "/api/projects/"+pid+"?version=2", admin, nil).want(http.StatusNoContent) // t0+3m

	ts := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339Nano)) }
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", "DELETE,UPDATE,CREATE,LOGIN,CREATE,CREATE"},
		{"orderBy=createdAt", "CREATE,CREATE,LOGIN,CREATE,UPDATE,DELETE"},
		{"orderBy=-createdAt", "DELETE,UPDATE,CREATE,LOGIN,CREATE,CREATE"},
		{"filters[entityType]=project", "DELETE,UPDATE,CREATE"},
		// A bare ?entityType= is no filter (Bonsai reads filters[...] only).
		{"entityType=project", "DELETE,UPDATE,CREATE,LOGIN,CREATE,CREATE"},
		{"filters[entityType][]=project&filters[entityType][]=operator&filters[action]=CREATE", "CREATE,CREATE,CREATE"},
		// Values compare exactly, as Bonsai's eq; like ignores ASCII case.
		{"filters[action]=update", ""},
		{"filters[action]=EXPLODE", ""},
		{"filters[action][op]=like&filters[action][value]=up%25", "UPDATE"},
		{"filters[action][op]=ne&filters[action][value]=CREATE", "DELETE,UPDATE,LOGIN"},
		{"filters[action][op]=nin&filters[action][value][]=CREATE&filters[action][value][]=LOGIN", "DELETE,UPDATE"},
		{"filters[action][op]=in&filters[action][value]=CREATE,LOGIN", "CREATE,LOGIN,CREATE,CREATE"},
		{"filters.action=LOGIN", "LOGIN"}, // qs's dot notation
		{"filters[userId][op]=like&filters[userId][value]=a%25", "DELETE,CREATE,CREATE"},
		{"orderBy=action&orderBy=-createdAt", "CREATE,CREATE,CREATE,DELETE,LOGIN,UPDATE"},
		{"orderBy[]=-action", "UPDATE,LOGIN,DELETE,CREATE,CREATE,CREATE"},
		{"textSearch=tag:x", "DELETE,UPDATE,CREATE,LOGIN,CREATE,CREATE"}, // Bonsai ignores tag searches here
		{"filters[action][0]=UPDATE&filters[action][1]=DELETE", "DELETE,UPDATE"},
		{"filters[action][op]=in&filters[action][value][]=LOGIN&filters[action][value][]=DELETE", "DELETE,LOGIN"},
		{"filters[userId]=dave", "UPDATE,CREATE,LOGIN"},
		{"filters[userId][op]=eq&filters[userId][value]=admin&filters[entityType]=project", "DELETE"},
		{"filters[entityId]=" + pid, "DELETE,UPDATE,CREATE"},
		{"filters[projectId]=" + pid, "DELETE,UPDATE,CREATE"},
		{"filters[createdAt][op]=gte&filters[createdAt][value]=" + ts(2*time.Minute), "DELETE,UPDATE"},
		{"filters[createdAt][op]=gt&filters[createdAt][value]=" + ts(2*time.Minute), "DELETE"},
		{"filters[createdAt][op]=lte&filters[createdAt][value]=" + ts(time.Minute), "CREATE,LOGIN,CREATE,CREATE"},
		{"filters[createdAt][op]=lt&filters[createdAt][value]=" + ts(time.Minute), "LOGIN,CREATE,CREATE"},
		{"filters[createdAt][op]=between&filters[createdAt][value][]=" + ts(time.Minute) + "&filters[createdAt][value][]=" + ts(2*time.Minute), "UPDATE,CREATE"},
		{"filters[createdAt][op]=between&filters[createdAt][value][0]=" + ts(time.Minute) + "&filters[createdAt][value][1]=" + ts(2*time.Minute), "UPDATE,CREATE"},
		// Index order, not query order or text order ([1] before [0] in the
		// query; [2] sorts before [10] as text).
		{"filters[createdAt][op]=between&filters[createdAt][value][1]=" + ts(2*time.Minute) + "&filters[createdAt][value][0]=" + ts(time.Minute), "UPDATE,CREATE"},
		{"filters[createdAt]=" + ts(3*time.Minute), "DELETE"},
		{"textSearch=DAV", "UPDATE,CREATE,LOGIN,CREATE"},
		{"textSearch=update", "UPDATE"},
		{"filters[createdAt][op]=gte&filters[createdAt][value]=" + t0.Add(24*time.Hour).Format("2006-01-02"), ""},
	} {
		es, total := e.auditList(admin, tc.query)
		if got := actions(es); got != tc.want || total != len(es) {
			t.Errorf("%s: actions = %q (total %d), want %q", tc.query, got, total, tc.want)
		}
	}

	// Paging.
	r := e.do("GET", "/api/audit-logs?offset=2&limit=3", admin, nil)
	items := r.items(6, 2, 3)
	if len(items) != 3 || items[0]["action"] != "CREATE" || items[1]["action"] != "LOGIN" {
		t.Fatalf("page = %v", items)
	}

	// Bad parameters are 400s naming the parameter.
	for _, tc := range []struct{ query, field string }{
		{"filters[createdAt][op]=gte&filters[createdAt][value]=yesterday", "filters[createdAt]"},
		{"filters[createdAt][op]=between&filters[createdAt][value]=" + ts(0), "filters[createdAt]"},
		{"filters[createdAt][op]=between&filters[createdAt][value][]=" + ts(time.Minute) + "&filters[createdAt][value][]=" + ts(0), "filters[createdAt]"},
		{"filters[createdAt][op]=like&filters[createdAt][value]=" + ts(0), "filters[createdAt]"},
		{"filters[createdAt][value]=" + ts(0), "filters[createdAt]"},
		{"filters[action][op]=regex&filters[action][value]=a", "filters[action]"},
		{"filters[action][op]=eq&filters[action][value][]=a&filters[action][value][]=b", "filters[action]"},
		{"filters[action][op]=in", "filters[action]"},
		{"filters[action]=a&filters[action][op]=eq&filters[action][value]=a", "filters[action]"},
		{"filters=x", "filters"},
		{"filters[]=x", "filters[]"},
		{"orderBy=-", "orderBy"},
		{"orderBy=entityType,colour", "orderBy"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"filters[colour]=red", "filters[colour]"},
		{"filters[entityType][x][y]=a", "filters[entityType][x][y]"},
		{"orderBy=name", "orderBy"},
		{"textSearch=" + strings.Repeat("a", 201), "textSearch"},
		{"limit=-1", "limit"},
		{"offset=x", "offset"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			e.do("GET", "/api/audit-logs?"+tc.query, admin, nil).wantField(tc.field)
		})
	}
}

// failingAudit is a store whose audit writes fail.
type failingAudit struct{ store.Store }

func (failingAudit) AppendAudit(context.Context, *store.AuditEntry) error {
	return errors.New("disk full")
}

// TestAuditWriteFailureCounted: a failed audit write does not fail the
// change it records; it is counted.
func TestAuditWriteFailureCounted(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	e := &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}
	New(failingAudit{st}, nil, Options{BcryptCost: bcrypt.MinCost, Now: e.now, Registerer: reg}).Register(e.router)
	tok := e.setup()
	e.project(tok, "p")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_audit_write_failures_total" {
			got = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 2 { // setup and project
		t.Fatalf("audit write failures = %v, want 2", got)
	}
}

// TestSecurityEventUnknownID: an id no operator has (often a password
// typed into the id field) is stored as a short hash, never as typed; a
// known operator's id is stored as is.
func TestSecurityEventUnknownID(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	typed := "my secret password " + strings.Repeat("é", 500)
	e.do("POST", "/api/auth/login", "", map[string]any{"id": typed, "password": "whatever1"}).want(http.StatusUnauthorized)
	e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "whatever1"}).want(http.StatusUnauthorized)
	es, _ := e.auditList(admin, "filters[action]=LOGIN_FAILED&orderBy=createdAt")
	if len(es) != 2 || es[0].EntityID != "unknown:"+store.HashKey(typed)[:16] || es[1].EntityID != "admin" {
		t.Fatalf("entries = %+v", es)
	}
	raw := string(e.do("GET", "/api/audit-logs", admin, nil).want(http.StatusOK).body)
	if strings.Contains(raw, "my secret password") {
		t.Fatal("the typed id is in the audit log")
	}
}

// TestAuditReadableByPermission: the audit log shows a role only the
// entries of entities it may read: support (no provider:read) sees no
// provider changes, even when it asks for them.
func TestAuditReadableByPermission(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.do("POST", "/api/providers", admin, map[string]any{"name": "L", "apiType": "scripted", "config": map[string]any{}}).want(http.StatusCreated)
	e.project(admin, "p")
	support := e.operator(admin, "sup", "support")
	if es, _ := e.auditList(support, "filters[entityType]=provider"); len(es) != 0 {
		t.Fatalf("support reads %d provider entries", len(es))
	}
	es, total := e.auditList(support, "")
	if total != len(es) || len(es) == 0 {
		t.Fatalf("support reads %d of %d entries", len(es), total)
	}
	for _, en := range es {
		if en.EntityType == store.AuditProvider || en.EntityType == store.AuditAPIKey {
			t.Fatalf("support reads a %s entry", en.EntityType)
		}
	}
	if all, _ := e.auditList(admin, "filters[entityType]=provider"); len(all) != 1 {
		t.Fatalf("admin reads %d provider entries, want 1", len(all))
	}
}

// TestAuditSealedStore: with provider secrets sealed at rest, the audit
// log holds neither the plaintext secret nor its ciphertext.
func TestAuditSealedStore(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	wrapped, err := sealed.Wrap(st, []byte(strings.Repeat("k", sealed.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}
	New(wrapped, nil, Options{BcryptCost: bcrypt.MinCost, Now: e.now}).Register(e.router)
	tok := e.setup()
	const secret1, secret2 = "sealedsecret0123456789abcdef01", "sealedsecret0123456789abcdef02"
	id := e.do("POST", "/api/providers", tok, map[string]any{
		"name": "ai", "apiType": "openai-legacy", "config": map[string]any{"apiKey": secret1},
	}).want(http.StatusCreated).str("id")
	e.do("PUT", "/api/providers/"+id, tok, map[string]any{"version": 1, "config": map[string]any{"apiKey": secret2}}).want(http.StatusOK)
	body := string(e.do("GET", "/api/providers/"+id+"/audit-logs", tok, nil).want(http.StatusOK).body)
	for _, s := range []string{secret1, secret2, "sealed:v1:"} {
		if strings.Contains(body, s) {
			t.Fatalf("audit log holds %q: %s", s, body)
		}
	}
	if !strings.Contains(body, "••••ef01") || !strings.Contains(body, "••••ef02") {
		t.Fatalf("want masked secrets: %s", body)
	}
}

// TestAuditFilterByID: the console's audit detail view reads one entry
// with filters[id][op]=eq&filters[id][value]=ID&limit=1 (Bonsai accepts id).
func TestAuditFilterByID(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.project(admin, "p1")
	e.project(admin, "p2")
	all, _ := e.auditList(admin, "filters[entityType]=project")
	if len(all) != 2 {
		t.Fatalf("%d project entries", len(all))
	}
	want := all[1]
	for _, q := range []string{"filters[id][op]=eq&filters[id][value]=" + want.ID + "&limit=1", "filters[id]=" + want.ID} {
		es, total := e.auditList(admin, q)
		if len(es) != 1 || total != 1 || es[0].ID != want.ID {
			t.Fatalf("%s: %d entries (total %d)", q, len(es), total)
		}
	}
	if es, _ := e.auditList(admin, "filters[id]=audt_nope"); len(es) != 0 {
		t.Fatalf("unknown id: %d entries", len(es))
	}
}
