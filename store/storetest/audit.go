package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// testAudit checks the audit log: append fills ID and time, null userId
// and projectId round-trip, every filter, newest-first and oldest-first
// order (ties in insertion order), paging, validation and purge.
func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Defaults: ID and CreatedAt are filled; absent values stay absent.
	anon := &store.AuditEntry{Action: store.AuditLoginFailed, EntityType: store.AuditOperator, EntityID: "nobody",
		NewEntity: json.RawMessage(`{"reason":"unknown operator"}`), ClientIP: "192.0.2.7"}
	must(t, s.AppendAudit(ctx, anon))
	if !strings.HasPrefix(anon.ID, store.PrefixAudit) || len(anon.ID) != len(store.PrefixAudit)+24 {
		t.Fatalf("ID %q: want %s + 24 hex digits", anon.ID, store.PrefixAudit)
	}
	if d := time.Since(anon.CreatedAt); d < -time.Minute || d > time.Minute || anon.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt %v: want now, UTC", anon.CreatedAt)
	}
	got, total, err := s.ListAudit(ctx, store.ListOptions{})
	must(t, err)
	if total != 1 || len(got) != 1 {
		t.Fatalf("list = %d items of %d, want 1", len(got), total)
	}
	wantEqual(t, "anonymous entry", got[0], anon)
	b, err := json.Marshal(got[0])
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	for _, k := range []string{"userId", "projectId", "oldEntity", "userAgent"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Fatalf("JSON %s = %v (present %v), want null: %s", k, v, ok, b)
		}
	}
	if m["newEntity"].(map[string]any)["reason"] != "unknown operator" || m["action"] != store.AuditLoginFailed || m["entityId"] != "nobody" {
		t.Fatalf("JSON = %s", b)
	}

	// Validation: an entry must name its action and entity; entity
	// snapshots must be objects.
	for _, bad := range []*store.AuditEntry{
		{EntityType: "provider", EntityID: "p"},
		{Action: "CREATE", EntityID: "p"},
		{Action: "CREATE", EntityType: "provider"},
		{Action: "CREATE", EntityType: "provider", EntityID: "p", NewEntity: json.RawMessage(`[1]`)},
	} {
		wantCode(t, s.AppendAudit(ctx, bad), store.EINVALID)
	}

	// A history: four entries on two providers and a stage, by two users.
	full := []*store.AuditEntry{
		{UserID: "admin", Action: store.AuditCreate, EntityType: store.AuditProvider, EntityID: "prov_a",
			NewEntity: json.RawMessage(`{"name":"a"}`), CreatedAt: base},
		{UserID: "admin", Action: store.AuditUpdate, EntityType: store.AuditProvider, EntityID: "prov_a",
			OldEntity: json.RawMessage(`{"name":"a"}`), NewEntity: json.RawMessage(`{"name":"b"}`), ClientIP: "2001:db8::1", UserAgent: "curl/8", CreatedAt: base.Add(time.Second)},
		{UserID: "dev", Action: store.AuditCreate, EntityType: store.AuditStage, EntityID: "stag_1", ProjectID: "proj_1",
			NewEntity: json.RawMessage(`{"name":"s"}`), CreatedAt: base.Add(2 * time.Second)},
		{UserID: "dev", Action: store.AuditDelete, EntityType: store.AuditProvider, EntityID: "prov_b",
			OldEntity: json.RawMessage(`{"name":"x"}`), CreatedAt: base.Add(3 * time.Second)},
	}
	for _, e := range full {
		must(t, s.AppendAudit(ctx, e))
	}
	// Two entries in the same microsecond list in insertion order.
	tie1 := &store.AuditEntry{UserID: "dev", Action: store.AuditUpdate, EntityType: store.AuditStage, EntityID: "stag_1", ProjectID: "proj_1", CreatedAt: base.Add(4 * time.Second)}
	tie2 := &store.AuditEntry{UserID: "dev", Action: store.AuditDelete, EntityType: store.AuditStage, EntityID: "stag_1", ProjectID: "proj_1", CreatedAt: base.Add(4 * time.Second)}
	must(t, s.AppendAudit(ctx, tie1))
	must(t, s.AppendAudit(ctx, tie2))

	ids := func(es []*store.AuditEntry) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	list := func(f []store.Filter, opts store.ListOptions) ([]string, int) {
		t.Helper()
		es, total, err := s.ListAudit(ctx, opts.With(f...))
		must(t, err)
		return ids(es), total
	}
	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339Nano) }
	in := func(field string, vals ...string) store.Filter {
		return store.Filter{Field: field, Op: store.OpIn, Values: vals}
	}
	op := func(field, op string, vals ...string) store.Filter {
		return store.Filter{Field: field, Op: op, Values: vals}
	}
	hist := []store.Filter{op("createdAt", store.OpLt, at(time.Hour))} // all but anon (created now)
	got2, total := list(hist, store.ListOptions{})
	wantEqual(t, "newest first", got2, []string{tie2.ID, tie1.ID, full[3].ID, full[2].ID, full[1].ID, full[0].ID})
	if total != 6 {
		t.Fatalf("total = %d, want 6", total)
	}
	got2, _ = list(hist, store.ListOptions{OrderBy: []store.Order{{Field: "createdAt"}}})
	wantEqual(t, "oldest first", got2, []string{full[0].ID, full[1].ID, full[2].ID, full[3].ID, tie1.ID, tie2.ID})

	// The stored entry round-trips every field.
	es, _, err := s.ListAudit(ctx, store.ListOptions{}.With(in("entityId", "prov_a"), in("action", store.AuditUpdate)))
	must(t, err)
	if len(es) != 1 {
		t.Fatalf("update of prov_a: %d entries", len(es))
	}
	wantEqual(t, "full entry", es[0], full[1])

	// Filters, alone and together.
	for _, tc := range []struct {
		name string
		f    []store.Filter
		text string
		want []string
	}{
		{"ids", []store.Filter{in("id", full[1].ID, tie1.ID)}, "", []string{tie1.ID, full[1].ID}},
		{"entity type", []store.Filter{in("entityType", store.AuditProvider)}, "", []string{full[3].ID, full[1].ID, full[0].ID}},
		{"entity types", []store.Filter{in("entityType", store.AuditStage, store.AuditOperator)}, "", []string{anon.ID, tie2.ID, tie1.ID, full[2].ID}},
		{"action", []store.Filter{op("action", store.OpEq, store.AuditCreate)}, "", []string{full[2].ID, full[0].ID}},
		{"actions", []store.Filter{in("action", store.AuditDelete, store.AuditLoginFailed)}, "", []string{anon.ID, tie2.ID, full[3].ID}},
		{"not these actions", []store.Filter{op("action", store.OpNin, store.AuditDelete, store.AuditLoginFailed, store.AuditCreate)}, "", []string{tie1.ID, full[1].ID}},
		{"user", []store.Filter{in("userId", "admin")}, "", []string{full[1].ID, full[0].ID}},
		{"not a user (no user is no match)", []store.Filter{op("userId", store.OpNe, "admin")}, "", []string{tie2.ID, tie1.ID, full[3].ID, full[2].ID}},
		{"entity", []store.Filter{in("entityType", store.AuditProvider), in("entityId", "prov_a")}, "", []string{full[1].ID, full[0].ID}},
		{"project", []store.Filter{in("projectId", "proj_1")}, "", []string{tie2.ID, tie1.ID, full[2].ID}},
		{"from", []store.Filter{op("createdAt", store.OpGte, at(2*time.Second)), op("createdAt", store.OpLt, at(time.Hour))}, "", []string{tie2.ID, tie1.ID, full[3].ID, full[2].ID}},
		{"after", []store.Filter{op("createdAt", store.OpGt, at(2*time.Second)), op("createdAt", store.OpLt, at(time.Hour))}, "", []string{tie2.ID, tie1.ID, full[3].ID}},
		{"before", []store.Filter{op("createdAt", store.OpLt, at(time.Second))}, "", []string{full[0].ID}},
		{"at or before", []store.Filter{op("createdAt", store.OpLte, at(time.Second))}, "", []string{full[1].ID, full[0].ID}},
		{"at", []store.Filter{op("createdAt", store.OpEq, at(time.Second))}, "", []string{full[1].ID}},
		{"range", []store.Filter{op("createdAt", store.OpBetween, at(time.Second), at(2*time.Second))}, "", []string{full[2].ID, full[1].ID}},
		{"entity id like", []store.Filter{op("entityId", store.OpLike, "PROV\\_%")}, "", []string{full[3].ID, full[1].ID, full[0].ID}},
		{"entity id above", []store.Filter{op("entityId", store.OpGt, "prov_a")}, "", []string{tie2.ID, tie1.ID, full[3].ID, full[2].ID}},
		{"combined", []store.Filter{in("userId", "dev"), in("entityType", store.AuditProvider)}, "", []string{full[3].ID}},
		{"none", []store.Filter{in("userId", "nobody")}, "", []string{}},
		{"text in entity id", nil, "PROV_", []string{full[3].ID, full[1].ID, full[0].ID}},
		{"text in user id", nil, "adm", []string{full[1].ID, full[0].ID}},
		{"text in action", nil, "failed", []string{anon.ID}},
		{"text is literal", nil, "prov%a", []string{}},
		{"text underscore is literal", nil, "stag_", []string{tie2.ID, tie1.ID, full[2].ID}},
		{"text underscore not a wildcard", nil, "prov_ax", []string{}},
		{"a tag search is ignored (Bonsai)", nil, "tag:x", []string{anon.ID, tie2.ID, tie1.ID, full[3].ID, full[2].ID, full[1].ID, full[0].ID}},
		{"text and filter", []store.Filter{in("action", store.AuditCreate)}, "stag", []string{full[2].ID}},
	} {
		got, total := list(tc.f, store.ListOptions{Search: tc.text})
		if total != len(tc.want) {
			t.Fatalf("%s: total = %d, want %d", tc.name, total, len(tc.want))
		}
		wantEqual(t, tc.name, got, tc.want)
	}

	// Paging: total counts every match; pages are consecutive.
	p1, total := list(hist, store.ListOptions{Limit: 4})
	p2, total2 := list(hist, store.ListOptions{Offset: 4, Limit: 4})
	if total != 6 || total2 != 6 {
		t.Fatalf("paged totals %d, %d; want 6", total, total2)
	}
	wantEqual(t, "pages", append(p1, p2...), []string{tie2.ID, tie1.ID, full[3].ID, full[2].ID, full[1].ID, full[0].ID})
	p3, total := list(hist, store.ListOptions{Offset: 10})
	if total != 6 || len(p3) != 0 {
		t.Fatalf("past the end: %v of %d", p3, total)
	}

	// A duplicate ID is a conflict, not a second entry.
	dup := *full[0]
	wantCode(t, s.AppendAudit(ctx, &dup), store.ECONFLICT)

	// Purge deletes what is older than the cut-off and nothing else.
	n, err := s.PurgeAudit(ctx, base.Add(2*time.Second))
	must(t, err)
	if n != 2 {
		t.Fatalf("purged %d, want 2", n)
	}
	got2, total = list(nil, store.ListOptions{})
	if total != 5 {
		t.Fatalf("after purge: %d entries, want 5", total)
	}
	wantEqual(t, "after purge", got2, []string{anon.ID, tie2.ID, tie1.ID, full[3].ID, full[2].ID})
}

// testAuditTextSearchCase: a text search ignores the case of ASCII letters
// only, identically on both stores (SQLite's LOWER knows ASCII alone; an
// unrestricted PostgreSQL lower() would also fold É to é and match more).
func testAuditTextSearchCase(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := &store.AuditEntry{UserID: "Émile", Action: store.AuditCreate, EntityType: store.AuditOperator, EntityID: "OPER_Émile"}
	must(t, s.AppendAudit(ctx, e))
	for _, tc := range []struct {
		text  string
		found bool
	}{
		{"oper_", true},  // ASCII letters fold
		{"OPER_É", true}, // exact
		{"mile", true},
		{"émile", false}, // É does not fold to é, on either store
	} {
		es, _, err := s.ListAudit(ctx, store.ListOptions{Search: tc.text})
		must(t, err)
		if found := len(es) == 1; found != tc.found {
			t.Errorf("text %q: %d entries, want found=%v", tc.text, len(es), tc.found)
		}
	}
}
