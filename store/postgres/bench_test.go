package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/postgres"

	"github.com/jackc/pgx/v5"
)

// BenchmarkCRUD measures the API's resource calls (an API key looked up by
// hash, a project read and updated), which run through the shared core
// (database/sql on the pgx pool), not the hot path.
func BenchmarkCRUD(b *testing.B) {
	base := testutil.PostgresURL(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "b_" + hex.EncodeToString(r[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	db, err := postgres.Open(ctx, withSearchPath(b, base, schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	p := &store.Project{Name: "bench"}
	if err := db.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	k := &store.APIKey{ProjectID: p.ID, Name: "k", KeyHash: "hash-bench", KeyPreview: "sk_…", IsActive: true}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.GetAPIKeyByHash(ctx, k.KeyHash); err != nil {
			b.Fatal(err)
		}
		got, err := db.GetProject(ctx, p.ID)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.UpdateProject(ctx, got, got.Version); err != nil {
			b.Fatal(err)
		}
	}
}
