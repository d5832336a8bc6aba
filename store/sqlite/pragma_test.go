package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPragmas checks the connection settings: WAL, foreign keys, durable
// commits and busy timeout on the writer; readers are query-only.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.writer.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("writer %s = %s, want %s", c.pragma, got, c.want)
		}
		if err := db.reader.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("reader %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	_, err = db.reader.ExecContext(ctx, "INSERT INTO projects (id, name, description, created_at, updated_at, version) VALUES ('x', 'x', '', 0, 0, 1)")
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("write through the read pool: %v, want a read-only error", err)
	}
	var n int
	if err := db.writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n < 1 {
		t.Fatalf("schema_migrations has %d rows, %v", n, err)
	}
}

func TestSynchronousOption(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), WithSynchronous("normal"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.writer.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil || got != "1" {
		t.Fatalf("synchronous = %s, %v; want 1", got, err)
	}
}
