// Package storetest is the conformance suite of store.Store: every
// implementation runs Run against a real database and must pass it.
package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/store"
)

// Run runs the conformance suite. newStore must return a fresh, empty
// store for each call (it is called once per subtest) and arrange its
// cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"Operators", testOperators},
		{"OperatorRoles", testOperatorRoles},
		{"CreateFirstOperator", testCreateFirstOperator},
		{"CreateFirstOperatorConcurrent", testCreateFirstOperatorConcurrent},
		{"Tokens", testTokens},
		{"OperatorTokens", testOperatorTokens},
		{"TokenSessions", testTokenSessions},
		{"Providers", testProviders},
		{"Projects", testProjects},
		{"Agents", testAgents},
		{"Stages", testStages},
		{"StageProviderInUse", testStageProviderInUse},
		{"APIKeys", testAPIKeys},
		{"APIKeyAllowedLists", testAPIKeyAllowedLists},
		{"ListPaging", testListPaging},
		{"Conversations", testConversations},
		{"ActiveConversation", testActiveConversation},
		{"ActiveConversations", testActiveConversations},
		{"EndConversation", testEndConversation},
		{"Events", testEvents},
		{"ConversationStatusFilter", testConversationStatusFilter},
		{"GetEvent", testGetEvent},
		{"InboundCommit", testInboundCommit},
		{"InboundDedupe", testInboundDedupe},
		{"InboundDedupeInBatch", testInboundDedupeInBatch},
		{"InboundDedupeIdempotencyToken", testInboundDedupeToken},
		{"InboundDedupeConcurrent", testInboundDedupeConcurrent},
		{"DeferredCommit", testDeferredCommit},
		{"DeliveryInBatch", testDeliveryInBatch},
		{"DeadlineFromTurns", testDeadlineFromTurns},
		{"CommitTurns", testCommitTurns},
		{"CommitTurnsUnknownConversation", testCommitTurnsUnknownConversation},
		{"CommitTurnsBare", testCommitTurnsBare},
		{"CommitTurnsBareInvalid", testCommitTurnsBareInvalid},
		{"CommitTurnsNewConversation", testCommitTurnsNewConversation},
		{"CommitTurnsNewConversationConflict", testCommitTurnsNewConversationConflict},
		{"CommitTurnsOutboxUpdates", testCommitTurnsOutboxUpdates},
		{"CommitTurnsMixed", testCommitTurnsMixed},
		{"CommitBatch", testCommitBatch},
		{"CommitTurnsEnd", testCommitTurnsEnd},
		{"Outbox", testOutbox},
		{"OutboxMediaAndTemplate", testOutboxMediaAndTemplate},
		{"DeliveryStatus", testDeliveryStatus},
		{"DeliveryStatusOrder", testDeliveryStatusOrder},
		{"OptOuts", testOptOuts},
		{"Users", testUsers},
		{"ListOptions", testListOptions},
		{"ProjectCascadeDelete", testProjectCascade},
		{"ImportProject", testImportProject},
		{"Audit", testAudit},
		{"AuditTextSearchCase", testAuditTextSearchCase},
		{"Starts", testStarts},
		{"StartJobs", testStartJobs},
		{"ConversationDirection", testConversationDirection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// ---- helpers

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := store.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// checkNewMeta checks the Meta a create call sets.
func checkNewMeta(t *testing.T, m store.Meta, prefix string) {
	t.Helper()
	if !strings.HasPrefix(m.ID, prefix) || len(m.ID) != len(prefix)+24 {
		t.Fatalf("ID %q: want %s + 24 hex digits", m.ID, prefix)
	}
	if m.Version != 1 {
		t.Fatalf("Version = %d, want 1", m.Version)
	}
	if m.CreatedAt.IsZero() || !m.CreatedAt.Equal(m.UpdatedAt) {
		t.Fatalf("CreatedAt %v, UpdatedAt %v: want equal and set", m.CreatedAt, m.UpdatedAt)
	}
	if m.CreatedAt.Location() != time.UTC || m.CreatedAt.Nanosecond()%1000 != 0 {
		t.Fatalf("CreatedAt %v: want UTC, whole microseconds", m.CreatedAt)
	}
	if d := time.Since(m.CreatedAt); d < -time.Minute || d > time.Minute {
		t.Fatalf("CreatedAt %v is not now", m.CreatedAt)
	}
}

func ptr[T any](v T) *T { return &v }

func newProject(t *testing.T, s store.Store, name string) *store.Project {
	t.Helper()
	p := &store.Project{Name: name, Description: "d"}
	must(t, s.CreateProject(t.Context(), p))
	return p
}

func newLLMProvider(t *testing.T, s store.Store) *store.Provider {
	t.Helper()
	p := &store.Provider{Name: "llm", ProviderType: store.ProviderTypeLLM, APIType: store.APITypeScripted, Config: json.RawMessage(`{}`)}
	must(t, s.CreateProvider(t.Context(), p))
	return p
}

func newStage(t *testing.T, s store.Store, projectID, providerID string) *store.Stage {
	t.Helper()
	st := &store.Stage{ProjectID: projectID, Name: "stage", Prompt: "p", LLMProviderID: providerID,
		LLMSettings: store.LLMSettings{Model: "m"}, EnterBehavior: store.EnterAwaitUserInput}
	must(t, s.CreateStage(t.Context(), st))
	return st
}

func sessionKey(projectID, from string) store.SessionKey {
	return store.SessionKey{ProjectID: projectID, ChannelProviderID: "prov_chan", To: "+15550000001", From: from}
}

func newConversation(t *testing.T, s store.Store, projectID, from string) *store.Conversation {
	t.Helper()
	k := sessionKey(projectID, from)
	c := &store.Conversation{ProjectID: projectID, StageID: "stag_x", UserID: k.From, ChannelProviderID: k.ChannelProviderID,
		ChannelAddress: k.To, Metadata: json.RawMessage(`{"a":1}`), Deadline: time.Now().Add(time.Hour)}
	must(t, s.CreateConversation(t.Context(), c, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}))
	return c
}

func messageEvent(role, text string) store.Event {
	b, _ := json.Marshal(store.MessageData{Role: role, Text: text})
	return store.Event{EventType: store.EventMessage, EventData: b}
}

func inbound(sid string) *store.InboundMessage {
	return &store.InboundMessage{ProviderID: "prov_chan", MessageSID: sid, ProjectID: "proj_x", StageID: "stag_x",
		From: "+15551230000", To: "+15550000001", Body: "hello " + sid}
}

// crud describes one versioned resource for the shared CRUD checks.
type crud[T any] struct {
	prefix string                                     // the ID prefix
	make   func(i int) *T                             // a new, valid, unsaved record
	meta   func(*T) *store.Meta                       // its Meta
	change func(*T)                                   // changes every updatable field
	create func(*T) error                             // the store's Create
	get    func(id string) (*T, error)                // Get, scoped where the resource is
	list   func(store.ListOptions) ([]*T, int, error) // List, scoped likewise
	update func(*T, int64) error                      // Update
	delete func(id string, version int64) error       // Delete, scoped likewise
}

// checkCRUD runs the checks every versioned resource shares: create (with
// a generated and a given ID), get, duplicate IDs, update and delete with
// versions, not found, and a list.
func checkCRUD[T any](t *testing.T, c crud[T]) {
	t.Helper()
	a := c.make(1)
	must(t, c.create(a))
	checkNewMeta(t, *c.meta(a), c.prefix)
	got, err := c.get(c.meta(a).ID)
	must(t, err)
	wantEqual(t, "get after create", got, a)

	b := c.make(2)
	c.meta(b).ID = c.prefix + "given"
	must(t, c.create(b))
	if c.meta(b).ID != c.prefix+"given" {
		t.Fatalf("given ID replaced by %q", c.meta(b).ID)
	}
	dup := c.make(3)
	c.meta(dup).ID = c.prefix + "given"
	wantCode(t, c.create(dup), store.ECONFLICT)

	_, err = c.get(c.prefix + "missing")
	wantCode(t, err, store.ENOTFOUND)

	// Update with the right version.
	c.change(a)
	before := *c.meta(a)
	must(t, c.update(a, 1))
	m := c.meta(a)
	if m.Version != 2 || m.UpdatedAt.Before(before.CreatedAt) || !m.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("after update: meta %+v (before %+v)", *m, before)
	}
	got, err = c.get(m.ID)
	must(t, err)
	wantEqual(t, "get after update", got, a)

	// A stale version is a conflict that names the current one.
	stale := *got
	err = c.update(&stale, 1)
	wantCode(t, err, store.ECONFLICT)
	if !strings.Contains(store.ErrorMessage(err), "version mismatch: have 2") {
		t.Fatalf("conflict message %q", store.ErrorMessage(err))
	}
	got2, err := c.get(m.ID)
	must(t, err)
	wantEqual(t, "a failed update changes nothing", got2, a)

	missing := c.make(4)
	c.meta(missing).ID = c.prefix + "missing"
	wantCode(t, c.update(missing, 1), store.ENOTFOUND)

	// List: both records, newest first (Bonsai's default order).
	items, total, err := c.list(store.ListOptions{})
	must(t, err)
	if total != 2 || len(items) != 2 {
		t.Fatalf("list: %d items, total %d; want 2, 2", len(items), total)
	}
	wantOrder(t, items, c.meta)

	// Delete with versions.
	wantCode(t, c.delete(m.ID, 1), store.ECONFLICT)
	must(t, c.delete(m.ID, 2))
	_, err = c.get(m.ID)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, c.delete(m.ID, 2), store.ENOTFOUND)
	_, total, err = c.list(store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("total after delete = %d, want 1", total)
	}
}

// wantOrder checks that items are ordered newest first: by creation
// time, then ID, both descending.
func wantOrder[T any](t *testing.T, items []*T, meta func(*T) *store.Meta) {
	t.Helper()
	for i := 1; i < len(items); i++ {
		a, b := meta(items[i-1]), meta(items[i])
		if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID <= b.ID) {
			t.Fatalf("list out of order at %d: %s (%v) before %s (%v)", i, a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
}

// checkPaging creates n records and reads them back a page at a time,
// newest first.
func checkPaging[T any](t *testing.T, n int, create func(i int) *T, meta func(*T) *store.Meta, list func(store.ListOptions) ([]*T, int, error)) {
	t.Helper()
	var want []*store.Meta
	for i := range n {
		want = append(want, meta(create(i)))
	}
	sort.Slice(want, func(i, j int) bool {
		if !want[i].CreatedAt.Equal(want[j].CreatedAt) {
			return want[i].CreatedAt.After(want[j].CreatedAt)
		}
		return want[i].ID > want[j].ID
	})
	var got []string
	for off := 0; off < n+3; off += 3 {
		items, total, err := list(store.ListOptions{Offset: off, Limit: 3})
		must(t, err)
		if total != n {
			t.Fatalf("total = %d, want %d", total, n)
		}
		if items == nil {
			t.Fatal("list returned nil, want empty slice")
		}
		wantLen := min(3, max(0, n-off))
		if len(items) != wantLen {
			t.Fatalf("page at %d has %d items, want %d", off, len(items), wantLen)
		}
		for _, it := range items {
			got = append(got, meta(it).ID)
		}
	}
	var wantIDs []string
	for _, m := range want {
		wantIDs = append(wantIDs, m.ID)
	}
	wantEqual(t, "paged IDs", got, wantIDs)
}

// byID lists events and outbox rows oldest first (in ID order).
var byID = store.ListOptions{OrderBy: []store.Order{{Field: "id"}}}

// ---- tests

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(t.Context()))
}

