package store

import (
	"encoding/json"
	"strings"
	"time"
)

// PrefixAudit is the ID prefix of audit log entries.
const PrefixAudit = "audt_"

// Audit actions. CREATE, UPDATE and DELETE are Bonsai's; the others record
// security events, which Bonsai's console lists like any other action.
const (
	AuditCreate            = "CREATE"
	AuditUpdate            = "UPDATE"
	AuditDelete            = "DELETE"
	AuditLogin             = "LOGIN"
	AuditLogout            = "LOGOUT"
	AuditLoginFailed       = "LOGIN_FAILED"
	AuditLoginThrottled    = "LOGIN_THROTTLED"
	AuditTokensRevoked     = "TOKENS_REVOKED"
	AuditSignatureFailures = "SIGNATURE_FAILURES"
)

// Audit entity types: Bonsai's names for the resources Switchboard has.
const (
	AuditOperator     = "operator"
	AuditProvider     = "provider"
	AuditProject      = "project"
	AuditAgent        = "agent"
	AuditStage        = "stage"
	AuditAPIKey       = "api_key"
	AuditConversation = "conversation"
	// AuditStartJob is a bulk start job (POST /api/twilio/messaging/send/bulk).
	AuditStartJob = "start_job"
)

// AuditEntry is one record of the audit log: who (UserID, the operator; ""
// for an anonymous event such as a failed login of an unknown id) did what
// (Action) to which resource (EntityType, EntityID, ProjectID when the
// resource belongs to a project), its state before and after (OldEntity,
// NewEntity: JSON objects with secrets already stripped, nil when there is
// none), from where (ClientIP, UserAgent) and when. Entries are appended,
// never changed.
//
// The JSON form is Bonsai's audit log shape (empty UserID and ProjectID
// read null) plus clientIp and userAgent.
type AuditEntry struct {
	ID         string
	UserID     string
	Action     string
	EntityType string
	EntityID   string
	ProjectID  string
	OldEntity  json.RawMessage
	NewEntity  json.RawMessage
	ClientIP   string
	UserAgent  string
	CreatedAt  time.Time
}

// auditJSON is the wire form of AuditEntry.
type auditJSON struct {
	ID         string          `json:"id"`
	UserID     *string         `json:"userId"`
	Action     string          `json:"action"`
	EntityID   string          `json:"entityId"`
	EntityType string          `json:"entityType"`
	ProjectID  *string         `json:"projectId"`
	OldEntity  json.RawMessage `json:"oldEntity"`
	NewEntity  json.RawMessage `json:"newEntity"`
	ClientIP   *string         `json:"clientIp"`
	UserAgent  *string         `json:"userAgent"`
	CreatedAt  time.Time       `json:"createdAt"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromOptional(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// MarshalJSON writes Bonsai's shape: absent values are null.
func (e *AuditEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(auditJSON{
		ID: e.ID, UserID: optional(e.UserID), Action: e.Action, EntityID: e.EntityID, EntityType: e.EntityType,
		ProjectID: optional(e.ProjectID), OldEntity: nullJSON(e.OldEntity), NewEntity: nullJSON(e.NewEntity),
		ClientIP: optional(e.ClientIP), UserAgent: optional(e.UserAgent), CreatedAt: e.CreatedAt,
	})
}

// UnmarshalJSON reads what MarshalJSON writes (clients and tests decode
// entries).
func (e *AuditEntry) UnmarshalJSON(b []byte) error {
	var j auditJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = AuditEntry{
		ID: j.ID, UserID: fromOptional(j.UserID), Action: j.Action, EntityID: j.EntityID, EntityType: j.EntityType,
		ProjectID: fromOptional(j.ProjectID), OldEntity: nullJSON(j.OldEntity), NewEntity: nullJSON(j.NewEntity),
		ClientIP: fromOptional(j.ClientIP), UserAgent: fromOptional(j.UserAgent), CreatedAt: j.CreatedAt,
	}
	return nil
}

// nullJSON returns nil for an absent or null JSON value, so that nil is the
// one form of "no value".
func nullJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// PrepareAudit fills an entry's ID and CreatedAt when unset and normalises
// its times to UTC microseconds (what both stores keep); both stores call
// it before writing.
func PrepareAudit(e *AuditEntry) {
	if e.ID == "" {
		e.ID = NewID(PrefixAudit)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	e.OldEntity = nullJSON(e.OldEntity)
	e.NewEntity = nullJSON(e.NewEntity)
}

// CheckAudit rejects an entry that lacks what every entry must name.
func CheckAudit(e *AuditEntry) error {
	switch {
	case e.Action == "":
		return FieldError("action", "required")
	case e.EntityType == "":
		return FieldError("entityType", "required")
	case e.EntityID == "":
		return FieldError("entityId", "required")
	}
	for _, v := range []struct {
		field string
		raw   json.RawMessage
	}{{"oldEntity", e.OldEntity}, {"newEntity", e.NewEntity}} {
		if v.raw != nil && (!json.Valid(v.raw) || v.raw[0] != '{') {
			return FieldError(v.field, "must be a JSON object")
		}
	}
	return nil
}

// ASCIILower lower-cases the ASCII letters of s and leaves every other
// character as it is, as both stores' column lower-casing does.
func ASCIILower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// likeEscaper makes a string match itself literally in a LIKE pattern
// with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
