package sqlcore

import (
	"context"
	"database/sql"

	"switchboard/store"
)

// ImportProject stores a project with its agents and stages, and their
// audit entries, in one transaction (store.ProjectImporter).
func (db *DB) ImportProject(ctx context.Context, imp *store.ProjectImport) error {
	if imp == nil || imp.Project == nil {
		return store.Errorf(store.EINVALID, "import project: no project")
	}
	now := Now()
	meta := func(m store.Meta, prefix string) store.Meta {
		if m.ID == "" {
			m.ID = store.NewID(prefix)
		}
		m.CreatedAt, m.UpdatedAt, m.Version = now, now, 1
		return m
	}
	return db.inTx(ctx, "import project", func(tx *sql.Tx) error {
		p := imp.Project
		if err := db.insertProject(ctx, tx, p, meta(p.Meta, store.PrefixProject)); err != nil {
			return err
		}
		for _, a := range imp.Agents {
			if err := db.insertAgent(ctx, tx, a, meta(a.Meta, store.PrefixAgent)); err != nil {
				return err
			}
		}
		for _, s := range imp.Stages {
			if err := db.insertStage(ctx, tx, s, meta(s.Meta, store.PrefixStage)); err != nil {
				return err
			}
		}
		if imp.Audit == nil {
			return nil
		}
		for _, e := range imp.Audit() {
			if err := db.insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