func testOperators(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkCRUD(t, crud[store.Operator]{
		prefix: store.PrefixOperator,
		make: func(i int) *store.Operator {
			return &store.Operator{Name: fmt.Sprintf("op%d", i), PasswordHash: "hash", Roles: []string{"viewer"}, IsActive: true}
		},
		meta: func(o *store.Operator) *store.Meta { return &o.Meta },
		change: func(o *store.Operator) {
			o.Name, o.Roles, o.IsActive, o.PasswordHash = "renamed", []string{"super_admin", "viewer"}, false, "h2"
		},
		create: func(o *store.Operator) error { return s.CreateOperator(ctx, o) },
		get:    func(id string) (*store.Operator, error) { return s.GetOperator(ctx, id) },
		list:   func(o store.ListOptions) ([]*store.Operator, int, error) { return s.ListOperators(ctx, o) },
		update: func(o *store.Operator, v int64) error { return s.UpdateOperator(ctx, o, v) },
		delete: func(id string, v int64) error { return s.DeleteOperator(ctx, id, v) },
	})
	n, err := s.CountOperators(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("CountOperators = %d, want 1", n)
	}
}

func testOperatorRoles(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, roles := range [][]string{nil, {}, {"a", "b \"quoted\""}} {
		o := &store.Operator{Name: "x", PasswordHash: "h", Roles: roles}
		must(t, s.CreateOperator(ctx, o))
		got, err := s.GetOperator(ctx, o.ID)
		must(t, err)
		wantEqual(t, "roles", got.Roles, roles)
	}
}

func testCreateFirstOperator(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.CountOperators(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("fresh store has %d operators", n)
	}
	first := &store.Operator{Meta: store.Meta{ID: "admin"}, Name: "Admin", PasswordHash: "h", Roles: []string{"super_admin"}, IsActive: true}
	must(t, s.CreateFirstOperator(ctx, first))
	if first.ID != "admin" || first.Version != 1 {
		t.Fatalf("first operator meta %+v", first.Meta)
	}
	wantCode(t, s.CreateFirstOperator(ctx, &store.Operator{Name: "second", PasswordHash: "h"}), store.ECONFLICT)
	must(t, s.CreateOperator(ctx, &store.Operator{Name: "third", PasswordHash: "h"}))
	n, err = s.CountOperators(ctx)
	must(t, err)
	if n != 2 {
		t.Fatalf("CountOperators = %d, want 2", n)
	}
}

func testCreateFirstOperatorConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.CreateFirstOperator(ctx, &store.Operator{Name: fmt.Sprintf("op%d", i), PasswordHash: "h"})
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch store.ErrorCode(err) {
		case "":
			ok++
		case store.ECONFLICT:
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent CreateFirstOperator calls succeeded, want 1", ok)
	}
	count, err := s.CountOperators(ctx)
	must(t, err)
	if count != 1 {
		t.Fatalf("CountOperators = %d, want 1", count)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	op := &store.Operator{Name: "op", PasswordHash: "h"}
	must(t, s.CreateOperator(ctx, op))
	now := time.Now().UTC().Truncate(time.Microsecond)
	tok := &store.Token{Hash: "hash1", OperatorID: op.ID, Kind: store.TokenAccess, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateToken(ctx, tok))
	got, err := s.GetToken(ctx, "hash1", now)
	must(t, err)
	if got.OperatorID != op.ID || got.Kind != store.TokenAccess || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.CreatedAt.IsZero() {
		t.Fatalf("token %+v", got)
	}
	_, err = s.GetToken(ctx, "hash1", now.Add(2*time.Hour))
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetToken(ctx, "hash1", now.Add(time.Hour)) // expiry is exclusive
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetToken(ctx, "nope", now)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.CreateToken(ctx, &store.Token{Hash: "hash1", OperatorID: op.ID, Kind: store.TokenRefresh, ExpiresAt: now.Add(time.Hour)}), store.ECONFLICT)

	must(t, s.DeleteToken(ctx, "hash1"))
	_, err = s.GetToken(ctx, "hash1", now)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteToken(ctx, "hash1"), store.ENOTFOUND)

	// Deleting the operator deletes its tokens.
	must(t, s.CreateToken(ctx, &store.Token{Hash: "hash2", OperatorID: op.ID, Kind: store.TokenRefresh, ExpiresAt: now.Add(time.Hour)}))
	must(t, s.DeleteOperator(ctx, op.ID, op.Version))
	_, err = s.GetToken(ctx, "hash2", now)
	wantCode(t, err, store.ENOTFOUND)
}

func testProviders(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkCRUD(t, crud[store.Provider]{
		prefix: store.PrefixProvider,
		make: func(i int) *store.Provider {
			return &store.Provider{Name: fmt.Sprintf("p%d", i), Description: "desc", ProviderType: store.ProviderTypeChannel,
				APIType: store.APITypeTwilioMessaging, Config: json.RawMessage(`{"accountSid": "AC1",  "authToken":"t"}`), Tags: []string{"x"}}
		},
		meta: func(p *store.Provider) *store.Meta { return &p.Meta },
		change: func(p *store.Provider) {
			p.Name, p.Description, p.Config, p.Tags = "renamed", "", json.RawMessage(`{"b":[1,2]}`), nil
			p.ProviderType, p.APIType = store.ProviderTypeLLM, store.APITypeOllama
		},
		create: func(p *store.Provider) error { return s.CreateProvider(ctx, p) },
		get:    func(id string) (*store.Provider, error) { return s.GetProvider(ctx, id) },
		list:   func(o store.ListOptions) ([]*store.Provider, int, error) { return s.ListProviders(ctx, o) },
		update: func(p *store.Provider, v int64) error { return s.UpdateProvider(ctx, p, v) },
		delete: func(id string, v int64) error { return s.DeleteProvider(ctx, id, v) },
	})
	// Config is stored byte for byte; empty tags stay empty.
	p := &store.Provider{Name: "x", ProviderType: "llm", APIType: "scripted", Config: json.RawMessage("{ \"k\" : \"v\" }"), Tags: []string{}}
	must(t, s.CreateProvider(ctx, p))
	got, err := s.GetProvider(ctx, p.ID)
	must(t, err)
	if string(got.Config) != "{ \"k\" : \"v\" }" || got.Tags == nil || len(got.Tags) != 0 {
		t.Fatalf("config %q tags %#v", got.Config, got.Tags)
	}
}

func testProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkCRUD(t, crud[store.Project]{
		prefix: store.PrefixProject,
		make: func(i int) *store.Project {
			return &store.Project{Name: fmt.Sprintf("p%d", i), Description: "d", Timezone: ptr("Europe/Warsaw"),
				CostManagementConfig: json.RawMessage(`{"limits":{"*":{"*":{"inputTokensLimits":{"completion":100}}}}}`)}
		},
		meta: func(p *store.Project) *store.Meta { return &p.Meta },
		change: func(p *store.Project) {
			at := time.Now().UTC().Truncate(time.Microsecond)
			p.Name, p.Description, p.Timezone = "renamed", "new", ptr("America/New_York")
			p.CostManagementConfig = json.RawMessage(`{"limits":{"prov_a":{"m":{"outputTokensLimits":{"completion":5}}}}}`)
			p.ArchivedAt, p.ArchivedBy = &at, ptr("ops@example.com")
		},
		create: func(p *store.Project) error { return s.CreateProject(ctx, p) },
		get:    func(id string) (*store.Project, error) { return s.GetProject(ctx, id) },
		list:   func(o store.ListOptions) ([]*store.Project, int, error) { return s.ListProjects(ctx, o) },
		update: func(p *store.Project, v int64) error { return s.UpdateProject(ctx, p, v) },
		delete: func(id string, v int64) error { return s.DeleteProject(ctx, id, v) },
	})
	testProjectTimezoneArchive(t, s)
}

// testProjectTimezoneArchive: a project without a timezone reads nil
// (UTC), active projects read no archive fields, and an update clears
// them again (unarchive, a timezone set to null); the archived filter
// selects archived or active projects.
func testProjectTimezoneArchive(t *testing.T, s store.Store) {
	ctx := t.Context()
	plain := newProject(t, s, "plain")
	got, err := s.GetProject(ctx, plain.ID)
	must(t, err)
	if got.Timezone != nil || got.ArchivedAt != nil || got.ArchivedBy != nil || got.Archived() {
		t.Fatalf("new project: timezone %v archivedAt %v archivedBy %v", got.Timezone, got.ArchivedAt, got.ArchivedBy)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 123000, time.UTC)
	got.Timezone, got.ArchivedAt, got.ArchivedBy = ptr("Asia/Tokyo"), &at, ptr("admin")
	must(t, s.UpdateProject(ctx, got, 1))
	archived, err := s.GetProject(ctx, plain.ID)
	must(t, err)
	if *archived.Timezone != "Asia/Tokyo" || !archived.ArchivedAt.Equal(at) || *archived.ArchivedBy != "admin" || !archived.Archived() {
		t.Fatalf("archived project: %+v", archived)
	}
	active := newProject(t, s, "active")
	names := func(v string) []string {
		t.Helper()
		ps, total, err := s.ListProjects(ctx, store.ListOptions{Filters: []store.Filter{{Field: "archived", Op: store.OpEq, Values: []string{v}}}})
		must(t, err)
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Name)
		}
		if total != len(out) {
			t.Fatalf("archived=%s: total %d for %d items", v, total, len(out))
		}
		return out
	}
	wantEqual(t, "archived projects", names("true"), []string{"plain"})
	wantEqual(t, "active projects (newest first; p2 is checkCRUD's)", names("false"), []string{active.Name, "p2"})
	ps, _, err := s.ListProjects(ctx, store.ListOptions{Filters: []store.Filter{{Field: "archivedAt", Op: store.OpGte, Values: []string{"2026-03-01"}}}})
	must(t, err)
	if len(ps) != 1 || ps[0].ID != plain.ID {
		t.Fatalf("archivedAt filter: %d projects", len(ps))
	}
	// Unarchive and clear the timezone.
	archived.Timezone, archived.ArchivedAt, archived.ArchivedBy = nil, nil, nil
	must(t, s.UpdateProject(ctx, archived, 2))
	got, err = s.GetProject(ctx, plain.ID)
	must(t, err)
	if got.Timezone != nil || got.ArchivedAt != nil || got.ArchivedBy != nil || got.Version != 3 {
		t.Fatalf("after unarchive: %+v", got)
	}
	wantEqual(t, "archived projects after unarchive", names("true"), []string{})
}

func testAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")
	checkCRUD(t, crud[store.Agent]{
		prefix: store.PrefixAgent,
		make: func(i int) *store.Agent {
			return &store.Agent{ProjectID: proj.ID, Name: fmt.Sprintf("a%d", i), Description: "d", Prompt: "You are helpful."}
		},
		meta:   func(a *store.Agent) *store.Meta { return &a.Meta },
		change: func(a *store.Agent) { a.Name, a.Description, a.Prompt = "renamed", "", "You are terse." },
		create: func(a *store.Agent) error { return s.CreateAgent(ctx, a) },
		get:    func(id string) (*store.Agent, error) { return s.GetAgent(ctx, proj.ID, id) },
		list:   func(o store.ListOptions) ([]*store.Agent, int, error) { return s.ListAgents(ctx, proj.ID, o) },
		update: func(a *store.Agent, v int64) error { return s.UpdateAgent(ctx, a, v) },
		delete: func(id string, v int64) error { return s.DeleteAgent(ctx, proj.ID, id, v) },
	})
	// Agents are scoped by project.
	a := &store.Agent{ProjectID: proj.ID, Name: "scoped"}
	must(t, s.CreateAgent(ctx, a))
	_, err := s.GetAgent(ctx, other.ID, a.ID)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteAgent(ctx, other.ID, a.ID, 1), store.ENOTFOUND)
	moved := *a
	moved.ProjectID = other.ID
	wantCode(t, s.UpdateAgent(ctx, &moved, 1), store.ENOTFOUND)
	items, total, err := s.ListAgents(ctx, other.ID, store.ListOptions{})
	must(t, err)
	if total != 0 || len(items) != 0 {
		t.Fatalf("other project lists %d agents", total)
	}
	// An agent needs an existing project.
	if err := s.CreateAgent(ctx, &store.Agent{ProjectID: "proj_missing", Name: "x"}); err == nil {
		t.Fatal("agent created in a missing project")
	}
}

func testStages(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")
	llm := newLLMProvider(t, s)
	llm2 := newLLMProvider(t, s)
	checkCRUD(t, crud[store.Stage]{
		prefix: store.PrefixStage,
		make: func(i int) *store.Stage {
			return &store.Stage{ProjectID: proj.ID, Name: fmt.Sprintf("s%d", i), Description: "d", Prompt: "Be nice.",
				LLMProviderID: llm.ID, AgentID: "agnt_1", EnterBehavior: store.EnterGenerateResponse,
				LLMSettings: store.LLMSettings{Model: "gpt", DefaultTemperature: ptr(0.7), DefaultMaxTokens: ptr(256), Timeout: ptr(30000)},
				Metadata:    json.RawMessage(`{"useKnowledge":false}`)}
		},
		meta: func(s *store.Stage) *store.Meta { return &s.Meta },
		change: func(s *store.Stage) {
			s.Name, s.Prompt, s.LLMProviderID, s.AgentID, s.EnterBehavior = "renamed", "Be brief.", llm2.ID, "", store.EnterAwaitUserInput
			s.LLMSettings = store.LLMSettings{Model: "other"}
			s.Metadata = nil
		},
		create: func(st *store.Stage) error { return s.CreateStage(ctx, st) },
		get:    func(id string) (*store.Stage, error) { return s.GetStage(ctx, proj.ID, id) },
		list:   func(o store.ListOptions) ([]*store.Stage, int, error) { return s.ListStages(ctx, proj.ID, o) },
		update: func(st *store.Stage, v int64) error { return s.UpdateStage(ctx, st, v) },
		delete: func(id string, v int64) error { return s.DeleteStage(ctx, proj.ID, id, v) },
	})
	st := newStage(t, s, proj.ID, llm.ID)
	_, err := s.GetStage(ctx, other.ID, st.ID)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteStage(ctx, other.ID, st.ID, 1), store.ENOTFOUND)
}

// testStageProviderInUse checks the documented choice: a provider that a
// stage uses cannot be deleted (ECONFLICT) until the stage is gone.
func testStageProviderInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	llm := newLLMProvider(t, s)
	st := newStage(t, s, proj.ID, llm.ID)
	wantCode(t, s.DeleteProvider(ctx, llm.ID, llm.Version), store.ECONFLICT)
	if _, err := s.GetProvider(ctx, llm.ID); err != nil {
		t.Fatalf("provider gone after refused delete: %v", err)
	}
	must(t, s.DeleteStage(ctx, proj.ID, st.ID, st.Version))
	must(t, s.DeleteProvider(ctx, llm.ID, llm.Version))
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")
	used := time.Now().UTC().Truncate(time.Microsecond)
	checkCRUD(t, crud[store.APIKey]{
		prefix: store.PrefixAPIKey,
		make: func(i int) *store.APIKey {
			return &store.APIKey{ProjectID: proj.ID, Name: fmt.Sprintf("k%d", i), KeyHash: fmt.Sprintf("hash%d", i), KeyPreview: "akey_live_ab…",
				IsActive: true, AllowedChannels: []string{"twilio_messaging"}, AllowedFeatures: nil, Metadata: json.RawMessage(`{"m":true}`)}
		},
		meta: func(k *store.APIKey) *store.Meta { return &k.Meta },
		change: func(k *store.APIKey) {
			k.Name, k.IsActive, k.AllowedChannels, k.AllowedFeatures, k.LastUsedAt = "renamed", false, nil, []string{"text_input"}, &used
		},
		create: func(k *store.APIKey) error { return s.CreateAPIKey(ctx, k) },
		get:    func(id string) (*store.APIKey, error) { return s.GetAPIKey(ctx, id) },
		list:   func(o store.ListOptions) ([]*store.APIKey, int, error) { return s.ListAPIKeys(ctx, proj.ID, o) },
		update: func(k *store.APIKey, v int64) error { return s.UpdateAPIKey(ctx, k, v) },
		delete: func(id string, v int64) error { return s.DeleteAPIKey(ctx, id, v) },
	})
	k := &store.APIKey{ProjectID: other.ID, Name: "o", KeyHash: "otherhash", IsActive: true}
	must(t, s.CreateAPIKey(ctx, k))
	got, err := s.GetAPIKeyByHash(ctx, "otherhash")
	must(t, err)
	wantEqual(t, "by hash", got, k)
	_, err = s.GetAPIKeyByHash(ctx, "nohash")
	wantCode(t, err, store.ENOTFOUND)
	// A key hash is unique.
	wantCode(t, s.CreateAPIKey(ctx, &store.APIKey{ProjectID: proj.ID, Name: "dup", KeyHash: "otherhash"}), store.ECONFLICT)
	// Per-project and all-project lists.
	_, total, err := s.ListAPIKeys(ctx, other.ID, store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("other project has %d keys, want 1", total)
	}
	_, total, err = s.ListAPIKeys(ctx, "", store.ListOptions{})
	must(t, err)
	if total != 2 {
		t.Fatalf("all projects have %d keys, want 2", total)
	}
}

// testAPIKeyAllowedLists checks that nil ("all allowed") and empty
// ("nothing allowed") allowed lists stay distinct through every path.
func testAPIKeyAllowedLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	cases := []struct {
		name               string
		channels, features []string
	}{
		{"nil", nil, nil},
		{"empty", []string{}, []string{}},
		{"mixed", []string{}, nil},
		{"values", []string{"twilio_messaging"}, []string{"conversation_control", "text_input"}},
	}
	for i, c := range cases {
		k := &store.APIKey{ProjectID: proj.ID, Name: c.name, KeyHash: fmt.Sprintf("h%d", i), IsActive: true,
			AllowedChannels: c.channels, AllowedFeatures: c.features}
		must(t, s.CreateAPIKey(ctx, k))
		check := func(where string, got *store.APIKey) {
			t.Helper()
			wantEqual(t, c.name+" channels "+where, got.AllowedChannels, c.channels)
			wantEqual(t, c.name+" features "+where, got.AllowedFeatures, c.features)
		}
		got, err := s.GetAPIKey(ctx, k.ID)
		must(t, err)
		check("get", got)
		got, err = s.GetAPIKeyByHash(ctx, k.KeyHash)
		must(t, err)
		check("by hash", got)
		items, _, err := s.ListAPIKeys(ctx, proj.ID, store.ListOptions{Limit: 1000})
		must(t, err)
		for _, it := range items {
			if it.ID == k.ID {
				check("list", it)
			}
		}
		// Flip nil and empty through an update.
		flip := func(l []string) []string {
			if l == nil {
				return []string{}
			}
			if len(l) == 0 {
				return nil
			}
			return l
		}
		got.AllowedChannels, got.AllowedFeatures = flip(c.channels), flip(c.features)
		must(t, s.UpdateAPIKey(ctx, got, got.Version))
		again, err := s.GetAPIKey(ctx, k.ID)
		must(t, err)
		wantEqual(t, c.name+" channels after update", again.AllowedChannels, flip(c.channels))
		wantEqual(t, c.name+" features after update", again.AllowedFeatures, flip(c.features))
	}
}

func testListPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	var providers []*store.Provider
	checkPaging(t, 4, func(i int) *store.Provider {
		p := newLLMProvider(t, s)
		providers = append(providers, p)
		return p
	}, func(a *store.Provider) *store.Meta { return &a.Meta }, func(o store.ListOptions) ([]*store.Provider, int, error) { return s.ListProviders(ctx, o) })
	checkPaging(t, 7, func(i int) *store.Project {
		p := &store.Project{Name: fmt.Sprintf("p%d", i)}
		must(t, s.CreateProject(ctx, p))
		return p
	}, func(p *store.Project) *store.Meta { return &p.Meta }, func(o store.ListOptions) ([]*store.Project, int, error) { return s.ListProjects(ctx, o) })
	proj := newProject(t, s, "paged")
	checkPaging(t, 5, func(i int) *store.Agent {
		a := &store.Agent{ProjectID: proj.ID, Name: fmt.Sprintf("a%d", i)}
		must(t, s.CreateAgent(ctx, a))
		return a
	}, func(a *store.Agent) *store.Meta { return &a.Meta }, func(o store.ListOptions) ([]*store.Agent, int, error) { return s.ListAgents(ctx, proj.ID, o) })
	checkPaging(t, 4, func(i int) *store.Stage { return newStage(t, s, proj.ID, providers[i].ID) },
		func(a *store.Stage) *store.Meta { return &a.Meta }, func(o store.ListOptions) ([]*store.Stage, int, error) { return s.ListStages(ctx, proj.ID, o) })
	checkPaging(t, 4, func(i int) *store.APIKey {
		k := &store.APIKey{ProjectID: proj.ID, Name: "k", KeyHash: fmt.Sprintf("page%d", i)}
		must(t, s.CreateAPIKey(ctx, k))
		return k
	}, func(a *store.APIKey) *store.Meta { return &a.Meta }, func(o store.ListOptions) ([]*store.APIKey, int, error) { return s.ListAPIKeys(ctx, "", o) })
	checkPaging(t, 4, func(i int) *store.Conversation { return newConversation(t, s, proj.ID, fmt.Sprintf("+1555000%04d", i)) },
		func(a *store.Conversation) *store.Meta { return &a.Meta },
		func(o store.ListOptions) ([]*store.Conversation, int, error) {
			return s.ListConversations(ctx, proj.ID, o)
		})
	checkPaging(t, 4, func(i int) *store.Operator {
		o := &store.Operator{Name: "o", PasswordHash: "h"}
		must(t, s.CreateOperator(ctx, o))
		return o
	}, func(a *store.Operator) *store.Meta { return &a.Meta }, func(o store.ListOptions) ([]*store.Operator, int, error) { return s.ListOperators(ctx, o) })

	// The default page is 100 (Bonsai's); a page past the end is empty
	// with the total.
	for range 98 {
		must(t, s.CreateOperator(ctx, &store.Operator{Name: "o", PasswordHash: "h"}))
	}
	items, total, err := s.ListOperators(ctx, store.ListOptions{})
	must(t, err)
	if len(items) != 100 || total != 102 {
		t.Fatalf("default page: %d items, total %d; want 100, 102", len(items), total)
	}
	items, total, err = s.ListOperators(ctx, store.ListOptions{Offset: 200, Limit: 10})
	must(t, err)
	if items == nil || len(items) != 0 || total != 102 {
		t.Fatalf("page past the end: %v, total %d", items, total)
	}
}

