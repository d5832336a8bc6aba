package sqlcore

import (
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// TestListSpecs: every list's default order names its own sortable
// fields, every field has an expression, and a value a client sends
// never reaches the SQL text (it is a placeholder argument).
func TestListSpecs(t *testing.T) {
	d := &Dialect{FoldASCII: func(c string) string { return "LOWER(" + c + ")" },
		ListHas:   func(c string) string { return "has(" + c + ", ?)" },
		JSONField: func(c, f string) string { return c + "." + f }, Time: func(t time.Time) any { return t }}
	const evil = `x'); DROP TABLE projects; --`
	for name, sp := range allLists {
		if err := (store.ListOptions{OrderBy: sp.order}).Check(sp.Fields()); err != nil || sp.tiebreak == "" {
			t.Errorf("%s: default order %v: %v (tiebreak %q)", name, sp.order, err, sp.tiebreak)
		}
		for field, c := range sp.fields {
			if c.sql(d) == "" {
				t.Errorf("%s.%s has no expression", name, field)
			}
			op := store.OpEq
			if c.kind == store.KindText {
				op = store.OpLike
			}
			v := evil
			switch c.kind {
			case store.KindTime:
				v = "2026-01-02"
			case store.KindInt:
				v = "1"
			case store.KindBool:
				v = "true"
			}
			opts := store.ListOptions{Search: evil, Filters: []store.Filter{{Field: field, Op: op, Values: []string{v}}}}
			q, err := d.conds(sp, opts, "")
			if err != nil {
				t.Fatalf("%s.%s: %v", name, field, err)
			}
			all := strings.Join(append(q.where, q.having...), " ") + d.orderSQL(sp, opts, nil)
			if strings.Contains(all, "DROP") {
				t.Errorf("%s.%s: a value reached the SQL: %s", name, field, all)
			}
			if n := strings.Count(all, "?"); n != len(q.args)+len(q.hargs) {
				t.Errorf("%s.%s: %d placeholders, %d arguments: %s", name, field, n, len(q.args)+len(q.hargs), all)
			}
		}
	}
}
