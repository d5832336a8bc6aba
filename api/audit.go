package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// The audit log records every state-changing API call after it succeeded
// (record) and every security event (securityEvent), and serves them
// through Bonsai's routes and shapes: GET /api/audit-logs with Bonsai's
// list parameters and filters, and GET …/{id}/audit-logs per resource.
// Entity snapshots are the public JSON forms the API answers with
// (provider secrets masked, no password hash, no API key value); a failed
// request records nothing.

// entAudit is the permission entity of the audit log (audit:read).
const entAudit = "audit"

// auditWriteTimeout bounds one audit write. The write does not inherit the
// request's cancellation: a client that hangs up after its change
// succeeded does not erase the change's record.
const auditWriteTimeout = 5 * time.Second

// registerAudit mounts the audit routes.
func (s *Server) registerAudit(a *routes) {
	read := perm(entAudit, actRead)
	s.route(a, http.MethodGet, "/audit-logs", read, s.listAudit)
	for _, e := range []struct{ path, entityType string }{
		{"/operators/{id}", store.AuditOperator},
		{"/providers/{id}", store.AuditProvider},
		{"/projects/{id}", store.AuditProject},
		{"/projects/{projectId}/stages/{id}", store.AuditStage},
		{"/projects/{projectId}/agents/{id}", store.AuditAgent},
		{"/projects/{projectId}/conversations/{id}", store.AuditConversation},
		{"/projects/{projectId}/api-keys/{id}", store.AuditAPIKey},
		{"/api-keys/{id}", store.AuditAPIKey},
	} {
		s.route(a, http.MethodGet, e.path+"/audit-logs", read, s.entityAudit(e.entityType))
	}
}

// snapshot is the JSON object of a record for an audit entry; nil, a
// typed nil and JSON null are no snapshot. A json.RawMessage is taken as
// is, so handlers can freeze a record before they change it.
func snapshot(v any) json.RawMessage {
	switch v := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		if len(v) == 0 || string(v) == "null" {
			return nil
		}
		return v
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}

// auditConversation is the snapshot of a conversation: the sender's
// number is masked and its metadata left out, so that deleting a
// conversation does not leave the sender's details behind in the audit
// log.
func auditConversation(c *store.Conversation) json.RawMessage {
	cp := *c
	cp.UserID = twilio.MaskNumber(c.UserID)
	cp.Metadata = nil // the sender's profile name and the like: personal data
	return snapshot(&cp)
}

// record appends the audit entry of a state-changing call that succeeded,
// by the authenticated operator. old and new are the public forms of the
// record before and after (nil when there is none; see snapshot).
func (s *Server) record(r *http.Request, action, entityType, entityID, projectID string, old, new any) {
	userID := ""
	if op := currentOperator(r); op != nil {
		userID = op.ID
	}
	s.appendAudit(r, &store.AuditEntry{
		UserID: userID, Action: action, EntityType: entityType, EntityID: entityID, ProjectID: projectID,
		OldEntity: snapshot(old), NewEntity: snapshot(new),
	})
}

// securityEvent appends the audit entry of a security event (a login, a
// failed or throttled login, revoked tokens, …). Its actor is the
// authenticated operator if any; for a successful LOGIN, the operator who
// logged in (entityID). details, when non-nil, is the entry's newEntity
// and must hold no secret. entityID is cut to 128 bytes: on a failed
// login it is whatever the client sent.
func (s *Server) securityEvent(r *http.Request, action, entityType, entityID string, details map[string]any) {
	userID := ""
	if op := currentOperator(r); op != nil {
		userID = op.ID
	} else if action == store.AuditLogin {
		userID = entityID
	}
	e := &store.AuditEntry{UserID: userID, Action: action, EntityType: entityType, EntityID: truncate(entityID, 128)}
	if details != nil {
		e.NewEntity = snapshot(details)
	}
	if e.EntityID == "" {
		e.EntityID = "-"
	}
	s.appendAudit(r, e)
}

// auditAccountID is how an attempted operator id appears in the audit
// log: as itself when such an operator exists, else as "unknown:" and a
// hash prefix. People type passwords into the id field; the log is
// readable by every role, and must not collect them.
func (s *Server) auditAccountID(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if _, err := s.st.GetOperator(ctx, id); err == nil {
		return id
	}
	return "unknown:" + store.HashKey(id)[:16]
}