func testConversations(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "other")
	deadline := time.Now().Add(30 * time.Minute)
	c := &store.Conversation{ProjectID: proj.ID, StageID: "stag_1", AgentID: "agnt_1", UserID: "whatsapp:+15551112222",
		ChannelProviderID: "prov_1", ChannelAddress: "whatsapp:+15550000001", Status: "ignored",
		Metadata: json.RawMessage(`{"k":"v"}`), Deadline: deadline}
	must(t, s.CreateConversation(ctx, c, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{"stageId":"stag_1"}`)}))
	checkNewMeta(t, c.Meta, store.PrefixConversation)
	if c.Status != store.ConversationActive {
		t.Fatalf("status = %q, want active", c.Status)
	}
	if !c.Deadline.Equal(deadline.Truncate(time.Microsecond)) {
		t.Fatalf("deadline %v, want %v", c.Deadline, deadline)
	}
	got, err := s.GetConversation(ctx, proj.ID, c.ID)
	must(t, err)
	wantEqual(t, "get conversation", got, c)
	_, err = s.GetConversation(ctx, other.ID, c.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetConversation(ctx, proj.ID, "conv_missing")
	wantCode(t, err, store.ENOTFOUND)

	evs, total, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if total != 1 || len(evs) != 1 || evs[0].EventType != store.EventConversationStart || string(evs[0].EventData) != `{"stageId":"stag_1"}` ||
		evs[0].ConversationID != c.ID || evs[0].ID == 0 || evs[0].CreatedAt.IsZero() {
		t.Fatalf("start events %+v", evs)
	}

	list, total, err := s.ListConversations(ctx, proj.ID, store.ListOptions{})
	must(t, err)
	if total != 1 || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("list %+v total %d", list, total)
	}
	_, total, err = s.ListConversations(ctx, other.ID, store.ListOptions{})
	must(t, err)
	if total != 0 {
		t.Fatalf("other project lists %d conversations", total)
	}

	// Delete with versions; events go with it.
	wantCode(t, s.DeleteConversation(ctx, proj.ID, c.ID, 2), store.ECONFLICT)
	wantCode(t, s.DeleteConversation(ctx, other.ID, c.ID, 1), store.ENOTFOUND)
	must(t, s.DeleteConversation(ctx, proj.ID, c.ID, 1))
	_, err = s.GetConversation(ctx, proj.ID, c.ID)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteConversation(ctx, proj.ID, c.ID, 1), store.ENOTFOUND)
	_, total, err = s.ListEvents(ctx, c.ID, store.ListOptions{})
	must(t, err)
	if total != 0 {
		t.Fatalf("%d events left after delete", total)
	}
	// A conversation needs an existing project.
	bad := &store.Conversation{ProjectID: "proj_missing", UserID: "+1", ChannelProviderID: "p", ChannelAddress: "+2", Deadline: deadline}
	if err := s.CreateConversation(ctx, bad, store.Event{EventType: store.EventConversationStart}); err == nil {
		t.Fatal("conversation created in a missing project")
	}
}

func testActiveConversation(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	k := sessionKey(proj.ID, "+15551112222")
	got, err := s.ActiveConversation(ctx, k)
	must(t, err)
	wantEqual(t, "active", got, c)

	// Every part of the key matters.
	for _, other := range []store.SessionKey{
		{ProjectID: "proj_other", ChannelProviderID: k.ChannelProviderID, To: k.To, From: k.From},
		{ProjectID: k.ProjectID, ChannelProviderID: "prov_other", To: k.To, From: k.From},
		{ProjectID: k.ProjectID, ChannelProviderID: k.ChannelProviderID, To: "+15559999999", From: k.From},
		{ProjectID: k.ProjectID, ChannelProviderID: k.ChannelProviderID, To: k.To, From: "+15553334444"},
	} {
		_, err := s.ActiveConversation(ctx, other)
		wantCode(t, err, store.ENOTFOUND)
	}

	// At most one active conversation per session key.
	dup := &store.Conversation{ProjectID: proj.ID, StageID: "stag_x", UserID: k.From, ChannelProviderID: k.ChannelProviderID,
		ChannelAddress: k.To, Deadline: time.Now()}
	wantCode(t, s.CreateConversation(ctx, dup, store.Event{EventType: store.EventConversationStart}), store.ECONFLICT)
	_, total, err := s.ListConversations(ctx, proj.ID, store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("%d conversations after a refused duplicate", total)
	}
	// The same sender on another of our numbers has its own session.
	twin := &store.Conversation{ProjectID: proj.ID, StageID: "stag_x", UserID: k.From, ChannelProviderID: k.ChannelProviderID,
		ChannelAddress: "+15550000002", Deadline: time.Now()}
	must(t, s.CreateConversation(ctx, twin, store.Event{EventType: store.EventConversationStart}))

	// Once it ends, the key is free for a new conversation.
	must(t, s.EndConversation(ctx, c.ID, json.RawMessage(`{"reason":"inactivity_timeout"}`), store.Event{EventType: store.EventConversationEnd}))
	_, err = s.ActiveConversation(ctx, k)
	wantCode(t, err, store.ENOTFOUND)
	next := newConversation(t, s, proj.ID, "+15551112222")
	got, err = s.ActiveConversation(ctx, k)
	must(t, err)
	if got.ID != next.ID {
		t.Fatalf("active = %s, want the new %s", got.ID, next.ID)
	}

	// Concurrent creations for one key: exactly one wins.
	k2 := sessionKey(proj.ID, "+15557770000")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateConversation(ctx, &store.Conversation{ProjectID: proj.ID, StageID: "stag_x", UserID: k2.From,
				ChannelProviderID: k2.ChannelProviderID, ChannelAddress: k2.To, Deadline: time.Now()}, store.Event{EventType: store.EventConversationStart})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, err, store.ECONFLICT)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent creations succeeded, want 1", ok)
	}
}

func testEndConversation(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	details := json.RawMessage(`{"reason":"inactivity_timeout"}`)
	must(t, s.EndConversation(ctx, c.ID, details, store.Event{EventType: store.EventConversationEnd, EventData: details}))
	got, err := s.GetConversation(ctx, proj.ID, c.ID)
	must(t, err)
	if got.Status != store.ConversationFinished || string(got.StatusDetails) != string(details) || got.UpdatedAt.Before(c.UpdatedAt) {
		t.Fatalf("ended conversation %+v", got)
	}
	evs, total, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if total != 2 || evs[1].EventType != store.EventConversationEnd || string(evs[1].EventData) != string(details) {
		t.Fatalf("events after end %+v", evs)
	}
	// Ending again is a no-op: no error, no event, nothing changed.
	must(t, s.EndConversation(ctx, c.ID, json.RawMessage(`{"reason":"again"}`), store.Event{EventType: store.EventConversationEnd}))
	again, err := s.GetConversation(ctx, proj.ID, c.ID)
	must(t, err)
	wantEqual(t, "after second end", again, got)
	_, total, err = s.ListEvents(ctx, c.ID, store.ListOptions{})
	must(t, err)
	if total != 2 {
		t.Fatalf("%d events after second end, want 2", total)
	}
	wantCode(t, s.EndConversation(ctx, "conv_missing", nil, store.Event{EventType: store.EventConversationEnd}), store.ENOTFOUND)
	// A finished conversation can still be deleted with its current version.
	must(t, s.DeleteConversation(ctx, proj.ID, c.ID, got.Version))
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	other := newConversation(t, s, proj.ID, "+15553334444")
	var evs []store.Event
	for i := range 6 {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		evs = append(evs, messageEvent(role, fmt.Sprintf("m%d", i)))
		evs[len(evs)-1].ConversationID = c.ID
	}
	evs = append(evs, store.Event{ConversationID: c.ID, EventType: store.EventError, EventData: json.RawMessage(`{"error":"llm"}`)})
	evs = append(evs, store.Event{ConversationID: other.ID, EventType: store.EventMessage, EventData: json.RawMessage(`{"role":"user","text":"elsewhere"}`)})
	must(t, s.AppendEvents(ctx, evs))
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID || evs[i].CreatedAt.IsZero() {
			t.Fatalf("event IDs not increasing / CreatedAt unset: %+v", evs)
		}
	}
	wantCode(t, s.AppendEvents(ctx, []store.Event{{ConversationID: "conv_missing", EventType: store.EventMessage}}), store.ENOTFOUND)

	all, total, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if total != 8 || len(all) != 8 || all[0].EventType != store.EventConversationStart {
		t.Fatalf("events: %d, total %d", len(all), total)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatal("events not in ID order")
		}
	}
	wantEqual(t, "stored event", *all[1], evs[0])
	page, total, err := s.ListEvents(ctx, c.ID, store.ListOptions{Offset: 2, Limit: 3, OrderBy: byID.OrderBy})
	must(t, err)
	if total != 8 || len(page) != 3 || page[0].ID != all[2].ID || page[2].ID != all[4].ID {
		t.Fatalf("events page %+v", page)
	}

	recent, err := s.RecentMessages(ctx, c.ID, 4)
	must(t, err)
	var texts []string
	for _, e := range recent {
		var m store.MessageData
		must(t, json.Unmarshal(e.EventData, &m))
		texts = append(texts, m.Text)
	}
	wantEqual(t, "recent messages", texts, []string{"m2", "m3", "m4", "m5"})
	recent, err = s.RecentMessages(ctx, c.ID, 100)
	must(t, err)
	if len(recent) != 6 {
		t.Fatalf("all recent messages: %d, want 6", len(recent))
	}
	for id, want := range map[string]int{c.ID: 3, other.ID: 1, "conv_missing": 0} {
		n, err := s.CountUserMessages(ctx, id)
		must(t, err)
		if n != want {
			t.Fatalf("CountUserMessages(%s) = %d, want %d", id, n, want)
		}
	}
	recent, err = s.RecentMessages(ctx, "conv_missing", 10)
	must(t, err)
	if len(recent) != 0 {
		t.Fatalf("recent messages of a missing conversation: %d", len(recent))
	}
}

func testInboundCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	received := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
	full := &store.InboundMessage{ProviderID: "prov_1", MessageSID: "SM1", IdempotencyToken: "tok1", ProjectID: "proj_1",
		StageID: "stag_1", AgentID: "agnt_1", From: "whatsapp:+15551112222", To: "whatsapp:+15550000001", Body: "héllo ✓",
		MediaURLs: []string{"https://example.com/a.jpg", "https://example.com/b.png"}, ProfileName: "Ann", ReceivedAt: received}
	noMedia := inbound("SM2")
	emptyMedia := inbound("SM3")
	emptyMedia.MediaURLs = []string{}
	res, err := s.CommitInbound(ctx, []*store.InboundMessage{full, noMedia, emptyMedia})
	must(t, err)
	if len(res) != 3 {
		t.Fatalf("%d results for 3 messages", len(res))
	}
	for i, r := range res {
		if r.Duplicate || r.ID == 0 || (i > 0 && r.ID <= res[i-1].ID) {
			t.Fatalf("results %+v", res)
		}
	}
	if full.ID != res[0].ID || full.State != store.InboundPending || noMedia.ReceivedAt.IsZero() {
		t.Fatalf("committed message not filled in: %+v", full)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 3 {
		t.Fatalf("%d pending, want 3", len(pending))
	}
	wantEqual(t, "stored inbound", pending[0], full)
	wantEqual(t, "nil media", pending[1].MediaURLs, []string(nil))
	wantEqual(t, "empty media", pending[2].MediaURLs, []string{})

	// Later commits come later in ID order.
	res2, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound("SM4")})
	must(t, err)
	if res2[0].ID <= res[2].ID {
		t.Fatalf("later commit has a smaller ID")
	}
	pending, err = s.PendingInbound(ctx)
	must(t, err)
	var ids []int64
	for _, m := range pending {
		ids = append(ids, m.ID)
	}
	wantEqual(t, "pending ids", ids, []int64{res[0].ID, res[1].ID, res[2].ID, res2[0].ID})
	res3, err := s.CommitInbound(ctx, nil)
	must(t, err)
	if len(res3) != 0 {
		t.Fatalf("empty batch gave %d results", len(res3))
	}
}

func testInboundDedupe(t *testing.T, s store.Store) {
	ctx := t.Context()
	first, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound("SM1")})
	must(t, err)
	again, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound("SM1"), inbound("SM2")})
	must(t, err)
	if !again[0].Duplicate || again[0].ID != first[0].ID || again[1].Duplicate || !again[0].Pending {
		t.Fatalf("results %+v (first %+v)", again, first)
	}
	// Once the original is marked done, a duplicate says so.
	must(t, s.CommitTurns(ctx, []*store.Turn{{InboundIDs: []int64{first[0].ID}}}))
	done, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound("SM1")})
	must(t, err)
	if !done[0].Duplicate || done[0].Pending {
		t.Fatalf("duplicate of a done message: %+v", done[0])
	}
	// The same SID from another provider is another message.
	other := inbound("SM1")
	other.ProviderID = "prov_other"
	res, err := s.CommitInbound(ctx, []*store.InboundMessage{other})
	must(t, err)
	if res[0].Duplicate {
		t.Fatal("same SID on another provider reported duplicate")
	}
	// Messages without a SID or token are never duplicates of each other.
	res, err = s.CommitInbound(ctx, []*store.InboundMessage{inbound(""), inbound("")})
	must(t, err)
	if res[0].Duplicate || res[1].Duplicate || res[0].ID == res[1].ID {
		t.Fatalf("SID-less messages: %+v", res)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 4 { // SM2, the other provider's SM1, two SID-less (SM1 is done)
		t.Fatalf("%d pending, want 4", len(pending))
	}
}

func testInboundDedupeInBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	res, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound("SM1"), inbound("SM2"), inbound("SM1"), inbound("SM1")})
	must(t, err)
	if res[0].Duplicate || res[1].Duplicate || !res[2].Duplicate || !res[3].Duplicate || res[2].ID != res[0].ID || res[3].ID != res[0].ID {
		t.Fatalf("results %+v", res)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 2 {
		t.Fatalf("%d pending, want 2", len(pending))
	}
}

// testInboundDedupeToken: a delivery without a MessageSid is deduplicated
// by its idempotency token; one with a MessageSid by the SID alone (a
// retried webhook is the same request, so it carries the same SID under
// whatever token).
func testInboundDedupeToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := inbound("")
	a.IdempotencyToken = "token-1"
	b := inbound("") // a retry: the same token
	b.IdempotencyToken = "token-1"
	c := inbound("")
	c.IdempotencyToken = "token-2"
	res, err := s.CommitInbound(ctx, []*store.InboundMessage{a, b, c})
	must(t, err)
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != res[0].ID || res[2].Duplicate {
		t.Fatalf("results %+v", res)
	}
	d := inbound("")
	d.IdempotencyToken = "token-2"
	res, err = s.CommitInbound(ctx, []*store.InboundMessage{d})
	must(t, err)
	if !res[0].Duplicate || res[0].ID != c.ID {
		t.Fatalf("later token repeat: %+v (original %d)", res, c.ID)
	}
	e := inbound("SM5")
	e.IdempotencyToken = "token-5"
	f := inbound("SM5") // the same SID under another token
	f.IdempotencyToken = "token-6"
	res, err = s.CommitInbound(ctx, []*store.InboundMessage{e, f})
	must(t, err)
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != res[0].ID {
		t.Fatalf("same SID, other token: %+v", res)
	}
	g := inbound("SM7") // a new SID under a used token is a new message
	g.IdempotencyToken = "token-5"
	res, err = s.CommitInbound(ctx, []*store.InboundMessage{g})
	must(t, err)
	if res[0].Duplicate {
		t.Fatalf("new SID under a used token: %+v", res)
	}
}

func testInboundDedupeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 20
	results := make([]store.InboundResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m := inbound("SMsame")
			if i%2 == 0 {
				m.IdempotencyToken = "same-token"
			}
			// Each goroutine also commits a message of its own in the batch.
			res, err := s.CommitInbound(ctx, []*store.InboundMessage{inbound(fmt.Sprintf("SMown%d", i)), m})
			if err == nil {
				results[i] = res[1]
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	fresh := 0
	var id int64
	for i := range n {
		must(t, errs[i])
		if !results[i].Duplicate {
			fresh++
			id = results[i].ID
		}
	}
	if fresh != 1 {
		t.Fatalf("%d non-duplicates among %d concurrent commits, want 1", fresh, n)
	}
	for i := range n {
		if results[i].ID != id {
			t.Fatalf("duplicate %d reports ID %d, want %d", i, results[i].ID, id)
		}
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != n+1 {
		t.Fatalf("%d pending, want %d", len(pending), n+1)
	}
}

func testCommitTurns(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c1 := newConversation(t, s, proj.ID, "+15551112222")
	c2 := newConversation(t, s, proj.ID, "+15553334444")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2"), inbound("SM3"), inbound("SM4")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)

	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	out := func(conv string, part, parts int) *store.OutboundMessage {
		return &store.OutboundMessage{ProjectID: proj.ID, ConversationID: conv, ProviderID: "prov_chan", From: "+15550000001", To: "+15551112222",
			Body: fmt.Sprintf("part %d", part), Part: part, Parts: parts, State: store.OutboxPending}
	}
	t1 := &store.Turn{ConversationID: c1.ID, InboundIDs: []int64{msgs[0].ID, msgs[1].ID},
		Events:   []store.Event{messageEvent("user", "hi"), messageEvent("user", "there"), messageEvent("assistant", "hello")},
		Outbox:   []*store.OutboundMessage{out(c1.ID, 1, 2), out(c1.ID, 2, 2)},
		Deadline: deadline}
	t2 := &store.Turn{ConversationID: c2.ID, InboundIDs: []int64{msgs[3].ID},
		Events: []store.Event{messageEvent("user", "yo")}, Outbox: []*store.OutboundMessage{out(c2.ID, 1, 1)}}
	must(t, s.CommitTurns(ctx, []*store.Turn{t1, t2}))

	// Events appended with IDs.
	for _, e := range append(t1.Events, t2.Events...) {
		if e.ID == 0 || e.CreatedAt.IsZero() {
			t.Fatalf("event not filled in: %+v", e)
		}
	}
	recent, err := s.RecentMessages(ctx, c1.ID, 10)
	must(t, err)
	if len(recent) != 3 || recent[2].ID != t1.Events[2].ID {
		t.Fatalf("c1 messages %+v", recent)
	}
	// Inbound marked done: only SM3 is pending.
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 1 || pending[0].ID != msgs[2].ID {
		t.Fatalf("pending after turns: %+v", pending)
	}
	// Outbox rows inserted with IDs in order.
	all := append(append([]*store.OutboundMessage{}, t1.Outbox...), t2.Outbox...)
	for i, o := range all {
		if o.ID == 0 || (i > 0 && o.ID <= all[i-1].ID) || o.CreatedAt.IsZero() || o.State != store.OutboxPending {
			t.Fatalf("outbox not filled in: %+v", all)
		}
	}
	po, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(po) != 3 {
		t.Fatalf("%d pending outbox, want 3", len(po))
	}
	wantEqual(t, "stored outbox row", po[0], t1.Outbox[0])
	for _, o := range po {
		if o.ProjectID != proj.ID {
			t.Fatalf("pending outbox row %d has project %q, want %q", o.ID, o.ProjectID, proj.ID)
		}
	}
	lo, _, err := s.ListOutbound(ctx, c1.ID, byID)
	must(t, err)
	if len(lo) != 2 || lo[0].Part != 1 || lo[1].Part != 2 || lo[0].ProjectID != proj.ID || lo[1].ProjectID != proj.ID {
		t.Fatalf("c1 outbound %+v", lo)
	}
	// Deadline updated on c1; c2 keeps its own (a zero Turn.Deadline).
	g1, err := s.GetConversation(ctx, proj.ID, c1.ID)
	must(t, err)
	if !g1.Deadline.Equal(deadline) || g1.UpdatedAt.Before(c1.UpdatedAt) {
		t.Fatalf("c1 deadline %v updated %v, want %v", g1.Deadline, g1.UpdatedAt, deadline)
	}
	g2, err := s.GetConversation(ctx, proj.ID, c2.ID)
	must(t, err)
	if !g2.Deadline.Equal(c2.Deadline) {
		t.Fatalf("c2 deadline %v, want unchanged %v", g2.Deadline, c2.Deadline)
	}
	must(t, s.CommitTurns(ctx, nil))
}

func testCommitTurnsUnknownConversation(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)
	good := &store.Turn{ConversationID: c.ID, InboundIDs: []int64{msgs[0].ID}, Events: []store.Event{messageEvent("user", "a")},
		Outbox: []*store.OutboundMessage{{ProviderID: "p", To: "+1", Body: "x", Part: 1, Parts: 1}}}
	bad := &store.Turn{ConversationID: "conv_missing", InboundIDs: []int64{msgs[1].ID}, Events: []store.Event{messageEvent("user", "b")}}
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{good, bad}), store.ENOTFOUND)
	// Nothing of the batch was committed.
	checkFailedBatch(t, s, c.ID)
}

// testCommitTurnsBare checks that a bare turn (no conversation) only marks
// its inbound messages done, alongside a normal turn in the same batch, and
// that it does not shield the batch from a missing conversation.
func testCommitTurnsBare(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2"), inbound("SM3"), inbound("SM4"), inbound("SM5")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)

	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	bare := &store.Turn{InboundIDs: []int64{msgs[0].ID, msgs[1].ID}, Deadline: deadline.Add(time.Hour)}
	normal := &store.Turn{ConversationID: c.ID, InboundIDs: []int64{msgs[2].ID}, Events: []store.Event{messageEvent("user", "hi")},
		Outbox:   []*store.OutboundMessage{{ProjectID: proj.ID, ProviderID: "prov_chan", To: "+15551112222", Body: "hello", Part: 1, Parts: 1}},
		Deadline: deadline}
	must(t, s.CommitTurns(ctx, []*store.Turn{bare, normal}))

	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 2 || pending[0].ID != msgs[3].ID || pending[1].ID != msgs[4].ID {
		t.Fatalf("pending after bare + normal turn: %+v", pending)
	}
	if normal.Events[0].ID == 0 || normal.Outbox[0].ID == 0 {
		t.Fatalf("normal turn not filled in: %+v", normal)
	}
	po, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(po) != 1 || po[0].ConversationID != c.ID || po[0].ProjectID != proj.ID {
		t.Fatalf("pending outbox %+v", po)
	}
	// The normal turn's deadline wins; the bare turn's is ignored.
	g, err := s.GetConversation(ctx, proj.ID, c.ID)
	must(t, err)
	if !g.Deadline.Equal(deadline) {
		t.Fatalf("deadline %v, want %v", g.Deadline, deadline)
	}
	_, total, err := s.ListEvents(ctx, c.ID, store.ListOptions{})
	must(t, err)
	if total != 2 {
		t.Fatalf("%d events, want 2 (start + message)", total)
	}

	// A lone bare turn, and one with nothing to do, commit too.
	must(t, s.CommitTurns(ctx, []*store.Turn{{InboundIDs: []int64{msgs[3].ID}}}))
	must(t, s.CommitTurns(ctx, []*store.Turn{{}}))
	pending, err = s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 1 || pending[0].ID != msgs[4].ID {
		t.Fatalf("pending after lone bare turn: %+v", pending)
	}

	// A bare turn does not save a batch naming a missing conversation.
	missing := &store.Turn{ConversationID: "conv_missing", Deadline: deadline}
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{{InboundIDs: []int64{msgs[4].ID}}, missing}), store.ENOTFOUND)
	pending, err = s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 1 || pending[0].ID != msgs[4].ID {
		t.Fatalf("pending after failed batch: %+v", pending)
	}
}

// testCommitTurnsBareInvalid checks that a bare turn carrying events or
// outbox rows is EINVALID and fails its batch without committing anything.
func testCommitTurnsBareInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)
	for name, bad := range map[string]*store.Turn{
		"events": {InboundIDs: []int64{msgs[1].ID}, Events: []store.Event{messageEvent("user", "x")}},
		"outbox": {InboundIDs: []int64{msgs[1].ID}, Outbox: []*store.OutboundMessage{{ProviderID: "prov_chan", To: "+1", Body: "x", Part: 1, Parts: 1}}},
		"new conversation": {InboundIDs: []int64{msgs[1].ID}, NewConversation: &store.Conversation{Meta: store.Meta{ID: store.NewID(store.PrefixConversation)},
			ProjectID: proj.ID, StageID: "stag_x", UserID: "+15559990000", ChannelProviderID: "prov_chan", ChannelAddress: "+15550000001"}},
		"mismatched new conversation": {ConversationID: c.ID, InboundIDs: []int64{msgs[1].ID}, NewConversation: &store.Conversation{
			Meta: store.Meta{ID: store.NewID(store.PrefixConversation)}, ProjectID: proj.ID, StageID: "stag_x", UserID: "+15559990000",
			ChannelProviderID: "prov_chan", ChannelAddress: "+15550000001"}},
	} {
		good := &store.Turn{ConversationID: c.ID, InboundIDs: []int64{msgs[0].ID}, Events: []store.Event{messageEvent("user", "a")}}
		wantCode(t, s.CommitTurns(ctx, []*store.Turn{good, bad}), store.EINVALID)
		pending, err := s.PendingInbound(ctx)
		must(t, err)
		if len(pending) != 2 {
			t.Fatalf("bare turn with %s: %d pending after a rejected batch, want 2", name, len(pending))
		}
		po, err := s.PendingOutbox(ctx)
		must(t, err)
		if len(po) != 0 {
			t.Fatalf("bare turn with %s: %d outbox rows after a rejected batch", name, len(po))
		}
		_, total, err := s.ListEvents(ctx, c.ID, store.ListOptions{})
		must(t, err)
		if total != 1 {
			t.Fatalf("bare turn with %s: %d events after a rejected batch, want 1", name, total)
		}
	}
}

// unsavedConversation returns a conversation of the session key of from,
// with its ID set, for a turn's NewConversation.
func unsavedConversation(projectID, from string) *store.Conversation {
	k := sessionKey(projectID, from)
	return &store.Conversation{Meta: store.Meta{ID: store.NewID(store.PrefixConversation)}, ProjectID: projectID, StageID: "stag_x",
		UserID: k.From, ChannelProviderID: k.ChannelProviderID, ChannelAddress: k.To, Metadata: json.RawMessage(`{"b":2}`),
		Deadline: time.Now().Add(2 * time.Hour)}
}

// testCommitTurnsNewConversation checks that a turn creates its
// NewConversation first, with the start event, and writes its Meta back.
func testCommitTurnsNewConversation(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	msgs := []*store.InboundMessage{inbound("SM1")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)
	c := unsavedConversation(proj.ID, "+15551112222")
	id := c.ID
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	start := store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{"s":1}`)}
	turn := &store.Turn{ConversationID: id, NewConversation: c, InboundIDs: []int64{msgs[0].ID},
		Events: []store.Event{start, messageEvent("user", "hi"), messageEvent("assistant", "hello")},
		Outbox: []*store.OutboundMessage{{ProjectID: proj.ID, ProviderID: "prov_chan", From: "+15550000001", To: "+15551112222",
			Body: "hello", Part: 1, Parts: 1}},
		Deadline: deadline}
	must(t, s.CommitTurns(ctx, []*store.Turn{turn}))

	if c.ID != id || c.Version != 1 || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) || c.Status != store.ConversationActive ||
		!c.Deadline.Equal(deadline) {
		t.Fatalf("new conversation not written back: %+v", c)
	}
	got, err := s.GetConversation(ctx, proj.ID, id)
	must(t, err)
	wantEqual(t, "stored conversation", got, c)
	active, err := s.ActiveConversation(ctx, sessionKey(proj.ID, "+15551112222"))
	must(t, err)
	if active.ID != id {
		t.Fatalf("active conversation %s, want %s", active.ID, id)
	}
	evs, total, err := s.ListEvents(ctx, id, byID)
	must(t, err)
	if total != 3 || evs[0].EventType != store.EventConversationStart || string(evs[0].EventData) != `{"s":1}` ||
		evs[0].ID != turn.Events[0].ID || evs[2].ID != turn.Events[2].ID {
		t.Fatalf("events %+v", evs)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 0 {
		t.Fatalf("%d pending inbound, want 0", len(pending))
	}
	lo, _, err := s.ListOutbound(ctx, id, byID)
	must(t, err)
	if len(lo) != 1 || lo[0].ID != turn.Outbox[0].ID {
		t.Fatalf("outbound %+v", lo)
	}

	// Without a turn deadline, the conversation keeps its own.
	c2 := unsavedConversation(proj.ID, "+15553334444")
	want := c2.Deadline.UTC().Truncate(time.Microsecond)
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: c2.ID, NewConversation: c2,
		Events: []store.Event{{EventType: store.EventConversationStart}}}}))
	got, err = s.GetConversation(ctx, proj.ID, c2.ID)
	must(t, err)
	if !got.Deadline.Equal(want) || !c2.Deadline.Equal(want) {
		t.Fatalf("deadline stored %v, written back %v, want %v", got.Deadline, c2.Deadline, want)
	}
}

