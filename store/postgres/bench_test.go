package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/postgres"

	"github.com/jackc/pgx/v5"
)

// BenchmarkCRUD measures the API's resource calls (an API key looked up by
// hash, a project read and updated), which run through the shared core
// (database/sql on the pgx pool), not the hot path.
func BenchmarkCRUD(b *testing.B) {
	ctx := context.Background()
	db, p, _ := benchStore(b)
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

// BenchmarkFencedCommit measures what fencing (ClusterStore.FenceAs)
// adds to a batch of turns: the same batches committed by a store that
// is not fenced and by one that is (one more statement, which share-locks
// the turns' slot rows). It reports the statements and the WAL bytes per
// batch besides the time.
func BenchmarkFencedCommit(b *testing.B) {
	ctx := context.Background()
	db, p, conn := benchStore(b)
	c := &store.Conversation{ProjectID: p.ID, StageID: "stag_x", UserID: "+15551110000", ChannelProviderID: "prov_chan",
		ChannelAddress: "+15550000001", Deadline: time.Now().Add(time.Hour)}
	if err := db.CreateConversation(ctx, c, store.Event{EventType: store.EventConversationStart}); err != nil {
		b.Fatal(err)
	}
	if err := db.JoinCluster(ctx, "bench", "127.0.0.1:1", time.Hour); err != nil {
		b.Fatal(err)
	}
	all := make([]int, store.Slots)
	for i := range all {
		all[i] = i
	}
	if _, err := db.AcquireSlots(ctx, "bench", all); err != nil {
		b.Fatal(err)
	}
	event, _ := json.Marshal(store.MessageData{Role: "assistant", Text: "a reply of a typical length, some forty words long"})
	// Every batch of n turns has the same n slots: parallel batches lock
	// the same rows, the worst case (several lockers of a row share a
	// MultiXact).
	commit := func(b *testing.B, n int) {
		turns := make([]*store.Turn, n)
		for j := range turns {
			turns[j] = &store.Turn{ConversationID: c.ID, Slot: j * (store.Slots / n),
				Events:   []store.Event{{EventType: store.EventMessage, EventData: event}},
				Deadline: time.Now().Add(time.Hour)}
		}
		if _, err := db.CommitBatchDeferred(ctx, nil, turns); err != nil {
			b.Error(err)
		}
	}
	for _, parallel := range []int{1, 4} {
		for _, n := range []int{1, 32} {
			for _, fenced := range []bool{false, true} {
				name := fmt.Sprintf("parallel=%d/turns=%d/fenced=%v", parallel, n, fenced)
				b.Run(name, func(b *testing.B) {
					if fenced {
						db.FenceAs("bench")
					} else {
						db.FenceAs("")
					}
					var lsn0, lsn1 string
					if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn0); err != nil {
						b.Fatal(err)
					}
					before := db.Stats()
					if parallel == 1 {
						for b.Loop() {
							commit(b, n)
						}
					} else {
						// parallel batches at once.
						b.SetParallelism((parallel + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								commit(b, n)
							}
						})
					}
					if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn1); err != nil {
						b.Fatal(err)
					}
					var wal float64
					if err := conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)`, lsn1, lsn0).Scan(&wal); err != nil {
						b.Fatal(err)
					}
					st := db.Stats()
					b.ReportMetric(float64(st.Statements-before.Statements)/float64(b.N), "statements/op")
					b.ReportMetric(wal/float64(b.N), "WAL-bytes/op")
				})
			}
		}
	}
}

// benchStore opens the store on a schema of its own (dropped at the end)
// of the test PostgreSQL, with one project, and a connection to that
// PostgreSQL.
func benchStore(b *testing.B) (*postgres.DB, *store.Project, *pgx.Conn) {
	b.Helper()
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
	return db, p, conn
}