// readableEntityTypes are the entity types of the audit log whose entries
// roles may read: those of the entities they may read themselves (a
// support operator, who may not read providers, does not read their
// changes in the audit log either).
func readableEntityTypes(roles []string) (types []string, all bool) {
	all = true
	for _, t := range auditEntityTypes {
		if hasPermission(roles, perm(t, actRead)) {
			types = append(types, t)
		} else {
			all = false
		}
	}
	return types, all
}

// auditEntityTypes are the entity types audit entries are recorded for.
var auditEntityTypes = []string{store.AuditOperator, store.AuditProvider, store.AuditProject, store.AuditAgent,
	store.AuditStage, store.AuditAPIKey, store.AuditConversation}

// appendAudit stores e with the request's origin and the server's clock.
// A failure is logged and counted, never returned: the change it records
// has already been made.
func (s *Server) appendAudit(r *http.Request, e *store.AuditEntry) {
	e.ClientIP = s.auditClientIP(r)
	e.UserAgent = truncate(r.UserAgent(), 256)
	e.CreatedAt = s.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if err := s.st.AppendAudit(ctx, e); err != nil {
		s.metrics.auditFailure()
		s.log.Error("audit write failed", "action", e.Action, "entity_type", e.EntityType, "entity_id", e.EntityID,
			"user_id", e.UserID, "err", err)
	}
}

// auditClientIP is where a request came from, as the throttles see it
// (Options.ClientIP: the peer, or the client a trusted proxy names).
func (s *Server) auditClientIP(r *http.Request) string {
	return truncate(s.opts.ClientIP(r), 64)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// listAudit serves GET /api/audit-logs: Bonsai's list parameters (offset,
// limit, orderBy, textSearch, filters[...]) over the audit log, newest
// first by default. textSearch matches action, entity type, entity id and
// user id, ignoring case.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	if readable, all := readableEntityTypes(currentOperator(r).Roles); !all {
		if f.EntityTypes == nil {
			f.EntityTypes = readable
		} else {
			f.EntityTypes = slices.DeleteFunc(f.EntityTypes, func(t string) bool { return !slices.Contains(readable, t) })
			if len(f.EntityTypes) == 0 {
				writeList(w, []*store.AuditEntry{}, 0, opts)
				return nil
			}
		}
	}
	items, total, err := s.st.ListAudit(r.Context(), f, opts)
	if err != nil {
		return fmt.Errorf("api: list audit: %w", err)
	}
	writeList(w, items, total, opts)
	return nil
}

// entityAudit serves GET …/{id}/audit-logs of one entity type: the
// entity's entries, newest first, as a plain array (Bonsai's shape for
// these routes). A deleted entity's history stays readable, so the entity
// need not exist. The project-scoped routes keep to the project.
func (s *Server) entityAudit(entityType string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if p := perm(entityType, actRead); !hasPermission(currentOperator(r).Roles, p) {
			return &store.Error{Code: store.EFORBIDDEN, Message: "missing permission " + p, Details: map[string]string{"permission": p}}
		}
		opts, err := listOptions(r)
		if err != nil {
			return err
		}
		if r.URL.Query().Get("limit") == "" {
			opts.Limit = 1000
		}
		f := store.AuditFilter{EntityTypes: []string{entityType}, EntityIDs: []string{pathVar(r, "id")}}
		if p := pathVar(r, "projectId"); p != "" {
			f.ProjectIDs = []string{p}
		}
		items, _, err := s.st.ListAudit(r.Context(), f, opts)
		if err != nil {
			return fmt.Errorf("api: list audit: %w", err)
		}
		if items == nil {
			items = []*store.AuditEntry{}
		}
		writeJSON(w, http.StatusOK, items)
		return nil
	}
}

// auditFilterFields are the fields filters[...] may name, with the plain
// query parameter each also reads from (?entityType=agent).
var auditFilterFields = []string{"id", "entityType", "action", "userId", "entityId", "projectId", "createdAt"}

// auditActions are the actions a filter may name.
var auditActions = []string{store.AuditCreate, store.AuditUpdate, store.AuditDelete, store.AuditLogin, store.AuditLogout,
	store.AuditLoginFailed, store.AuditLoginThrottled, store.AuditTokensRevoked, store.AuditSignatureFailures}