// testCommitTurnsNewConversationConflict checks that a NewConversation
// for a session key that has an active conversation fails the batch with
// ECONFLICT and commits nothing.
func testCommitTurnsNewConversationConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	existing := newConversation(t, s, proj.ID, "+15551112222")
	other := newConversation(t, s, proj.ID, "+15553334444")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)
	fresh := unsavedConversation(proj.ID, "+15555556666")
	dup := unsavedConversation(proj.ID, "+15551112222")
	good := &store.Turn{ConversationID: other.ID, InboundIDs: []int64{msgs[0].ID}, Events: []store.Event{messageEvent("user", "a")},
		Outbox:   []*store.OutboundMessage{{ProjectID: proj.ID, ProviderID: "prov_chan", To: "+1", Body: "x", Part: 1, Parts: 1}},
		Deadline: time.Now().Add(3 * time.Hour)}
	first := &store.Turn{ConversationID: fresh.ID, NewConversation: fresh, Events: []store.Event{{EventType: store.EventConversationStart}}}
	bad := &store.Turn{ConversationID: dup.ID, NewConversation: dup, InboundIDs: []int64{msgs[1].ID},
		Events: []store.Event{{EventType: store.EventConversationStart}, messageEvent("user", "b")}}
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{good, first, bad}), store.ECONFLICT)

	checkFailedBatch(t, s, other.ID)
	for _, id := range []string{fresh.ID, dup.ID} {
		_, err = s.GetConversation(ctx, proj.ID, id)
		wantCode(t, err, store.ENOTFOUND)
	}
	if fresh.Version != 0 || dup.Version != 0 {
		t.Fatalf("meta written back after a failed batch: %+v %+v", fresh.Meta, dup.Meta)
	}
	g, err := s.GetConversation(ctx, proj.ID, other.ID)
	must(t, err)
	wantEqual(t, "untouched conversation", g, other)
	active, err := s.ActiveConversation(ctx, sessionKey(proj.ID, "+15551112222"))
	must(t, err)
	if active.ID != existing.ID {
		t.Fatalf("active conversation %s, want %s", active.ID, existing.ID)
	}
}

