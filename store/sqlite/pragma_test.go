package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
)

// TestPragmas checks the connection settings: WAL, foreign keys, busy
// timeout, synchronous NORMAL on the connections with FULL kept by the
// store's own flushes (every API write flushes); readers are query-only.
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
		{"synchronous", "1"},
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
	before := db.Stats().Syncs
	if err := db.CreateProject(ctx, &store.Project{Name: "durable"}); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().Syncs - before; got != 1 {
		t.Fatalf("an API write flushed %d times, want once (FULL)", got)
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
	before := db.Stats().Syncs
	if err := db.CreateProject(ctx, &store.Project{Name: "not flushed"}); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().Syncs - before; got != 0 {
		t.Fatalf("with NORMAL an API write flushed %d times, want never", got)
	}
}

// TestBackgroundCheckpoint checks that committed pages reach the database
// file without the writer's own automatic checkpoint (whose threshold these
// few commits stay far below): the background checkpointer copies them.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var limit int
	if err := db.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&limit); err != nil || limit != backstopCheckpointPages {
		t.Fatalf("writer wal_autocheckpoint = %d (%v), want %d", limit, err, backstopCheckpointPages)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	body := strings.Repeat("x", 1000)
	for i := range 200 {
		m := &store.InboundMessage{ProviderID: "prov_c", MessageSID: fmt.Sprintf("SM%032d", i), ProjectID: "proj_c", StageID: "stag_c",
			From: "+15550000002", To: "+15550000001", Body: body}
		if _, err := db.CommitInbound(ctx, []*store.InboundMessage{m}); err != nil {
			t.Fatal(err)
		}
	}
	// 200 KB of rows: the file grows once they are checkpointed.
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+150_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (%d before the writes): nothing checkpointed", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseTwice: a second Close returns without panicking.
func TestCloseTwice(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_ = db.Close()
}

// TestCheckpointFailureLogged: a failing background checkpoint is logged
// once, not at every tick.
func TestCheckpointFailureLogged(t *testing.T) {
	var buf testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.ckpt.Close() // every checkpoint fails from now on
	time.Sleep(4 * checkpointEvery)
	if n := strings.Count(buf.String(), "background checkpoint failing"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, buf.String())
	}
}
