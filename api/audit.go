package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
		entity := t
		if t == store.AuditStartJob {
			entity = entConversation // a job starts conversations: who reads them reads it
		}
		if hasPermission(roles, perm(entity, actRead)) {
			types = append(types, t)
		} else {
			all = false
		}
	}
	return types, all
}

// auditEntityTypes are the entity types audit entries are recorded for.
var auditEntityTypes = []string{store.AuditOperator, store.AuditProvider, store.AuditProject, store.AuditAgent,
	store.AuditStage, store.AuditAPIKey, store.AuditConversation, store.AuditStartJob}

// appendAudit stores e with the request's origin and the server's clock.
// A failure is logged and counted, never returned: the change it records
// has already been made.
func (s *Server) appendAudit(r *http.Request, e *store.AuditEntry) {
	s.auditOrigin(r, e)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if err := s.st.AppendAudit(ctx, e); err != nil {
		s.metrics.auditFailure()
		s.log.Error("audit write failed", "action", e.Action, "entity_type", e.EntityType, "entity_id", e.EntityID,
			"user_id", e.UserID, "err", err)
	}
}

// auditOrigin sets e's origin (the request's client address and user
// agent) and time (the server's clock).
func (s *Server) auditOrigin(r *http.Request, e *store.AuditEntry) {
	e.ClientIP = s.auditClientIP(r)
	e.UserAgent = truncate(r.UserAgent(), 256)
	e.CreatedAt = s.now()
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

// listAudit serves GET /api/audit-logs: Bonsai's list parameters
// (lists.go) over the audit log, newest first by default. textSearch
// matches action, entity type, entity id and user id, ignoring case. A
// role reads the entries of the entity types it may read only.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	if readable, all := readableEntityTypes(currentOperator(r).Roles); !all {
		if len(readable) == 0 {
			writeList(w, []*store.AuditEntry{}, 0, opts)
			return nil
		}
		opts = opts.With(store.Filter{Field: "entityType", Op: store.OpIn, Values: readable})
	}
	items, total, err := s.st.ListAudit(r.Context(), opts)
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
		eq := func(field, v string) store.Filter {
			return store.Filter{Field: field, Op: store.OpEq, Values: []string{v}}
		}
		opts = opts.With(eq("entityType", entityType), eq("entityId", pathVar(r, "id")))
		if p := pathVar(r, "projectId"); p != "" {
			opts = opts.With(eq("projectId", p))
		}
		items, _, err := s.st.ListAudit(r.Context(), opts)
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