// testCommitTurnsOutboxUpdates checks that a zero-deadline turn applies
// its outbox updates and delivery events without touching the
// conversation, ignores updates of missing rows, and still fails on a
// missing conversation through its events.
func testCommitTurnsOutboxUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, rows := commitOutbox(t, s, 3)
	before, err := s.GetConversation(ctx, c.ProjectID, c.ID)
	must(t, err)
	delivery := store.Event{EventType: store.EventDelivery, EventData: json.RawMessage(`{"state":"sent"}`)}
	turn := &store.Turn{ConversationID: c.ID, Events: []store.Event{delivery, delivery},
		OutboxUpdates: []store.OutboxUpdate{
			{ID: rows[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMup1"},
			{ID: rows[1].ID, State: store.OutboxFailed, Attempts: 3, ErrorCode: 21211, ErrorMessage: "invalid number"},
			{ID: 999999, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMmissing"},
		}}
	must(t, s.CommitTurns(ctx, []*store.Turn{turn}))

	got, err := s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if got.State != store.OutboxSent || got.Attempts != 1 || got.TwilioSID != "SMup1" || got.ErrorCode != 0 || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("sent row %+v", got)
	}
	got, err = s.GetOutbound(ctx, rows[1].ID)
	must(t, err)
	if got.State != store.OutboxFailed || got.Attempts != 3 || got.ErrorCode != 21211 || got.ErrorMessage != "invalid number" || got.TwilioSID != "" {
		t.Fatalf("failed row %+v", got)
	}
	got, err = s.GetOutbound(ctx, rows[2].ID)
	must(t, err)
	wantEqual(t, "row without update", got, rows[2])
	_, err = s.GetOutbound(ctx, 999999)
	wantCode(t, err, store.ENOTFOUND)
	evs, total, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if total != 3 || evs[1].EventType != store.EventDelivery || evs[2].ID != turn.Events[1].ID {
		t.Fatalf("events %+v", evs)
	}
	after, err := s.GetConversation(ctx, c.ProjectID, c.ID)
	must(t, err)
	wantEqual(t, "conversation after a zero-deadline turn", after, before)

	// Events of a missing conversation fail the batch, updates included.
	missing := &store.Turn{ConversationID: "conv_missing", Events: []store.Event{delivery}}
	upd := &store.Turn{ConversationID: c.ID, OutboxUpdates: []store.OutboxUpdate{{ID: rows[2].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMx"}}}
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{upd, missing}), store.ENOTFOUND)
	got, err = s.GetOutbound(ctx, rows[2].ID)
	must(t, err)
	if got.State != store.OutboxPending || got.TwilioSID != "" {
		t.Fatalf("update applied by a failed batch: %+v", got)
	}
}

// testCommitTurnsMixed checks a batch of a new conversation, a normal
// turn, a send-result turn and a bare turn.
func testCommitTurnsMixed(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, rows := commitOutbox(t, s, 1)
	proj := c.ProjectID
	other := newConversation(t, s, proj, "+15553334444")
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM2"), inbound("SM3")}
	_, err := s.CommitInbound(ctx, msgs)
	must(t, err)
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	fresh := unsavedConversation(proj, "+15555556666")
	turns := []*store.Turn{
		{ConversationID: fresh.ID, NewConversation: fresh, InboundIDs: []int64{msgs[0].ID},
			Events: []store.Event{{EventType: store.EventConversationStart}, messageEvent("user", "new")},
			Outbox: []*store.OutboundMessage{{ProjectID: proj, ProviderID: "prov_chan", To: "+15555556666", Body: "welcome", Part: 1, Parts: 1}}},
		{ConversationID: other.ID, InboundIDs: []int64{msgs[1].ID}, Events: []store.Event{messageEvent("user", "again")}, Deadline: deadline},
		{ConversationID: c.ID, Events: []store.Event{{EventType: store.EventDelivery, EventData: json.RawMessage(`{}`)}},
			OutboxUpdates: []store.OutboxUpdate{{ID: rows[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMmix"}}},
		{InboundIDs: []int64{msgs[2].ID}},
	}
	must(t, s.CommitTurns(ctx, turns))

	if _, err := s.GetConversation(ctx, proj, fresh.ID); err != nil {
		t.Fatal(err)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 0 {
		t.Fatalf("%d pending inbound, want 0", len(pending))
	}
	po, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(po) != 1 || po[0].ConversationID != fresh.ID {
		t.Fatalf("pending outbox %+v", po)
	}
	got, err := s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if got.State != store.OutboxSent || got.TwilioSID != "SMmix" {
		t.Fatalf("updated row %+v", got)
	}
	g, err := s.GetConversation(ctx, proj, other.ID)
	must(t, err)
	if !g.Deadline.Equal(deadline) || g.UpdatedAt.Before(other.UpdatedAt) {
		t.Fatalf("other conversation deadline %v, want %v", g.Deadline, deadline)
	}
	for id, want := range map[string]int{fresh.ID: 2, other.ID: 2, c.ID: 2} {
		_, total, err := s.ListEvents(ctx, id, store.ListOptions{})
		must(t, err)
		if total != want {
			t.Fatalf("conversation %s has %d events, want %d", id, total, want)
		}
	}
}

// commitOutbox puts n pending outbox rows in a conversation.
func commitOutbox(t *testing.T, s store.Store, n int) (*store.Conversation, []*store.OutboundMessage) {
	t.Helper()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15551112222")
	turn := &store.Turn{ConversationID: c.ID}
	for i := range n {
		turn.Outbox = append(turn.Outbox, &store.OutboundMessage{ProjectID: proj.ID, ProviderID: "prov_chan", From: "+15550000001",
			To: "+15551112222", Body: fmt.Sprintf("b%d", i), Part: i + 1, Parts: n})
	}
	must(t, s.CommitTurns(t.Context(), []*store.Turn{turn}))
	return c, turn.Outbox
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, rows := commitOutbox(t, s, 3)
	for _, o := range rows {
		if o.ConversationID != c.ID || o.State != store.OutboxPending {
			t.Fatalf("defaults not applied: %+v", o)
		}
	}
	for _, o := range rows {
		got, err := s.GetOutbound(ctx, o.ID)
		must(t, err)
		wantEqual(t, "stored outbox row", got, o)
		if got.ProjectID != c.ProjectID {
			t.Fatalf("outbox row project %q, want %q", got.ProjectID, c.ProjectID)
		}
	}
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMout1"}))
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[1].ID, State: store.OutboxPending, Attempts: 2, ErrorCode: 20429, ErrorMessage: "Too Many Requests"}))
	got, err := s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if got.State != store.OutboxSent || got.Attempts != 1 || got.TwilioSID != "SMout1" || got.Body != "b0" || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("after update %+v", got)
	}
	got, err = s.GetOutbound(ctx, rows[1].ID)
	must(t, err)
	if got.State != store.OutboxPending || got.Attempts != 2 || got.ErrorCode != 20429 || got.ErrorMessage != "Too Many Requests" {
		t.Fatalf("after retry update %+v", got)
	}
	pending, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(pending) != 2 || pending[0].ID != rows[1].ID || pending[1].ID != rows[2].ID || pending[0].ProjectID != c.ProjectID {
		t.Fatalf("pending outbox %+v", pending)
	}
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[2].ID, State: store.OutboxFailed, Attempts: 1, ErrorCode: 21211, ErrorMessage: "invalid"}))
	pending, err = s.PendingOutbox(ctx)
	must(t, err)
	if len(pending) != 1 {
		t.Fatalf("%d pending, want 1", len(pending))
	}
	wantCode(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: 999999, State: store.OutboxSent}), store.ENOTFOUND)
	_, err = s.GetOutbound(ctx, 999999)
	wantCode(t, err, store.ENOTFOUND)
	list, _, err := s.ListOutbound(ctx, c.ID, byID)
	must(t, err)
	if len(list) != 3 || list[0].ID != rows[0].ID || list[2].State != store.OutboxFailed || list[2].ProjectID != c.ProjectID {
		t.Fatalf("list outbound %+v", list)
	}
	list, _, err = s.ListOutbound(ctx, "conv_missing", byID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("outbound of a missing conversation: %d", len(list))
	}
}

func testDeliveryStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, rows := commitOutbox(t, s, 2)
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[0].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMa"}))
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: rows[1].ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMb"}))

	o, err := s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "sent", ErrorCode: 0, OutboundID: rows[0].ID})
	must(t, err)
	if o.ID != rows[0].ID || o.DeliveryStatus != "sent" || o.TwilioSID != "SMa" || o.ProjectID != c.ProjectID {
		t.Fatalf("after sent: %+v", o)
	}
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "delivered", ErrorCode: 0, OutboundID: rows[0].ID})
	must(t, err)
	if o.DeliveryStatus != "delivered" {
		t.Fatalf("after delivered: %+v", o)
	}
	// A late "sent" never moves a delivered message back; repeats are harmless.
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "sent", ErrorCode: 0, OutboundID: rows[0].ID})
	must(t, err)
	if o.DeliveryStatus != "delivered" {
		t.Fatalf("late sent moved status to %q", o.DeliveryStatus)
	}
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "read", ErrorCode: 0, OutboundID: rows[0].ID})
	must(t, err)
	if o.DeliveryStatus != "read" {
		t.Fatalf("after read: %+v", o)
	}
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMb", Status: "undelivered", ErrorCode: 30003, OutboundID: rows[1].ID})
	must(t, err)
	if o.ID != rows[1].ID || o.DeliveryStatus != "undelivered" || o.ErrorCode != 30003 {
		t.Fatalf("undelivered: %+v", o)
	}
	got, err := s.GetOutbound(ctx, rows[1].ID)
	must(t, err)
	wantEqual(t, "stored after callback", got, o)
	other, err := s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if other.ErrorCode != 0 || other.DeliveryStatus != "read" {
		t.Fatalf("callback touched another row: %+v", other)
	}
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMunknown", Status: "delivered", ErrorCode: 0, OutboundID: rows[0].ID})
	wantCode(t, err, store.ENOTFOUND)

	// A callback is scoped to its channel provider: another provider's
	// callback for the SID changes nothing, even when that provider has
	// a (later) row with the same SID of its own.
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_other", TwilioSID: "SMb", Status: "delivered", ErrorCode: 0, OutboundID: rows[1].ID})
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "", TwilioSID: "SMb", Status: "delivered", ErrorCode: 0, OutboundID: rows[1].ID})
	wantCode(t, err, store.ENOTFOUND)
	got, err = s.GetOutbound(ctx, rows[1].ID)
	must(t, err)
	if got.DeliveryStatus != "undelivered" || got.ErrorCode != 30003 {
		t.Fatalf("another provider's callback changed the row: %+v", got)
	}
	turn := &store.Turn{ConversationID: c.ID, Outbox: []*store.OutboundMessage{{ProjectID: c.ProjectID, ProviderID: "prov_other",
		From: "+15550000009", To: "+15551112222", Body: "other", Part: 1, Parts: 1}}}
	must(t, s.CommitTurns(ctx, []*store.Turn{turn}))
	otherRow := turn.Outbox[0]
	must(t, s.UpdateOutbox(ctx, store.OutboxUpdate{ID: otherRow.ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SMa"}))
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_other", TwilioSID: "SMa", Status: "failed", ErrorCode: 30008, OutboundID: otherRow.ID})
	must(t, err)
	if o.ID != otherRow.ID || o.DeliveryStatus != "failed" || o.ErrorCode != 30008 {
		t.Fatalf("other provider's own row: %+v", o)
	}
	got, err = s.GetOutbound(ctx, rows[0].ID)
	must(t, err)
	if got.DeliveryStatus != "read" || got.ErrorCode != 0 {
		t.Fatalf("a callback for another provider's row with the same SID changed this one: %+v", got)
	}
	o, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "read", ErrorCode: 0, OutboundID: rows[0].ID})
	must(t, err)
	if o.ID != rows[0].ID {
		t.Fatalf("prov_chan's callback matched row %d, want its own %d", o.ID, rows[0].ID)
	}
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "", Status: "delivered", ErrorCode: 0, OutboundID: rows[0].ID})
	wantCode(t, err, store.ENOTFOUND)
	// The id a callback names must be a message of its provider, sent as
	// its SID.
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "delivered", OutboundID: otherRow.ID})
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.SetDeliveryStatus(ctx, store.DeliveryUpdate{ProviderID: "prov_chan", TwilioSID: "SMa", Status: "delivered", OutboundID: rows[1].ID})
	wantCode(t, err, store.ENOTFOUND)
	got, err = s.GetOutbound(ctx, otherRow.ID)
	must(t, err)
	if got.DeliveryStatus != "failed" {
		t.Fatalf("a callback naming another provider's row changed it: %+v", got)
	}
}

