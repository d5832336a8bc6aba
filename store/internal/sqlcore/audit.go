package sqlcore

import (
	"context"
	"database/sql"
	"time"

	"switchboard/store"
)

const auditCols = `id, user_id, action, entity_type, entity_id, project_id, old_entity, new_entity, client_ip, user_agent, created_at`

func scanAudit(s Scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var user, project, oldE, newE, ip, ua sql.NullString
	var c Time
	if err := s.Scan(&e.ID, &user, &e.Action, &e.EntityType, &e.EntityID, &project, &oldE, &newE, &ip, &ua, &c); err != nil {
		return nil, err
	}
	e.UserID, e.ProjectID, e.ClientIP, e.UserAgent = user.String, project.String, ip.String, ua.String
	e.OldEntity, e.NewEntity = JSONBytes(oldE), JSONBytes(newE)
	e.CreatedAt = c.Time
	return &e, nil
}

// AppendAudit stores an audit entry.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := db.guard(); err != nil {
		return err
	}
	if err := db.insertAudit(ctx, db.writer, e); err != nil {
		return err
	}
	return db.wrote()
}

// insertAudit checks e and inserts it through q.
func (db *DB) insertAudit(ctx context.Context, q execer, e *store.AuditEntry) error {
	store.PrepareAudit(e)
	if err := store.CheckAudit(e); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, db.d.Q(`INSERT INTO audit_logs (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, NullString(e.UserID), e.Action, e.EntityType, e.EntityID, NullString(e.ProjectID),
		JSONText(e.OldEntity), JSONText(e.NewEntity), NullString(e.ClientIP), NullString(e.UserAgent), db.d.Time(e.CreatedAt))
	if err != nil {
		return db.d.WriteErr("append audit", "audit entry", err)
	}
	return nil
}

// ListAudit returns a page of the audit entries opts selects.
func (db *DB) ListAudit(ctx context.Context, opts store.ListOptions) ([]*store.AuditEntry, int, error) {
	return listOf(ctx, db, "list audit", auditList, auditCols, "audit_logs", opts, scanAudit, "")
}

// PurgeAudit deletes the audit entries created before t.
func (db *DB) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	n, err := db.exec(ctx, `DELETE FROM audit_logs WHERE created_at < ?`, db.d.Time(before.UTC()))
	if err != nil {
		return 0, db.d.Errorf("purge audit: %w", err)
	}
	return n, nil
}
