package sqlcore

import (
	"context"
	"slices"
	"strings"
	"time"

	"switchboard/store"
)

// Every list of the API is built here, from one spec per resource: the
// fields filters and orderBy may name (each an SQL expression written in
// this file, never taken from a request), the fields textSearch looks in,
// and the default order. Values are always placeholders. The specs follow
// Bonsai's services (their columnMap, buildTextSearchCondition and
// default orderBy), on the fields Switchboard has.

// col is one list field: its SQL expression and kind.
type col struct {
	expr string
	// dialectExpr, when set, is the expression instead of expr, for one
	// that differs between the engines.
	dialectExpr func(*Dialect) string
	kind        store.FieldKind
	// nullable columns sort NULL as the smallest value on both engines.
	nullable bool
	// having marks an aggregate of a grouped list (users): it is
	// filtered in HAVING.
	having bool
}

// tagMode is what a textSearch of "tag:x" does on a list (Bonsai reads
// that prefix on most lists).
type tagMode int

const (
	// tagLiteral: the list does not read the prefix; "tag:x" is searched
	// as text (Bonsai's users, conversations, events).
	tagLiteral tagMode = iota
	// tagIgnore: Bonsai ignores a tag search on the list (it has no tags:
	// projects, API keys, the audit log); so does Switchboard.
	tagIgnore
	// tagNone: Bonsai's items have tags, Switchboard's have none (agents,
	// stages): no item carries the tag.
	tagNone
	// tagColumn: the items whose list column (spec.tags) holds the tag.
	tagColumn
)

// listSpec describes one list.
type listSpec struct {
	fields map[string]col
	// search are the expressions textSearch looks in; searchIn are
	// conditions with one ? that the search's LIKE pattern fills.
	search   []string
	searchIn []string
	// searchJSON are top-level text fields of JSON columns searched too
	// ({column, field}).
	searchJSON [][2]string
	// searchAny, on a grouped list (users), matches a group when any of
	// its rows matches the search (in HAVING), so that the group's sums
	// still count all its rows.
	searchAny bool
	tag       tagMode
	tags      string
	// order is the default order; tiebreak a unique column that ends
	// every order, so that pages never overlap.
	order    []store.Order
	tiebreak string
}

// Fields returns the spec's fields and kinds, for ListOptions.Check.
func (sp *listSpec) Fields() store.ListFields {
	f := store.ListFields{}
	for n, c := range sp.fields {
		f[n] = c.kind
	}
	return f
}

// newestFirst is Bonsai's default order: -createdAt.
var newestFirst = []store.Order{{Field: "createdAt", Desc: true}}