// filterParam is one field's filter as the query gives it: direct values
// (filters[f]=v, filters[f][]=v, filters[f][0]=v, or the plain ?f=v), or
// an operator and its values (filters[f][op]=gte&filters[f][value]=v).
type filterParam struct {
	values []string
	op     string
	opVals []string
}

// filterKeyRe splits filters[field][a][b] into its bracketed parts.
var filterKeyRe = regexp.MustCompile(`^filters((?:\[[^\[\]]*\])+)$`)

// parseFilters groups the query's filter parameters by field; a filter
// of an unknown field or of an unknown shape is EINVALID naming it.
func parseFilters(q url.Values) (map[string]*filterParam, error) {
	out := map[string]*filterParam{}
	get := func(field string) *filterParam {
		if out[field] == nil {
			out[field] = &filterParam{}
		}
		return out[field]
	}
	known := func(field string) bool {
		for _, f := range auditFilterFields {
			if f == field {
				return true
			}
		}
		return false
	}
	// Keys in a stable order, indexed ones by their index, so that
	// filters[f][value][0] and [1] keep their order (a map has none).
	keys := slices.Collect(maps.Keys(q))
	slices.SortFunc(keys, compareFilterKeys)
	for _, key := range keys {
		vals := q[key]
		if known(key) {
			get(key).values = append(get(key).values, vals...)
			continue
		}
		if key == "filters" {
			return nil, store.FieldError("filters", "must be written filters[field]=value")
		}
		if !strings.HasPrefix(key, "filters[") {
			continue
		}
		m := filterKeyRe.FindStringSubmatch(key)
		if m == nil {
			return nil, store.FieldError(key, "malformed filter parameter")
		}
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(m[1], "["), "]"), "][")
		field := parts[0]
		if !known(field) {
			return nil, store.FieldError("filters["+field+"]", "unknown filter (want one of %s)", strings.Join(auditFilterFields, ", "))
		}
		fp := get(field)
		switch {
		case len(parts) == 1 || (len(parts) == 2 && isIndex(parts[1])):
			fp.values = append(fp.values, vals...)
		case len(parts) == 2 && parts[1] == "op":
			fp.op = vals[len(vals)-1]
		case parts[1] == "value" && (len(parts) == 2 || (len(parts) == 3 && isIndex(parts[2]))):
			fp.opVals = append(fp.opVals, vals...)
		default:
			return nil, store.FieldError(key, "malformed filter parameter")
		}
	}
	return out, nil
}

