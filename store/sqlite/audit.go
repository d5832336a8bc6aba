package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"switchboard/store"
)

const auditCols = `id, user_id, action, entity_type, entity_id, project_id, old_entity, new_entity, client_ip, user_agent, created_at`

func scanAudit(s scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var user, project, oldE, newE, ip, ua sql.NullString
	var c int64
	if err := s.Scan(&e.ID, &user, &e.Action, &e.EntityType, &e.EntityID, &project, &oldE, &newE, &ip, &ua, &c); err != nil {
		return nil, err
	}
	e.UserID, e.ProjectID, e.ClientIP, e.UserAgent = user.String, project.String, ip.String, ua.String
	e.OldEntity, e.NewEntity = jsonBytes(oldE), jsonBytes(newE)
	e.CreatedAt = fromMicros(c)
	return &e, nil
}

// AppendAudit stores an audit entry.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	store.PrepareAudit(e)
	if err := store.CheckAudit(e); err != nil {
		return err
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO audit_logs (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, nullString(e.UserID), e.Action, e.EntityType, e.EntityID, nullString(e.ProjectID),
		jsonText(e.OldEntity), jsonText(e.NewEntity), nullString(e.ClientIP), nullString(e.UserAgent), micros(e.CreatedAt))
	if err != nil {
		return writeErr("append audit", "audit entry", err)
	}
	db.commits.Add(1)
	return nil
}

// ListAudit returns a page of the audit entries f selects.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter, opts store.ListOptions) ([]*store.AuditEntry, int, error) {
	opts = opts.Normalize()
	where, args := store.AuditWhere(f, func(t time.Time) any { return micros(t) }, func(col string) string { return "LOWER(" + col + ")" })
	var total int
	if err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: list audit: %w", err)
	}
	items := []*store.AuditEntry{}
	if total == 0 || opts.Offset >= total {
		return items, total, nil
	}
	q := `SELECT ` + auditCols + ` FROM audit_logs` + where + store.AuditOrder(f) + ` LIMIT ? OFFSET ?`
	more, err := queryAll(ctx, db.reader, "list audit", q, append(args, opts.Limit, opts.Offset), scanAudit)
	if err != nil {
		return nil, 0, err
	}
	return append(items, more...), total, nil
}

// PurgeAudit deletes the audit entries created before t.
func (db *DB) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM audit_logs WHERE created_at < ?`, micros(before.UTC()))
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge audit: %w", err)
	}
	db.commits.Add(1)
	n, _ := res.RowsAffected()
	return n, nil
}