// meta are the fields of every versioned resource.
func meta(more map[string]col) map[string]col {
	m := map[string]col{
		"id":        {expr: "id"},
		"version":   {expr: "version", kind: store.KindInt},
		"createdAt": {expr: "created_at", kind: store.KindTime},
		"updatedAt": {expr: "updated_at", kind: store.KindTime},
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}

// The lists.
var (
	// archived is the API's archived parameter (Bonsai's: archived
	// projects, or active ones), carried as a filter; archivedAt,
	// timezone and archived are Switchboard's additions to Bonsai's
	// filterable fields.
	projectList = &listSpec{
		fields: meta(map[string]col{
			"name": {expr: "name"}, "description": {expr: "description"},
			"timezone":   {expr: "timezone", nullable: true},
			"archivedAt": {expr: "archived_at", kind: store.KindTime, nullable: true},
			"archived":   {expr: "(archived_at IS NOT NULL)", kind: store.KindBool},
		}),
		search: []string{"name"}, tag: tagIgnore, order: newestFirst, tiebreak: "id",
	}
	agentList = &listSpec{
		fields: meta(map[string]col{"projectId": {expr: "project_id"}, "name": {expr: "name"}}),
		search: []string{"name"}, tag: tagNone, order: newestFirst, tiebreak: "id",
	}
	stageList = &listSpec{
		fields: meta(map[string]col{
			"projectId": {expr: "project_id"}, "name": {expr: "name"}, "agentId": {expr: "agent_id"},
			"llmProviderId": {expr: "llm_provider_id", nullable: true}, "enterBehavior": {expr: "enter_behavior"},
		}),
		search: []string{"name"}, tag: tagNone, order: newestFirst, tiebreak: "id",
	}
	providerList = &listSpec{
		fields: meta(map[string]col{
			"name": {expr: "name"}, "providerType": {expr: "provider_type"}, "apiType": {expr: "api_type"},
			"tags": {expr: "tags", kind: store.KindList},
		}),
		search: []string{"name", "id", "provider_type", "api_type"}, tag: tagColumn, tags: "tags",
		order: newestFirst, tiebreak: "id",
	}
	apiKeyList = &listSpec{
		fields: meta(map[string]col{
			"projectId": {expr: "project_id"}, "name": {expr: "name"}, "isActive": {expr: "is_active", kind: store.KindBool},
			"lastUsedAt": {expr: "last_used_at", kind: store.KindTime, nullable: true},
		}),
		// Bonsai: the key's name, or its project's name.
		search: []string{"name"}, searchIn: []string{`project_id IN (SELECT p.id FROM projects p WHERE %s)`},
		tag: tagIgnore, order: newestFirst, tiebreak: "id",
	}
	operatorList = &listSpec{
		// An operator's id is its email (Bonsai's console sorts by
		// "email").
		fields: meta(map[string]col{
			"email": {expr: "id"}, "name": {expr: "name"}, "isActive": {expr: "is_active", kind: store.KindBool},
			"roles": {expr: "roles", kind: store.KindList},
		}),
		search: []string{"id", "name", "roles"}, tag: tagColumn, tags: "roles", order: newestFirst, tiebreak: "id",
	}
	conversationList = &listSpec{
		fields: meta(map[string]col{
			"projectId": {expr: "project_id"}, "userId": {expr: "user_id"}, "stageId": {expr: "stage_id"},
			"agentId": {expr: "agent_id"}, "channelProviderId": {expr: "channel_provider_id"},
			"status": {expr: "status"}, "deadline": {expr: "deadline", kind: store.KindTime},
			"direction": {expr: "direction"},
			// The API's statusDetails: set when a conversation ended.
			"statusDetails": {dialectExpr: statusDetailsSQL, nullable: true},
		}),
		// Bonsai searches the conversation's id.
		search: []string{"id"}, order: newestFirst, tiebreak: "id",
	}
	eventList = &listSpec{
		fields: map[string]col{
			"id": {expr: "id", kind: store.KindInt}, "conversationId": {expr: "conversation_id"},
			"eventType": {expr: "event_type"}, "timestamp": {expr: "created_at", kind: store.KindTime},
			"createdAt": {expr: "created_at", kind: store.KindTime},
		},
		search: []string{"event_type"}, order: []store.Order{{Field: "timestamp", Desc: true}}, tiebreak: "id",
	}
	outboundList = &listSpec{
		fields: map[string]col{
			"id": {expr: "id", kind: store.KindInt}, "conversationId": {expr: "conversation_id"},
			"from": {expr: "from_address"}, "to": {expr: "to_address"}, "part": {expr: "part", kind: store.KindInt},
			"parts": {expr: "parts", kind: store.KindInt}, "state": {expr: "state"}, "attempts": {expr: "attempts", kind: store.KindInt},
			"errorCode": {expr: "error_code", kind: store.KindInt}, "messageSid": {expr: "twilio_sid"},
			"deliveryStatus": {expr: "delivery_status"},
			"createdAt":      {expr: "created_at", kind: store.KindTime}, "updatedAt": {expr: "updated_at", kind: store.KindTime},
		},
		search: []string{"body"}, order: newestFirst, tiebreak: "id",
	}
	auditList = &listSpec{
		fields: map[string]col{
			"id": {expr: "id"}, "userId": {expr: "user_id", nullable: true}, "action": {expr: "action"},
			"entityType": {expr: "entity_type"}, "entityId": {expr: "entity_id"},
			"projectId": {expr: "project_id", nullable: true}, "createdAt": {expr: "created_at", kind: store.KindTime},
		},
		search: []string{"action", "entity_type", "entity_id", "user_id"}, tag: tagIgnore,
		order: newestFirst, tiebreak: "seq",
	}
	// userList's expressions are those of the users query (users.go):
	// user_id is the group key, the rest aggregates.
	userList = &listSpec{
		fields: map[string]col{
			"id":                {expr: "user_id"},
			"createdAt":         {expr: "MIN(created_at)", kind: store.KindTime, having: true},
			"updatedAt":         {expr: "MAX(updated_at)", kind: store.KindTime, having: true},
			"conversationCount": {expr: "COUNT(*)", kind: store.KindInt, having: true},
		},
		// Bonsai searches the user's id and profile name: the address and
		// the WhatsApp profile name of any of its conversations.
		search: []string{"user_id"}, searchJSON: [][2]string{{"metadata", "profileName"}}, searchAny: true,
		order: newestFirst, tiebreak: "user_id",
	}
)

// statusDetailsSQL is a conversation's statusDetails as the API answers
// it (api.statusDetails): the reason of the stored details
// ({"reason": "opt_out"}, written when a conversation ends) when it is not
// empty, else the stored text; NULL while the conversation is active.
// Only the engine writes the details, always a JSON object, so the JSON
// function never meets malformed text.
func statusDetailsSQL(d *Dialect) string {
	return "COALESCE(NULLIF(" + d.JSONField("status_details", "reason") + ", ''), status_details)"
}

// allLists names every list, for tests.
var allLists = map[string]*listSpec{
	"projects": projectList, "agents": agentList, "stages": stageList, "providers": providerList,
	"apiKeys": apiKeyList, "operators": operatorList, "conversations": conversationList, "events": eventList,
	"outbound": outboundList, "audit": auditList, "users": userList,
}

// sql is c's expression on d's engine.
func (c col) sql(d *Dialect) string {
	if c.dialectExpr != nil {
		return c.dialectExpr(d)
	}
	return c.expr
}

// query is a list's conditions: WHERE and HAVING terms with their
// arguments.
type query struct {
	where, having []string
	args, hargs   []any
}

func (q *query) add(c col, sql string, args ...any) {
	if c.having {
		q.having, q.hargs = append(q.having, sql), append(q.hargs, args...)
		return
	}
	q.where, q.args = append(q.where, sql), append(q.args, args...)
}

// whereSQL is " WHERE a AND b", or "".
func (q *query) whereSQL() string { return joinConds(" WHERE ", q.where) }

// havingSQL is " HAVING a AND b", or "".
func (q *query) havingSQL() string { return joinConds(" HAVING ", q.having) }

func joinConds(kw string, conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return kw + strings.Join(conds, " AND ")
}

// conds checks opts against sp and returns its conditions after base (the
// list's own: its project, its conversation).
func (d *Dialect) conds(sp *listSpec, opts store.ListOptions, base string, baseArgs ...any) (*query, error) {
	if err := opts.Check(sp.Fields()); err != nil {
		return nil, err
	}
	q := &query{}
	if base != "" {
		q.where, q.args = []string{base}, baseArgs
	}
	for _, f := range opts.Filters {
		sql, args := d.filterSQL(sp.fields[f.Field], f)
		q.add(sp.fields[f.Field], sql, args...)
	}
	if opts.Search != "" {
		d.searchSQL(sp, opts.Search, q)
	}
	return q, nil
}

// arg converts a checked filter value to a query argument.
func (d *Dialect) arg(kind store.FieldKind, v string) any {
	x, _ := store.ParseFilterValue(kind, v) // checked by ListOptions.Check
	if t, ok := x.(time.Time); ok {
		return d.Time(t)
	}
	return x
}

// filterSQL is the condition of one checked filter on c.
func (d *Dialect) filterSQL(c col, f store.Filter) (string, []any) {
	args := make([]any, len(f.Values))
	for i, v := range f.Values {
		args[i] = d.arg(c.kind, v)
	}
	e := c.sql(d)
	if c.kind == store.KindList {
		terms := make([]string, len(args))
		for i := range args {
			terms[i] = d.ListHas(e)
		}
		return "(" + strings.Join(terms, " AND ") + ")", args
	}
	if c.kind == store.KindText {
		switch f.Op {
		case store.OpGt, store.OpGte, store.OpLt, store.OpLte, store.OpBetween:
			e = d.binary(e) // byte order on both engines
		case store.OpLike:
			return d.FoldASCII(e) + ` LIKE ? ESCAPE '\'`, []any{store.ASCIILower(f.Values[0])}
		}
	}
	switch f.Op {
	case store.OpEq:
		return e + " = ?", args
	case store.OpNe:
		return e + " <> ?", args
	case store.OpGt:
		return e + " > ?", args
	case store.OpGte:
		return e + " >= ?", args
	case store.OpLt:
		return e + " < ?", args
	case store.OpLte:
		return e + " <= ?", args
	case store.OpBetween:
		return e + " BETWEEN ? AND ?", args
	case store.OpIn, store.OpNin:
		not := ""
		if f.Op == store.OpNin {
			not = "NOT "
		}
		return e + " " + not + "IN (?" + strings.Repeat(", ?", len(args)-1) + ")", args
	}
	return "1 = 0", nil // not reached: Check knows every operator
}

// searchSQL adds the condition of a text search.
func (d *Dialect) searchSQL(sp *listSpec, text string, q *query) {
	if tag, ok := strings.CutPrefix(text, "tag:"); ok && sp.tag != tagLiteral {
		switch sp.tag {
		case tagNone:
			q.where = append(q.where, "1 = 0")
		case tagColumn:
			q.where, q.args = append(q.where, d.ListHas(sp.tags)), append(q.args, strings.TrimSpace(tag))
		}
		return
	}
	pat := store.LikePattern(text)
	var ors []string
	var args []any
	exprs := slices.Clone(sp.search)
	for _, j := range sp.searchJSON {
		exprs = append(exprs, d.JSONField(j[0], j[1]))
	}
	for _, e := range exprs {
		ors, args = append(ors, d.FoldASCII(e)+` LIKE ? ESCAPE '\'`), append(args, pat)
	}
	for _, in := range sp.searchIn {
		ors = append(ors, strings.Replace(in, "%s", d.FoldASCII("p.name")+` LIKE ? ESCAPE '\'`, 1))
		args = append(args, pat)
	}
	if sp.searchAny {
		q.having = append(q.having, "MAX(CASE WHEN "+strings.Join(ors, " OR ")+" THEN 1 ELSE 0 END) = 1")
		q.hargs = append(q.hargs, args...)
		return
	}
	q.where, q.args = append(q.where, "("+strings.Join(ors, " OR ")+")"), append(q.args, args...)
}

// orderSQL is the ORDER BY of a checked opts: its orders or the default,
// then the tiebreak. Text sorts ignoring ASCII case. rename, when not nil,
// rewrites each field's expression (an outer query's alias).
func (d *Dialect) orderSQL(sp *listSpec, opts store.ListOptions, rename func(string) string) string {
	if rename == nil {
		rename = func(s string) string { return s }
	}
	orders := opts.OrderBy
	if len(orders) == 0 {
		orders = sp.order
	}
	var parts []string
	desc := false
	for _, o := range orders {
		c := sp.fields[o.Field]
		e := rename(c.sql(d))
		if c.kind == store.KindText {
			e = d.FoldASCII(e)
		}
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		if c.nullable {
			if o.Desc {
				dir += " NULLS LAST"
			} else {
				dir += " NULLS FIRST"
			}
		}
		parts, desc = append(parts, e+dir), o.Desc
	}
	tb := rename(sp.tiebreak)
	if desc {
		tb += " DESC"
	}
	return " ORDER BY " + strings.Join(append(parts, tb), ", ")
}

// listOf returns a page of the rows of from that the list's own condition
// base and opts select, and how many they select in all.
func listOf[T any](ctx context.Context, db *DB, op string, sp *listSpec, cols, from string, opts store.ListOptions,
	scan func(Scanner) (T, error), base string, baseArgs ...any) ([]T, int, error) {
	q, err := db.d.conds(sp, opts, base, baseArgs...)
	if err != nil {
		return nil, 0, err
	}
	where := q.whereSQL()
	return page(ctx, db, op, `SELECT COUNT(*) FROM `+from+where,
		`SELECT `+cols+` FROM `+from+where+db.d.orderSQL(sp, opts, nil), q.args, opts, scan)
}

// ListQuery returns the page query (with ? placeholders, the list's own
// condition first, then LIMIT and OFFSET) that a list of conversations
// ("conversations", under a project) or of the audit log ("audit") runs
// for opts, so that a store can test its query plan.
func (d *Dialect) ListQuery(list string, opts store.ListOptions) (string, error) {
	sp, from, base := auditList, "audit_logs", ""
	if list == "conversations" {
		sp, from, base = conversationList, "conversation_state", "project_id = ?"
	}
	q, err := d.conds(sp, opts, base)
	if err != nil {
		return "", err
	}
	return `SELECT * FROM ` + from + q.whereSQL() + d.orderSQL(sp, opts, nil) + ` LIMIT ? OFFSET ?`, nil
}
