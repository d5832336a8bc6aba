package postgres

import (
	"io/fs"
	"testing"
)

// TestMigrationHistory: the versions and names that schema_migrations
// records are those databases already have, whether a migration is the
// store's own file or a shared template, so an upgraded database applies
// nothing twice and misses nothing.
func TestMigrationHistory(t *testing.T) {
	own, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := dialect.Migrations(own)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0001_init.sql", "0002_audit.sql", "0003_token_sessions.sql", "0004_users.sql"}
	if len(ms) < len(want) {
		t.Fatalf("%d migrations, want at least %d", len(ms), len(want))
	}
	for i, name := range want {
		if ms[i].Version != i+1 || ms[i].Name != name {
			t.Errorf("migration %d = %d %s, want %d %s", i, ms[i].Version, ms[i].Name, i+1, name)
		}
	}
}
