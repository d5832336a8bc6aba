package postgres

import (
	"context"
	"fmt"
	"time"

	"switchboard/store"
)

const auditCols = `id, user_id, action, entity_type, entity_id, project_id, old_entity, new_entity, client_ip, user_agent, created_at`

func scanAudit(s scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var user, project, oldE, newE, ip, ua *string
	var c time.Time
	if err := s.Scan(&e.ID, &user, &e.Action, &e.EntityType, &e.EntityID, &project, &oldE, &newE, &ip, &ua, &c); err != nil {
		return nil, err
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	e.UserID, e.ProjectID, e.ClientIP, e.UserAgent = deref(user), deref(project), deref(ip), deref(ua)
	e.OldEntity, e.NewEntity = jsonBytes(oldE), jsonBytes(newE)
	e.CreatedAt = utc(c)
	return &e, nil
}

// AppendAudit stores an audit entry.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	store.PrepareAudit(e)
	if err := store.CheckAudit(e); err != nil {
		return err
	}
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO audit_logs (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, nullString(e.UserID), e.Action, e.EntityType, e.EntityID, nullString(e.ProjectID),
		jsonText(e.OldEntity), jsonText(e.NewEntity), nullString(e.ClientIP), nullString(e.UserAgent), e.CreatedAt)
	if err != nil {
		return writeErr("append audit", "audit entry", err)
	}
	return nil
}

// ListAudit returns a page of the audit entries f selects.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter, opts store.ListOptions) ([]*store.AuditEntry, int, error) {
	opts = opts.Normalize()
	where, args := store.AuditWhere(f, func(t time.Time) any { return t }, func(col string) string { return `LOWER(` + col + ` COLLATE "C")` })
	var total int
	if err := db.pool.QueryRow(ctx, rebind(`SELECT COUNT(*) FROM audit_logs`+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: list audit: %w", err)
	}
	items := []*store.AuditEntry{}
	if total == 0 || opts.Offset >= total {
		return items, total, nil
	}
	q := rebind(`SELECT ` + auditCols + ` FROM audit_logs` + where + store.AuditOrder(f) + ` LIMIT ? OFFSET ?`)
	more, err := queryAll(ctx, db.pool, "list audit", q, append(args, opts.Limit, opts.Offset), scanAudit)
	if err != nil {
		return nil, 0, err
	}
	return append(items, more...), total, nil
}

// PurgeAudit deletes the audit entries created before t.
func (db *DB) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit_logs WHERE created_at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("postgres: purge audit: %w", err)
	}
	return tag.RowsAffected(), nil
}
