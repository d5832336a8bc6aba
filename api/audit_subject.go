package api

import (
	"encoding/json"
	"net/http"

	"switchboard/store"
)

// What a record's audit entries say of it is decided here once, for the
// API's handlers and for records made outside a request (serve --demo),
// so that both leave the same history.

// auditSubject is how v, a record the API creates, appears in the audit
// log: its entity type, id, project ("" for the global ones) and snapshot
// (the public form the API answers with: provider secrets masked, no
// password hash, no API key value). ok is false for anything else.
func auditSubject(v any) (entityType, id, projectID string, snap json.RawMessage, ok bool) {
	switch v := v.(type) {
	case *store.Operator:
		return store.AuditOperator, v.ID, "", snapshot(publicOperator(v)), true
	case *store.Provider:
		return store.AuditProvider, v.ID, "", snapshot(publicProvider(v)), true
	case *store.Project:
		return store.AuditProject, v.ID, v.ID, snapshot(v), true
	case *store.Agent:
		return store.AuditAgent, v.ID, v.ProjectID, snapshot(v), true
	case *store.Stage:
		return store.AuditStage, v.ID, v.ProjectID, snapshot(v), true
	case *store.APIKey:
		return store.AuditAPIKey, v.ID, v.ProjectID, snapshot(publicAPIKey(v)), true
	}
	return "", "", "", nil, false
}

// CreatedEntry is the audit entry of the creation of v by the operator
// operatorID, the one the API records when that operator creates v (v is a
// *store.Operator, *store.Provider, *store.Project, *store.Agent,
// *store.Stage or *store.APIKey; nil for anything else). It is for records
// made outside a request: the caller sets UserAgent to say where from, and
// CreatedAt.
func CreatedEntry(operatorID string, v any) *store.AuditEntry {
	t, id, project, snap, ok := auditSubject(v)
	if !ok {
		return nil
	}
	return &store.AuditEntry{UserID: operatorID, Action: store.AuditCreate, EntityType: t, EntityID: id, ProjectID: project, NewEntity: snap}
}

// UpdatedEntry is the audit entry of operatorID's change of a record from
// old to new (both of the same kind, as for CreatedEntry; nil otherwise).
func UpdatedEntry(operatorID string, old, new any) *store.AuditEntry {
	e := CreatedEntry(operatorID, new)
	_, _, _, before, ok := auditSubject(old)
	if e == nil || !ok {
		return nil
	}
	e.Action, e.OldEntity = store.AuditUpdate, before
	return e
}

// recordCreate appends the audit entry of the creation of v by the
// authenticated operator.
func (s *Server) recordCreate(r *http.Request, v any) {
	userID := ""
	if op := currentOperator(r); op != nil {
		userID = op.ID
	}
	if e := CreatedEntry(userID, v); e != nil {
		s.appendAudit(r, e)
	}
}
