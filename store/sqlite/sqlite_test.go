package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"switchboard/store"
	"switchboard/store/sqlite"
	"switchboard/store/storetest"
)

func openTemp(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sub", "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestReopen checks that data survives a reopen and that migrations are
// recorded once.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "reopen.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Project{Name: "kept"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.GetProject(ctx, p.ID)
	if err != nil || got.Name != "kept" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// TestConcurrentWriters checks that many goroutines writing and reading at
// once all succeed: writes queue on the one writer connection instead of
// failing with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				m := &store.InboundMessage{ProviderID: "p", MessageSID: fmt.Sprintf("SM%d-%d", g, i), From: "+1", To: "+2", Body: "x"}
				if _, err := db.CommitInbound(ctx, []*store.InboundMessage{m}); err != nil {
					errs <- err
					return
				}
				if err := db.CreateProject(ctx, &store.Project{Name: "p"}); err != nil {
					errs <- err
					return
				}
				if _, _, err := db.ListProjects(ctx, store.ListOptions{Limit: 5}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pending, err := db.PendingInbound(ctx)
	if err != nil || len(pending) != 16*20 {
		t.Fatalf("%d pending, %v; want %d", len(pending), err, 16*20)
	}
}

func TestOpenBadSynchronous(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.WithSynchronous("SOMETIMES"))
	if err == nil || !strings.HasPrefix(err.Error(), "sqlite: ") {
		t.Fatalf("err = %v, want a sqlite: error", err)
	}
}

// TestOddPath checks that URI syntax characters in the path are taken
// literally.
func TestOddPath(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a #b?c=1&d %41")
	path := filepath.Join(dir, "x#y.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProject(ctx, &store.Project{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %q: %v", path, err)
	}
}

// TestCrashCopyKeepsOnlyWhatWasFlushed: the power-loss model. A deferred
// commit is in the WAL but not on disk until Sync: a crash copy taken
// before the flush has only the durable commit, one taken after has both.
func TestCrashCopyKeepsOnlyWhatWasFlushed(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.WithPowerLossModel())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	msg := func(sid string) *store.InboundMessage {
		return &store.InboundMessage{ProviderID: "prov_p", MessageSID: sid, ProjectID: "proj_p", StageID: "stag_p", From: "+1", To: "+2", Body: sid}
	}
	if _, err := db.CommitBatch(ctx, []*store.InboundMessage{msg("SMdurable")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitBatchDeferred(ctx, []*store.InboundMessage{msg("SMdeferred")}, nil); err != nil {
		t.Fatal(err)
	}
	sids := func() []string {
		t.Helper()
		p, err := db.CrashCopy(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c, err := sqlite.Open(ctx, p)
		if err != nil {
			t.Fatalf("open crash copy: %v", err)
		}
		defer c.Close()
		pend, err := c.PendingInbound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range pend {
			out = append(out, m.MessageSID)
		}
		return out
	}
	if got := sids(); len(got) != 1 || got[0] != "SMdurable" {
		t.Fatalf("before the flush a power loss keeps %q; want only the durable commit", got)
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sids(); len(got) != 2 {
		t.Fatalf("after the flush a power loss keeps %q; want both", got)
	}
}

// TestUpgradeToTurns: the turns layout (migration 0007) keeps what the
// older layout stored (storetest.UpgradeToTurns).
func TestUpgradeToTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.UpgradeToTurns(t, sqlite.Dialect, raw, sqlite.OwnMigrations(), func(t *testing.T) store.Store {
		raw.Close()
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
