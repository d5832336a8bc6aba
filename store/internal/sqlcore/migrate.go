package sqlcore

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// sharedFS holds the migrations written once for both stores, as
// templates over Types (see the package doc).
//
//go:embed migrations/*.sql
var sharedFS embed.FS

// Migration is one schema version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the migrations of the store whose own files are own
// (NNNN_name.sql at its root, taken as they are) and of this package's
// shared templates, rendered for the dialect, in version order. A version
// number used twice is an error.
func (d *Dialect) Migrations(own fs.FS) ([]Migration, error) {
	ms, err := d.readMigrations(own, false)
	if err != nil {
		return nil, err
	}
	shared, err := fs.Sub(sharedFS, "migrations")
	if err != nil {
		return nil, d.Errorf("read migrations: %w", err)
	}
	more, err := d.readMigrations(shared, true)
	if err != nil {
		return nil, err
	}
	ms = append(ms, more...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, d.Errorf("duplicate migration version %d", ms[i].Version)
		}
	}
	return ms, nil
}

func (d *Dialect) readMigrations(fsys fs.FS, render bool) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, d.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, d.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, d.Errorf("migration %s: %w", name, err)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, d.Errorf("read migration %s: %w", name, err)
		}
		text := string(b)
		if render {
			if text, err = d.render(name, text); err != nil {
				return nil, err
			}
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: text})
	}
	return ms, nil
}

// render fills the dialect's type names into a shared migration.
func (d *Dialect) render(name, text string) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", d.Errorf("migration %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d.Types); err != nil {
		return "", d.Errorf("migration %s: %w", name, err)
	}
	return b.String(), nil
}

// Migrate applies the migrations (see Migrations) not yet recorded in
// schema_migrations, each in its own transaction on db, under the
// dialect's migration lock.
func (d *Dialect) Migrate(ctx context.Context, db *sql.DB, own fs.FS) error {
	return d.MigrateTo(ctx, db, own, math.MaxInt)
}

// MigrateTo is Migrate up to version last: tests build a database of an
// older schema with it, to check what a later migration does to its data.
func (d *Dialect) MigrateTo(ctx context.Context, db *sql.DB, own fs.FS, last int) error {
	ms, err := d.Migrations(own)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Version > last {
			break
		}
		if err := d.apply(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dialect) apply(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return d.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return d.Errorf("migration %s: lock: %w", m.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at `+d.Types.Time+` NOT NULL)`); err != nil {
		return d.Errorf("create schema_migrations: %w", err)
	}
	var done bool
	if err := tx.QueryRowContext(ctx, d.Q(`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`), m.Version).Scan(&done); err != nil {
		return d.Errorf("migration %s: %w", m.Name, err)
	}
	if done {
		return nil
	}
	// No arguments: the whole multi-statement file runs (pgx uses the
	// simple protocol for a statement without arguments).
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return d.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, d.Q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.Version, m.Name, d.Time(Now())); err != nil {
		return d.Errorf("migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return d.Errorf("migration %s: %w", m.Name, err)
	}
	return nil
}