// compareFilterKeys orders query keys by name, and keys that differ only
// in a trailing array index ([2] before [10]) by that index.
func compareFilterKeys(a, b string) int {
	split := func(k string) (string, int) {
		i := strings.LastIndexByte(k, '[')
		if i < 0 || !strings.HasSuffix(k, "]") {
			return k, -1
		}
		n, err := strconv.Atoi(k[i+1 : len(k)-1])
		if err != nil {
			return k, -1
		}
		return k[:i], n
	}
	pa, na := split(a)
	pb, nb := split(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	return cmp.Compare(na, nb)
}

// isIndex reports whether a bracket part is an array index ("" or digits).
func isIndex(s string) bool {
	if s == "" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// auditFilter turns the query's filters, orderBy and textSearch into a
// store filter; a value it cannot use is EINVALID naming its parameter.
func auditFilter(q url.Values) (store.AuditFilter, error) {
	var f store.AuditFilter
	params, err := parseFilters(q)
	if err != nil {
		return f, err
	}
	// In the fields' fixed order, so that of two bad filters the same one
	// is named every time.
	for _, field := range auditFilterFields {
		p := params[field]
		if p == nil {
			continue
		}
		name := "filters[" + field + "]"
		if field == "createdAt" {
			if err := timeFilter(name, p, &f); err != nil {
				return f, err
			}
			continue
		}
		vals, err := stringFilter(name, p)
		if err != nil {
			return f, err
		}
		switch field {
		case "id":
			f.IDs = vals
		case "entityType":
			f.EntityTypes = vals
		case "action":
			for i, v := range vals {
				vals[i] = strings.ToUpper(v)
				if !contains(auditActions, vals[i]) {
					return f, store.FieldError(name, "unknown action %q (want one of %s)", v, strings.Join(auditActions, ", "))
				}
			}
			f.Actions = vals
		case "userId":
			f.UserIDs = vals
		case "entityId":
			f.EntityIDs = vals
		case "projectId":
			f.ProjectIDs = vals
		}
	}
	for _, o := range q["orderBy"] {
		for _, o := range strings.Split(o, ",") {
			switch strings.TrimSpace(o) {
			case "", "-createdAt":
				f.Oldest = false
			case "createdAt", "+createdAt":
				f.Oldest = true
			default:
				return f, store.FieldError("orderBy", "audit logs can be ordered by createdAt or -createdAt only")
			}
		}
	}
	if t := strings.TrimSpace(q.Get("textSearch")); t != "" {
		if len(t) > 200 {
			return f, store.FieldError("textSearch", "must be at most 200 characters")
		}
		f.Text = t
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// stringFilter returns the values a string field's filter matches (eq or
// in); every value must be non-empty and at most 200 bytes.
func stringFilter(name string, p *filterParam) ([]string, error) {
	vals := p.values
	if p.op != "" {
		if len(p.values) > 0 {
			return nil, store.FieldError(name, "give either a value or an op and value, not both")
		}
		switch p.op {
		case "eq":
			if len(p.opVals) != 1 {
				return nil, store.FieldError(name, "op eq takes one value")
			}
		case "in":
		default:
			return nil, store.FieldError(name, "op %q not supported here (want eq or in)", p.op)
		}
		vals = p.opVals
	} else if len(p.opVals) > 0 {
		return nil, store.FieldError(name, "a value needs an op")
	}
	if len(vals) == 0 {
		return nil, store.FieldError(name, "needs a value")
	}
	var out []string
	for _, v := range vals {
		for _, v := range strings.Split(v, ",") {
			v = strings.TrimSpace(v)
			if v == "" || len(v) > 200 {
				return nil, store.FieldError(name, "values must be 1 to 200 characters")
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// timeFilter applies a createdAt filter: a direct value or op eq, or op
// gt, gte, lt, lte with one value, or between with two (both ends
// included). Times are RFC 3339, or a date (midnight UTC).
func timeFilter(name string, p *filterParam, f *store.AuditFilter) error {
	op, vals := p.op, p.opVals
	if op == "" {
		if len(p.opVals) > 0 {
			return store.FieldError(name, "a value needs an op")
		}
		op, vals = "eq", p.values
	} else if len(p.values) > 0 {
		return store.FieldError(name, "give either a value or an op and value, not both")
	}
	if len(vals) == 1 && op == "between" {
		vals = strings.Split(vals[0], ",")
	}
	want := 1
	if op == "between" {
		want = 2
	}
	if len(vals) != want {
		return store.FieldError(name, "op %s takes %d value(s), got %d", op, want, len(vals))
	}
	ts := make([]time.Time, len(vals))
	for i, v := range vals {
		t, err := parseFilterTime(v)
		if err != nil {
			return store.FieldError(name, "%q is not a time (want RFC 3339, e.g. 2026-01-02T15:04:05Z, or a date 2026-01-02)", v)
		}
		ts[i] = t
	}
	const tick = time.Microsecond // the stores' precision
	switch op {
	case "eq":
		f.CreatedFrom, f.CreatedBefore = ts[0], ts[0].Add(tick)
	case "gte":
		f.CreatedFrom = ts[0]
	case "gt":
		f.CreatedFrom = ts[0].Add(tick)
	case "lte":
		f.CreatedBefore = ts[0].Add(tick)
	case "lt":
		f.CreatedBefore = ts[0]
	case "between":
		if ts[1].Before(ts[0]) {
			return store.FieldError(name, "between needs the earlier time first")
		}
		f.CreatedFrom, f.CreatedBefore = ts[0], ts[1].Add(tick)
	default:
		return store.FieldError(name, "op %q not supported here (want eq, gt, gte, lt, lte or between)", op)
	}
	return nil
}

// parseFilterTime reads an RFC 3339 time, one without a zone (UTC), or a
// date, truncated to the stores' microseconds.
func parseFilterTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return t, err
}
