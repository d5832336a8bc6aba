package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// TestListQueryPlans: PostgreSQL can read the long lists' common orders
// and filters from an index in order (with sequential scans disabled, on
// an empty schema, the planner shows which index it can use): a project's
// conversations newest first (conversations_list, backwards), by status
// and by user; the audit log newest first, by project and by action.
func TestListQueryPlans(t *testing.T) {
	base := testutil.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "RESET enable_seqscan")

	eq := func(field, v string) store.Filter {
		return store.Filter{Field: field, Op: store.OpEq, Values: []string{v}}
	}
	for _, tc := range []struct {
		list, index string
		opts        store.ListOptions
	}{
		{"conversations", "conversations_list", store.ListOptions{}},
		{"conversations", "conversations_status", store.ListOptions{Filters: []store.Filter{eq("status", "active")}}},
		{"conversations", "conversations_user", store.ListOptions{Filters: []store.Filter{eq("userId", "+15550000001")}}},
		{"audit", "audit_logs_time", store.ListOptions{}},
		{"audit", "audit_logs_project", store.ListOptions{Filters: []store.Filter{eq("projectId", "proj_1")}}},
		{"audit", "audit_logs_action", store.ListOptions{Filters: []store.Filter{eq("action", "CREATE")}}},
	} {
		sql, err := dialect.ListQuery(tc.list, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(sql, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		args[n-2], args[n-1] = 10, 0 // LIMIT, OFFSET
		rows, err := conn.Query(ctx, "EXPLAIN "+sqlcore.Rebind(sql), args...)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, " using "+tc.index+" ") || strings.Contains(all, "Sort") {
			t.Errorf("%s %v: plan does not read %s in order:\n%s\n%s", tc.list, tc.opts.Filters, tc.index, all, sql)
		}
	}
}
