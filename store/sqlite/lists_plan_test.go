package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"switchboard/store"
)

// TestListQueryPlans: the common orders and filters of the long lists
// read an index in order, with no sort of the whole list (a "TEMP
// B-TREE") and no scan of the table (a whole index in order is fine): a project's conversations newest
// first, by status (the dashboard's counts, the status filter), by user;
// the audit log newest first, of one project, of one action.
func TestListQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eq := func(field, v string) store.Filter {
		return store.Filter{Field: field, Op: store.OpEq, Values: []string{v}}
	}
	for _, tc := range []struct {
		list, index string
		opts        store.ListOptions
	}{
		{"conversations", "conversations_list", store.ListOptions{}},
		{"conversations", "conversations_status", store.ListOptions{Filters: []store.Filter{eq("status", "active")}}},
		// Several statuses: either index, read in order.
		{"conversations", "conversations_", store.ListOptions{Filters: []store.Filter{{Field: "status", Op: store.OpIn, Values: []string{"active", "finished"}}}}},
		{"conversations", "conversations_user", store.ListOptions{Filters: []store.Filter{eq("userId", "+15550000001")}}},
		{"audit", "audit_logs_time", store.ListOptions{}},
		{"audit", "audit_logs_project", store.ListOptions{Filters: []store.Filter{eq("projectId", "proj_1")}}},
		{"audit", "audit_logs_action", store.ListOptions{Filters: []store.Filter{eq("action", "CREATE")}}},
	} {
		q, err := dialect.ListQuery(tc.list, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		args := []any{}
		for range strings.Count(q, "?") {
			args = append(args, "x")
		}
		rows, err := db.reader.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		table := map[string]string{"conversations": "conversations", "audit": "audit_logs"}[tc.list]
		if !strings.Contains(all, "INDEX "+tc.index) || strings.Contains(all, "TEMP B-TREE") || slices.Contains(plan, "SCAN "+table) {
			t.Errorf("%s %v: plan does not read %s in order:\n%s\n%s", tc.list, tc.opts.Filters, tc.index, all, q)
		}
	}
}
