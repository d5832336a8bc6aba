package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersQueryPlan: the users queries read one user's conversations
// through the conversations_user index (project and user), never by
// scanning the project's conversations once per user of the page, which
// the planner would otherwise choose (it prefers another index that covers
// the opt-out lookup, or one that spares it the sort).
func TestUsersQueryPlan(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	search, one := dialect.UsersQueries()
	for _, q := range []string{
		search,
		one,
		`SELECT ` + convCols + ` FROM conversations WHERE project_id = ? AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
	} {
		args := []any{}
		for range strings.Count(q, "?") {
			args = append(args, "x")
		}
		rows, err := db.reader.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatal(err)
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
		for _, d := range plan {
			if (strings.Contains(d, "conversations") || strings.HasPrefix(d, "SEARCH c")) &&
				!strings.Contains(d, "conversations_user") {
				t.Errorf("plan step %q does not use conversations_user:\n%s\n%s", d, all, q)
			}
		}
	}
}
