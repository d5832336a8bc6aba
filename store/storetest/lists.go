package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"switchboard/store"
)

// testListOptions: Bonsai's list contract (filters with each operator,
// text search, orderBy, the default order) selects and orders the same
// items on both stores, and a filter or order on a field a list does not
// have is EINVALID naming the parameter.
func testListOptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	llm := newLLMProvider(t, s)
	proj := newProject(t, s, "Sales")
	newProject(t, s, "support desk")
	newProject(t, s, "Zebra_1")

	names := func(ps []*store.Project) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	f := func(field, op string, vals ...string) store.Filter {
		return store.Filter{Field: field, Op: op, Values: vals}
	}
	for _, tc := range []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"default: newest first", store.ListOptions{}, []string{"Zebra_1", "support desk", "Sales"}},
		{"oldest first", store.ListOptions{OrderBy: []store.Order{{Field: "createdAt"}}}, []string{"Sales", "support desk", "Zebra_1"}},
		{"name ignores ASCII case", store.ListOptions{OrderBy: []store.Order{{Field: "name"}}}, []string{"Sales", "support desk", "Zebra_1"}},
		{"name descending", store.ListOptions{OrderBy: []store.Order{{Field: "name", Desc: true}}}, []string{"Zebra_1", "support desk", "Sales"}},
		{"eq", store.ListOptions{Filters: []store.Filter{f("name", store.OpEq, "Sales")}}, []string{"Sales"}},
		{"eq is exact", store.ListOptions{Filters: []store.Filter{f("name", store.OpEq, "sales")}}, []string{}},
		{"ne", store.ListOptions{Filters: []store.Filter{f("name", store.OpNe, "Sales")}}, []string{"Zebra_1", "support desk"}},
		{"in", store.ListOptions{Filters: []store.Filter{f("name", store.OpIn, "Sales", "Zebra_1", "x")}}, []string{"Zebra_1", "Sales"}},
		{"nin", store.ListOptions{Filters: []store.Filter{f("name", store.OpNin, "Sales", "Zebra_1")}}, []string{"support desk"}},
		{"like ignores ASCII case", store.ListOptions{Filters: []store.Filter{f("name", store.OpLike, "s%")}}, []string{"support desk", "Sales"}},
		{"like _ is one character", store.ListOptions{Filters: []store.Filter{f("name", store.OpLike, "zebra__")}}, []string{"Zebra_1"}},
		{"like escapes", store.ListOptions{Filters: []store.Filter{f("name", store.OpLike, `%a\_%`)}}, []string{"Zebra_1"}},
		// Text compares in byte order on both engines: "S" < "Z" < "s".
		{"gt is byte order", store.ListOptions{Filters: []store.Filter{f("name", store.OpGt, "Sz")}}, []string{"Zebra_1", "support desk"}},
		{"between text", store.ListOptions{Filters: []store.Filter{f("name", store.OpBetween, "S", "Zebra_1")}}, []string{"Zebra_1", "Sales"}},
		{"version", store.ListOptions{Filters: []store.Filter{f("version", store.OpGte, "1")}}, []string{"Zebra_1", "support desk", "Sales"}},
		{"time", store.ListOptions{Filters: []store.Filter{f("createdAt", store.OpLte, proj.CreatedAt.Format(time.RFC3339Nano))}}, []string{"Sales"}},
		{"time eq", store.ListOptions{Filters: []store.Filter{f("createdAt", store.OpEq, proj.CreatedAt.Format(time.RFC3339Nano))}}, []string{"Sales"}},
		{"a date is its midnight", store.ListOptions{Filters: []store.Filter{f("createdAt", store.OpLt, "2000-01-01")}}, []string{}},
		{"filters AND", store.ListOptions{Filters: []store.Filter{f("name", store.OpLike, "s%"), f("name", store.OpNe, "Sales")}}, []string{"support desk"}},
		{"search", store.ListOptions{Search: "ALE"}, []string{"Sales"}},
		{"search is literal", store.ListOptions{Search: "a_1"}, []string{"Zebra_1"}},
		{"search % is literal", store.ListOptions{Search: "s%"}, []string{}},
		{"a tag search is ignored on projects (Bonsai)", store.ListOptions{Search: "tag:vip"}, []string{"Zebra_1", "support desk", "Sales"}},
		{"search and filter", store.ListOptions{Search: "s", Filters: []store.Filter{f("name", store.OpNe, "Sales")}}, []string{"support desk"}},
		{"page of the order", store.ListOptions{Offset: 1, Limit: 1, OrderBy: []store.Order{{Field: "name"}}}, []string{"support desk"}},
	} {
		got, total, err := s.ListProjects(ctx, tc.opts)
		must(t, err)
		wantEqual(t, tc.name, names(got), tc.want)
		if tc.opts.Limit == 0 && total != len(tc.want) {
			t.Fatalf("%s: total %d, want %d", tc.name, total, len(tc.want))
		}
	}

	// Bad options name the parameter.
	for _, tc := range []struct {
		name  string
		opts  store.ListOptions
		field string
	}{
		{"unknown field", store.ListOptions{Filters: []store.Filter{f("colour", store.OpEq, "red")}}, "filters[colour]"},
		{"unknown operator", store.ListOptions{Filters: []store.Filter{f("name", "regex", "x")}}, "filters[name]"},
		{"like on a time", store.ListOptions{Filters: []store.Filter{f("createdAt", store.OpLike, "2026%")}}, "filters[createdAt]"},
		{"not a time", store.ListOptions{Filters: []store.Filter{f("createdAt", store.OpGte, "yesterday")}}, "filters[createdAt]"},
		{"not an integer", store.ListOptions{Filters: []store.Filter{f("version", store.OpEq, "one")}}, "filters[version]"},
		{"between one value", store.ListOptions{Filters: []store.Filter{f("name", store.OpBetween, "a")}}, "filters[name]"},
		{"between backwards", store.ListOptions{Filters: []store.Filter{f("version", store.OpBetween, "5", "1")}}, "filters[version]"},
		{"eq two values", store.ListOptions{Filters: []store.Filter{f("name", store.OpEq, "a", "b")}}, "filters[name]"},
		{"in no value", store.ListOptions{Filters: []store.Filter{f("name", store.OpIn)}}, "filters[name]"},
		{"unknown order", store.ListOptions{OrderBy: []store.Order{{Field: "colour"}}}, "orderBy"},
		{"long search", store.ListOptions{Search: string(make([]byte, 201))}, "textSearch"},
	} {
		_, _, err := s.ListProjects(ctx, tc.opts)
		wantCode(t, err, store.EINVALID)
		if d, _ := store.ErrorDetails(err).(map[string]string); d["field"] != tc.field {
			t.Fatalf("%s: error %v names %v, want %s", tc.name, err, d, tc.field)
		}
	}

	// Boolean, nullable time and list fields; searches through another
	// table (an API key's project name) and through list columns.
	used := time.Now().UTC().Truncate(time.Microsecond)
	k1 := &store.APIKey{ProjectID: proj.ID, Name: "alpha", KeyHash: store.HashKey("k1"), KeyPreview: "k1", IsActive: true}
	k2 := &store.APIKey{ProjectID: proj.ID, Name: "beta", KeyHash: store.HashKey("k2"), KeyPreview: "k2", IsActive: false, LastUsedAt: &used}
	must(t, s.CreateAPIKey(ctx, k1))
	must(t, s.CreateAPIKey(ctx, k2))
	keys := func(opts store.ListOptions) []string {
		t.Helper()
		ks, _, err := s.ListAPIKeys(ctx, "", opts)
		must(t, err)
		out := []string{}
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return out
	}
	wantEqual(t, "active keys", keys(store.ListOptions{Filters: []store.Filter{f("isActive", store.OpEq, "true")}}), []string{"alpha"})
	wantEqual(t, "inactive keys", keys(store.ListOptions{Filters: []store.Filter{f("isActive", store.OpNe, "true")}}), []string{"beta"})
	wantEqual(t, "never used first", keys(store.ListOptions{OrderBy: []store.Order{{Field: "lastUsedAt"}}}), []string{"alpha", "beta"})
	wantEqual(t, "last used first", keys(store.ListOptions{OrderBy: []store.Order{{Field: "lastUsedAt", Desc: true}}}), []string{"beta", "alpha"})
	wantEqual(t, "used since (never used is no match)", keys(store.ListOptions{Filters: []store.Filter{f("lastUsedAt", store.OpGte, "2000-01-01")}}), []string{"beta"})
	wantEqual(t, "search by project name", keys(store.ListOptions{Search: "SALES"}), []string{"beta", "alpha"})
	wantEqual(t, "search by key name", keys(store.ListOptions{Search: "alp"}), []string{"alpha"})

	tagged := &store.Provider{Name: "tagged", ProviderType: store.ProviderTypeLLM, APIType: store.APITypeScripted,
		Config: json.RawMessage(`{}`), Tags: []string{"vip", "eu"}}
	must(t, s.CreateProvider(ctx, tagged))
	provs := func(opts store.ListOptions) []string {
		t.Helper()
		ps, _, err := s.ListProviders(ctx, opts)
		must(t, err)
		out := []string{}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	wantEqual(t, "tag search", provs(store.ListOptions{Search: "tag:vip"}), []string{tagged.ID})
	wantEqual(t, "tag search, no match", provs(store.ListOptions{Search: "tag:vi"}), []string{})
	wantEqual(t, "tags filter (all of them)", provs(store.ListOptions{Filters: []store.Filter{f("tags", store.OpEq, "eu", "vip")}}), []string{tagged.ID})
	wantEqual(t, "tags filter, one missing", provs(store.ListOptions{Filters: []store.Filter{f("tags", store.OpEq, "eu", "us")}}), []string{})
	wantEqual(t, "provider search by type", provs(store.ListOptions{Search: "SCRIPT"}), []string{tagged.ID, llm.ID})
	_, _, err := s.ListProviders(ctx, store.ListOptions{Filters: []store.Filter{f("tags", store.OpLike, "v%")}})
	wantCode(t, err, store.EINVALID)
	_, _, err = s.ListProviders(ctx, store.ListOptions{OrderBy: []store.Order{{Field: "tags"}}})
	wantCode(t, err, store.EINVALID)

	// Operators: roles are a list; a tag search looks in them.
	must(t, s.CreateOperator(ctx, &store.Operator{Meta: store.Meta{ID: "ann@example.com"}, Name: "Ann", PasswordHash: "h", Roles: []string{"viewer"}, IsActive: true}))
	must(t, s.CreateOperator(ctx, &store.Operator{Meta: store.Meta{ID: "bob@example.com"}, Name: "Bob", PasswordHash: "h", Roles: []string{"super_admin", "viewer"}}))
	ops := func(opts store.ListOptions) []string {
		t.Helper()
		os, _, err := s.ListOperators(ctx, opts)
		must(t, err)
		out := []string{}
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	wantEqual(t, "role tag", ops(store.ListOptions{Search: "tag:super_admin"}), []string{"bob@example.com"})
	wantEqual(t, "roles filter", ops(store.ListOptions{Filters: []store.Filter{f("roles", store.OpEq, "viewer")}, OrderBy: []store.Order{{Field: "email"}}}),
		[]string{"ann@example.com", "bob@example.com"})
	wantEqual(t, "search email", ops(store.ListOptions{Search: "ANN@"}), []string{"ann@example.com"})
	wantEqual(t, "active", ops(store.ListOptions{Filters: []store.Filter{f("isActive", store.OpEq, "false")}}), []string{"bob@example.com"})

	// Agents and stages have no tags in Switchboard: no item carries one.
	must(t, s.CreateAgent(ctx, &store.Agent{ProjectID: proj.ID, Name: "vip agent"}))
	as, total, err := s.ListAgents(ctx, proj.ID, store.ListOptions{Search: "tag:vip"})
	must(t, err)
	if len(as) != 0 || total != 0 {
		t.Fatalf("tag search on agents: %d", total)
	}
	as, _, err = s.ListAgents(ctx, proj.ID, store.ListOptions{Search: "VIP"})
	must(t, err)
	if len(as) != 1 {
		t.Fatalf("search on agents: %d", len(as))
	}

	// Conversations and their events and outbox rows.
	c1 := newConversation(t, s, proj.ID, "+15550000001")
	c2 := newConversation(t, s, proj.ID, "+15550000002")
	must(t, s.EndConversation(ctx, c1.ID, json.RawMessage(`{"reason":"x"}`), store.Event{EventType: store.EventConversationEnd}))
	convs := func(opts store.ListOptions) []string {
		t.Helper()
		cs, _, err := s.ListConversations(ctx, proj.ID, opts)
		must(t, err)
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	wantEqual(t, "conversations newest first", convs(store.ListOptions{}), []string{c2.ID, c1.ID})
	wantEqual(t, "status in", convs(store.ListOptions{Filters: []store.Filter{f("status", store.OpIn, store.ConversationFinished)}}), []string{c1.ID})
	wantEqual(t, "by user", convs(store.ListOptions{Filters: []store.Filter{f("userId", store.OpLike, "%0002")}}), []string{c2.ID})
	wantEqual(t, "search id", convs(store.ListOptions{Search: c1.ID[5:]}), []string{c1.ID})
	wantEqual(t, "order by status", convs(store.ListOptions{OrderBy: []store.Order{{Field: "status", Desc: true}}}), []string{c1.ID, c2.ID})

	// statusDetails is the end's reason (the API's string), else the
	// stored details; an active conversation has none (NULL: ne, nin and
	// comparisons skip it, as in Bonsai's SQL).
	c3 := newConversation(t, s, proj.ID, "+15550000003")
	must(t, s.EndConversation(ctx, c3.ID, json.RawMessage(`{"reason":"opt_out"}`), store.Event{EventType: store.EventConversationEnd}))
	c4 := newConversation(t, s, proj.ID, "+15550000004")
	must(t, s.EndConversation(ctx, c4.ID, json.RawMessage(`{"note":"no reason"}`), store.Event{EventType: store.EventConversationEnd}))
	c5 := newConversation(t, s, proj.ID, "+15550000005")
	must(t, s.EndConversation(ctx, c5.ID, json.RawMessage(`{"reason":""}`), store.Event{EventType: store.EventConversationEnd}))
	details := func(op string, v ...string) []string {
		return convs(store.ListOptions{Filters: []store.Filter{{Field: "statusDetails", Op: op, Values: v}}, OrderBy: []store.Order{{Field: "createdAt"}}})
	}
	wantEqual(t, "statusDetails eq", details(store.OpEq, "opt_out"), []string{c3.ID})
	wantEqual(t, "statusDetails eq is exact", details(store.OpEq, "opt"), []string{})
	wantEqual(t, "statusDetails in", details(store.OpIn, "x", "opt_out", "inactivity_timeout"), []string{c1.ID, c3.ID})
	wantEqual(t, "statusDetails ne", details(store.OpNe, "x"), []string{c3.ID, c4.ID, c5.ID})
	wantEqual(t, "statusDetails nin", details(store.OpNin, "x", "opt_out"), []string{c4.ID, c5.ID})
	wantEqual(t, "statusDetails like", details(store.OpLike, "%OPT%"), []string{c3.ID})
	wantEqual(t, "statusDetails without a reason", details(store.OpLike, "%no reason%"), []string{c4.ID})
	wantEqual(t, "statusDetails with an empty reason", details(store.OpLike, "%reason%"), []string{c4.ID, c5.ID})
	// Byte order: "{" (stored details without a reason) sorts after letters.
	wantEqual(t, "statusDetails gte", details(store.OpGte, "p"), []string{c1.ID, c4.ID, c5.ID})
	wantEqual(t, "statusDetails between", details(store.OpBetween, "o", "p"), []string{c3.ID})
	// Orders: NULL first (as every nullable field), then by reason (among
	// reasons only: how punctuation sorts depends on the collation).
	firstThree := []store.Filter{{Field: "userId", Op: store.OpIn, Values: []string{c1.UserID, c2.UserID, c3.UserID}}}
	wantEqual(t, "order by statusDetails", convs(store.ListOptions{Filters: firstThree, OrderBy: []store.Order{{Field: "statusDetails"}}}),
		[]string{c2.ID, c3.ID, c1.ID})
	wantEqual(t, "order by statusDetails descending", convs(store.ListOptions{Filters: firstThree, OrderBy: []store.Order{{Field: "statusDetails", Desc: true}}}),
		[]string{c1.ID, c3.ID, c2.ID})

	evs, total, err := s.ListEvents(ctx, c1.ID, store.ListOptions{})
	must(t, err)
	if total != 2 || evs[0].EventType != store.EventConversationEnd {
		t.Fatalf("events newest first: %d, %+v", total, evs)
	}
	evs, total, err = s.ListEvents(ctx, c1.ID, store.ListOptions{Filters: []store.Filter{f("eventType", store.OpEq, store.EventConversationStart)}})
	must(t, err)
	if total != 1 || evs[0].EventType != store.EventConversationStart {
		t.Fatalf("events by type: %d", total)
	}
	evs, _, err = s.ListEvents(ctx, c1.ID, store.ListOptions{Search: "END"})
	must(t, err)
	if len(evs) != 1 || evs[0].EventType != store.EventConversationEnd {
		t.Fatalf("events search: %d", len(evs))
	}
	_, _, err = s.ListEvents(ctx, c1.ID, store.ListOptions{Filters: []store.Filter{f("id", store.OpEq, "abc")}})
	wantCode(t, err, store.EINVALID)
	rows, total, err := s.ListOutbound(ctx, c1.ID, store.ListOptions{Filters: []store.Filter{f("state", store.OpEq, store.OutboxPending)}})
	must(t, err)
	if len(rows) != 0 || total != 0 {
		t.Fatalf("outbound of a conversation without replies: %d", total)
	}
}
