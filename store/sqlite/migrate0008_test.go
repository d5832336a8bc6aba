package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"switchboard/store"
	"switchboard/store/sqlite"
)

// TestMigration0008KeepsProjects: a project stored before migration 0008
// (projects without timezone and archive columns) reads, after the
// migration, with no timezone (UTC) and not archived, and is listed as
// active. The database is taken back to before 0008 by dropping its
// columns and its record, then reopened.
func TestMigration0008KeepsProjects(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Close())

	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE projects DROP COLUMN archived_by`,
		`ALTER TABLE projects DROP COLUMN archived_at`,
		`ALTER TABLE projects DROP COLUMN timezone`,
		`DELETE FROM schema_migrations WHERE version = 8`,
		`INSERT INTO projects (id, name, description, created_at, updated_at, version) VALUES ('proj_old', 'old', '', 1, 1, 3)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	must(t, raw.Close())

	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen (migration 0008): %v", err)
	}
	defer db.Close()
	p, err := db.GetProject(ctx, "proj_old")
	if err != nil {
		t.Fatal(err)
	}
	if p.Timezone != nil || p.ArchivedAt != nil || p.ArchivedBy != nil || p.Version != 3 || p.Location().String() != "UTC" {
		t.Fatalf("old project after 0008: %+v", p)
	}
	ps, total, err := db.ListProjects(ctx, store.ListOptions{Filters: []store.Filter{{Field: "archived", Op: store.OpEq, Values: []string{"false"}}}})
	if err != nil || total != 1 || ps[0].ID != "proj_old" {
		t.Fatalf("active projects after 0008: %d, %v", total, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
