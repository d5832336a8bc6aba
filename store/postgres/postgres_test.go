package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/postgres"
	"switchboard/store/storetest"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// envURL names the variable that points the tests at a PostgreSQL server.
const envURL = testutil.PostgresEnv

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

// testURL returns the server URL: SWITCHBOARD_TEST_POSTGRES_URL, or a
// private server when PostgreSQL is installed; otherwise the test is
// skipped, visibly (see testutil.PostgresURL).
func testURL(t *testing.T) string {
	t.Helper()
	return testutil.PostgresURL(t)
}

// withSearchPath returns base with search_path set to schema.
func withSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", envURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema creates an empty schema, dropped at cleanup, and returns a URL
// whose connections use it.
func newSchema(t *testing.T, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

func openSchema(t *testing.T, base string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), newSchema(t, base))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	base := testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openSchema(t, base) })
}

// TestReopen checks that migrations are recorded and not applied twice.
func TestReopen(t *testing.T) {
	base := testURL(t)
	u := newSchema(t, base)
	ctx := context.Background()
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Project{Name: "kept"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = postgres.Open(ctx, u)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.GetProject(ctx, p.ID); err != nil {
		t.Fatalf("project lost on reopen: %v", err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("migration 1 recorded %d times", n)
	}
}

// TestUnreachable checks that Open fails fast and clearly when nothing
// listens at the address.
func TestUnreachable(t *testing.T) {
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open succeeded with no server")
	}
	if !strings.HasPrefix(err.Error(), "postgres: connect to 127.0.0.1:1") {
		t.Fatalf("unclear error: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Open took %v to fail", d)
	}
}

// redact hides the password of a server URL in messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return envURL
	}
	return p.Redacted()
}

// TestSyncDetectsLostDeferredCommits: PostgreSQL empties the UNLOGGED
// epoch table when it recovers from a crash, which is when deferred
// commits not yet flushed are lost. Emptying it by hand stands in for the
// crash: a flush meant to cover deferred commits then fails, and the store
// refuses every later write; without deferred commits in flight the token
// is simply written again.
func TestSyncDetectsLostDeferredCommits(t *testing.T) {
	base := testURL(t)
	u := newSchema(t, base)
	ctx := context.Background()
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	crash := func() {
		t.Helper()
		if _, err := conn.Exec(ctx, `DELETE FROM durability_epochs`); err != nil {
			t.Fatal(err)
		}
	}
	crash() // nothing in flight: the next flush writes the token again
	if err := db.Sync(ctx); err != nil {
		t.Fatalf("sync with nothing in flight: %v", err)
	}
	msg := &store.InboundMessage{ProviderID: "prov_p", MessageSID: "SMlost", ProjectID: "proj_p", StageID: "stag_p", From: "+1", To: "+2", Body: "x"}
	if _, err := db.CommitBatchDeferred(ctx, []*store.InboundMessage{msg}, nil); err != nil {
		t.Fatal(err)
	}
	crash()
	if err := db.Sync(ctx); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("sync after deferred commits were lost: %v; want EUNAVAILABLE", err)
	}
	again := *msg
	again.MessageSID = "SMafter"
	if _, err := db.CommitBatch(ctx, []*store.InboundMessage{&again}, nil); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("commit after a failed flush: %v; want EUNAVAILABLE", err)
	}
	if err := db.CreateProject(ctx, &store.Project{Name: "after"}); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("write after a failed flush: %v; want EUNAVAILABLE", err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Fatal("ping succeeds after a failed flush; want readiness to fail")
	}
}

// TestUpgradeToTurns: the turns layout (migration 0007) keeps what the
// older layout stored (storetest.UpgradeToTurns).
func TestUpgradeToTurns(t *testing.T) {
	u := newSchema(t, testURL(t))
	raw, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.UpgradeToTurns(t, postgres.Dialect, raw, postgres.OwnMigrations(), func(t *testing.T) store.Store {
		db, err := postgres.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