func testOptOuts(t *testing.T, s store.Store) {
	ctx := t.Context()
	check := func(provider, addr string, want bool) {
		t.Helper()
		got, err := s.IsOptedOut(ctx, provider, addr)
		must(t, err)
		if got != want {
			t.Fatalf("IsOptedOut(%s, %s) = %v, want %v", provider, addr, got, want)
		}
	}
	check("prov_1", "+15551112222", false)
	must(t, s.SetOptOut(ctx, "prov_1", "+15551112222", true))
	check("prov_1", "+15551112222", true)
	check("prov_2", "+15551112222", false)
	check("prov_1", "+15553334444", false)
	must(t, s.SetOptOut(ctx, "prov_1", "+15551112222", true))
	check("prov_1", "+15551112222", true)
	must(t, s.SetOptOut(ctx, "prov_1", "+15551112222", false))
	check("prov_1", "+15551112222", false)
	must(t, s.SetOptOut(ctx, "prov_2", "+15553334444", false))
	check("prov_2", "+15553334444", false)
}

func testProjectCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "doomed")
	keep := newProject(t, s, "kept")
	llm := newLLMProvider(t, s)
	a := &store.Agent{ProjectID: proj.ID, Name: "a"}
	must(t, s.CreateAgent(ctx, a))
	st := newStage(t, s, proj.ID, llm.ID)
	st.AgentID = a.ID
	must(t, s.UpdateStage(ctx, st, st.Version))
	k := &store.APIKey{ProjectID: proj.ID, Name: "k", KeyHash: "doomedhash"}
	must(t, s.CreateAPIKey(ctx, k))
	c := newConversation(t, s, proj.ID, "+15551112222")
	must(t, s.AppendEvents(ctx, []store.Event{{ConversationID: c.ID, EventType: store.EventMessage, EventData: json.RawMessage(`{}`)}}))

	ka := &store.Agent{ProjectID: keep.ID, Name: "a"}
	must(t, s.CreateAgent(ctx, ka))
	kst := newStage(t, s, keep.ID, llm.ID)
	kk := &store.APIKey{ProjectID: keep.ID, Name: "k", KeyHash: "keephash"}
	must(t, s.CreateAPIKey(ctx, kk))
	kc := newConversation(t, s, keep.ID, "+15551112222")

	wantCode(t, s.DeleteProject(ctx, proj.ID, 2), store.ECONFLICT)
	must(t, s.DeleteProject(ctx, proj.ID, 1))
	_, err := s.GetProject(ctx, proj.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetAgent(ctx, proj.ID, a.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetStage(ctx, proj.ID, st.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetAPIKey(ctx, k.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetAPIKeyByHash(ctx, "doomedhash")
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetConversation(ctx, proj.ID, c.ID)
	wantCode(t, err, store.ENOTFOUND)
	_, total, err := s.ListEvents(ctx, c.ID, store.ListOptions{})
	must(t, err)
	if total != 0 {
		t.Fatalf("%d events survive their project", total)
	}
	_, err = s.ActiveConversation(ctx, sessionKey(proj.ID, "+15551112222"))
	wantCode(t, err, store.ENOTFOUND)

	// The other project is untouched.
	_, err = s.GetAgent(ctx, keep.ID, ka.ID)
	must(t, err)
	_, err = s.GetStage(ctx, keep.ID, kst.ID)
	must(t, err)
	_, err = s.GetAPIKey(ctx, kk.ID)
	must(t, err)
	_, err = s.GetConversation(ctx, keep.ID, kc.ID)
	must(t, err)
	_, total, err = s.ListEvents(ctx, kc.ID, store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("kept conversation has %d events, want 1", total)
	}
	// The provider is free once its stages are gone... except the kept one.
	wantCode(t, s.DeleteProvider(ctx, llm.ID, llm.Version), store.ECONFLICT)
}

// testCommitBatch checks a store's optional BatchCommitter: inbound
// messages and turns commit together, duplicates are reported, and a
// failing turn commits nothing, not even the inbound messages. Stores
// without it pass trivially (the engine then commits separately).
func testCommitBatch(t *testing.T, s store.Store) {
	bc, ok := s.(store.BatchCommitter)
	if !ok {
		return
	}
	ctx := t.Context()
	proj := newProject(t, s, "p")
	prior := []*store.InboundMessage{inbound("SM0")}
	_, err := s.CommitInbound(ctx, prior)
	must(t, err)
	fresh := unsavedConversation(proj.ID, "+15555550001")
	turn := &store.Turn{ConversationID: fresh.ID, NewConversation: fresh, InboundIDs: []int64{prior[0].ID},
		Events:   []store.Event{{EventType: store.EventConversationStart}, messageEvent("user", "hello")},
		Deadline: time.Now().Add(time.Hour)}
	msgs := []*store.InboundMessage{inbound("SM1"), inbound("SM0")}
	res, err := bc.CommitBatch(ctx, msgs, []*store.Turn{turn})
	must(t, err)
	if len(res) != 2 || res[0].Duplicate || !res[1].Duplicate || res[1].ID != prior[0].ID || msgs[0].ID != res[0].ID {
		t.Fatalf("results %+v", res)
	}
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 1 || pending[0].MessageSID != "SM1" {
		t.Fatalf("pending %+v", pending)
	}
	if _, err := s.GetConversation(ctx, proj.ID, fresh.ID); err != nil {
		t.Fatalf("new conversation not committed: %v", err)
	}

	// All or nothing: a conflicting turn fails the whole batch.
	dup := unsavedConversation(proj.ID, "+15555550001")
	bad := &store.Turn{ConversationID: dup.ID, NewConversation: dup, Events: []store.Event{{EventType: store.EventConversationStart}}}
	_, err = bc.CommitBatch(ctx, []*store.InboundMessage{inbound("SM2")}, []*store.Turn{bad})
	wantCode(t, err, store.ECONFLICT)
	pending, err = s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 1 {
		t.Fatalf("%d pending after a failed batch, want 1", len(pending))
	}
}

// testCommitTurnsEnd checks a turn that ends its conversation: the last
// user text and the end are committed together, the end event comes last,
// and ending again changes nothing.
func testCommitTurnsEnd(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "+15556660001")
	end := func() *store.Turn {
		return &store.Turn{ConversationID: c.ID, Events: []store.Event{messageEvent("user", "STOP")},
			End:      json.RawMessage(`{"reason":"opt_out"}`),
			EndEvent: &store.Event{EventType: store.EventConversationEnd, EventData: json.RawMessage(`{"reason":"opt_out"}`)}}
	}
	must(t, s.CommitTurns(ctx, []*store.Turn{end()}))
	got, err := s.GetConversation(ctx, proj.ID, c.ID)
	must(t, err)
	if got.Status != store.ConversationFinished || !strings.Contains(string(got.StatusDetails), "opt_out") || got.Version != c.Version+1 {
		t.Fatalf("after end: %+v", got)
	}
	evs, _, err := s.ListEvents(ctx, c.ID, byID)
	must(t, err)
	if last := evs[len(evs)-1]; last.EventType != store.EventConversationEnd {
		t.Fatalf("last event %s", last.EventType)
	}
	_, err = s.ActiveConversation(ctx, sessionKey(proj.ID, "+15556660001"))
	wantCode(t, err, store.ENOTFOUND)
	// Ending a finished conversation appends no second end event.
	again := end()
	again.Events = nil
	must(t, s.CommitTurns(ctx, []*store.Turn{again}))
	_, total, err := s.ListEvents(ctx, c.ID, store.ListOptions{})
	must(t, err)
	if total != len(evs) {
		t.Fatalf("%d events after ending twice, want %d", total, len(evs))
	}
	// A bare turn may not end anything.
	wantCode(t, s.CommitTurns(ctx, []*store.Turn{{End: json.RawMessage(`{}`)}}), store.EINVALID)
}

// testActiveConversations checks the start-up listing: active ones only,
// earliest deadline first.
func testActiveConversations(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	late := newConversation(t, s, proj.ID, "+15557770001")
	early := newConversation(t, s, proj.ID, "+15557770002")
	ended := newConversation(t, s, proj.ID, "+15557770003")
	must(t, s.CommitTurns(ctx, []*store.Turn{
		{ConversationID: late.ID, Deadline: time.Now().Add(2 * time.Hour)},
		{ConversationID: early.ID, Deadline: time.Now().Add(time.Hour)},
	}))
	must(t, s.EndConversation(ctx, ended.ID, json.RawMessage(`{"reason":"test"}`), store.Event{EventType: store.EventConversationEnd}))
	got, err := s.ActiveConversations(ctx)
	must(t, err)
	if len(got) != 2 || got[0].ID != early.ID || got[1].ID != late.ID {
		ids := []string{}
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		t.Fatalf("active %v, want [%s %s]", ids, early.ID, late.ID)
	}
	if got[0].ChannelAddress == "" || got[0].UserID != "+15557770002" {
		t.Fatalf("conversation fields missing: %+v", got[0])
	}
}

// checkFailedBatch checks what the failed-batch tests leave behind: both
// inbound messages still pending, no outbox row, and convID with only the
// one event it had before the batch.
func checkFailedBatch(t *testing.T, s store.Store, convID string) {
	t.Helper()
	ctx := t.Context()
	pending, err := s.PendingInbound(ctx)
	must(t, err)
	if len(pending) != 2 {
		t.Fatalf("%d pending after a failed batch, want 2", len(pending))
	}
	po, err := s.PendingOutbox(ctx)
	must(t, err)
	if len(po) != 0 {
		t.Fatalf("%d outbox rows after a failed batch", len(po))
	}
	_, total, err := s.ListEvents(ctx, convID, store.ListOptions{})
	must(t, err)
	if total != 1 {
		t.Fatalf("%d events after a failed batch, want 1", total)
	}
}

// testOutboxMediaAndTemplate: a part's media and Content template are kept
// in its turn row and read back by GetOutbound, ListOutbound and
// PendingOutbox (a restart sends them as written).
func testOutboxMediaAndTemplate(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	c := newConversation(t, s, proj.ID, "whatsapp:+15551112222")
	media := []string{"https://example.com/a.png", "https://example.com/b.jpg"}
	turn := &store.Turn{ConversationID: c.ID, Outbox: []*store.OutboundMessage{
		{ProjectID: proj.ID, ProviderID: "prov_chan", From: "whatsapp:+15550000001", To: "whatsapp:+15551112222",
			Body: "see", MediaURLs: media, Part: 1, Parts: 2},
		{ProjectID: proj.ID, ProviderID: "prov_chan", From: "whatsapp:+15550000001", To: "whatsapp:+15551112222",
			Body: "template", ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: `{"1":"Ada"}`, Part: 2, Parts: 2},
	}}
	must(t, s.CommitTurns(ctx, []*store.Turn{turn}))
	check := func(what string, got []*store.OutboundMessage) {
		t.Helper()
		if len(got) != 2 || !slices.Equal(got[0].MediaURLs, media) || got[0].ContentSID != "" ||
			got[1].ContentSID != "HX0123456789abcdef0123456789abcdef" || got[1].ContentVariables != `{"1":"Ada"}` || got[1].MediaURLs != nil {
			t.Fatalf("%s: %+v", what, got)
		}
	}
	var got []*store.OutboundMessage
	for _, o := range turn.Outbox {
		g, err := s.GetOutbound(ctx, o.ID)
		must(t, err)
		got = append(got, g)
	}
	check("GetOutbound", got)
	pending, err := s.PendingOutbox(ctx)
	must(t, err)
	check("PendingOutbox", pending)
	list, _, err := s.ListOutbound(ctx, c.ID, store.ListOptions{OrderBy: []store.Order{{Field: "id"}}})
	must(t, err)
	check("ListOutbound", list)
}
