package sqlcore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestMigrationsRenderAsApplied: a shared migration renders, for each
// engine, to the text that engine's store applied before the migrations
// were shared (testdata holds those files), so a database that has it
// recorded and a new one end with the same schema.
func TestMigrationsRenderAsApplied(t *testing.T) {
	for name, d := range map[string]*Dialect{
		"sqlite":   {Name: "sqlite", Types: SQLiteTypes},
		"postgres": {Name: "postgres", Types: PostgresTypes},
	} {
		ms, err := d.Migrations(fstest.MapFS{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files, err := filepath.Glob(filepath.Join("testdata", name, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no testdata (%v)", name, err)
		}
		for _, f := range files {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, m := range ms {
				if m.Name == filepath.Base(f) {
					found = true
					if m.SQL != string(want) {
						t.Errorf("%s: %s renders as\n%s\nwant\n%s", name, m.Name, m.SQL, want)
					}
				}
			}
			if !found {
				t.Errorf("%s: migration %s is not shared", name, filepath.Base(f))
			}
		}
	}
}

// TestMigrationsMerge: a store's own migrations and the shared ones are
// applied in one version order, a version used twice is refused, and a
// template naming a type that Types lacks is refused rather than rendered
// as "<no value>".
func TestMigrationsMerge(t *testing.T) {
	d := &Dialect{Name: "test", Types: SQLiteTypes}
	ms, err := d.Migrations(fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE a (t {{.Time}})")}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	if len(got) < 2 || got[0] != "0001_init.sql" {
		t.Fatalf("order = %v", got)
	}
	if ms[0].SQL != "CREATE TABLE a (t {{.Time}})" {
		t.Errorf("a store's own migration was rendered: %q", ms[0].SQL)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Errorf("not in version order: %v", got)
		}
	}
	if _, err := d.Migrations(fstest.MapFS{"0003_again.sql": {Data: []byte("SELECT 1")}}); err == nil || !strings.Contains(err.Error(), "duplicate migration version 3") {
		t.Errorf("a version used twice: err = %v", err)
	}
	if _, err := d.render("x.sql", "{{.Text}}"); err == nil {
		t.Error("an unknown type name rendered")
	}
	if _, err := d.Migrations(fstest.MapFS{"init.sql": {Data: []byte("SELECT 1")}}); err == nil {
		t.Error("a migration without a version was accepted")
	}
}

// TestTimeScan: a stored time reads back as the same UTC instant from
// either engine's form, and NULL is nil only for NullTime.
func TestTimeScan(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600))
	for _, src := range []any{at.UnixMicro(), at} {
		var v Time
		if err := v.Scan(src); err != nil {
			t.Fatal(err)
		}
		if !v.Equal(at) || v.Location() != time.UTC {
			t.Errorf("Scan(%T) = %v, want %v in UTC", src, v.Time, at)
		}
		var n NullTime
		if err := n.Scan(src); err != nil || n.T == nil || !n.T.Equal(at) {
			t.Errorf("NullTime.Scan(%T) = %v, %v", src, n.T, err)
		}
	}
	var v Time
	if err := v.Scan(nil); err == nil {
		t.Error("Time scanned NULL")
	}
	if err := v.Scan("2026-01-01"); err == nil {
		t.Error("Time scanned a string")
	}
	n := NullTime{T: &at}
	if err := n.Scan(nil); err != nil || n.T != nil {
		t.Errorf("NullTime.Scan(nil) = %v, %v", n.T, err)
	}
}

// TestRebind numbers the placeholders in order.
func TestRebind(t *testing.T) {
	d := &Dialect{Numbered: true}
	if got := d.Q(`a = ? AND b IN (?, ?)`); got != `a = $1 AND b IN ($2, $3)` {
		t.Errorf("Q = %q", got)
	}
	if got := (&Dialect{}).Q(`a = ?`); got != `a = ?` {
		t.Errorf("unnumbered Q = %q", got)
	}
}
