//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"switchboard/store"
	"switchboard/store/sqlite"
)

// A second Open of a database that is open refuses, naming the database
// and saying another server holds it, and leaves the first store working;
// once the first is closed the database opens again. flock locks belong to
// the open file description, so two opens in one process conflict like two
// processes do.
func TestSecondOpenRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sb.db")
	first, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	msg := openErr(t, path)
	for _, want := range []string{"the database " + path + " is in use", "another server (process " + strconv.Itoa(os.Getpid()) + ") holds it", path + ".lock"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("second Open: %q, want %q in it", msg, want)
		}
	}

	// The same database through a symbolic link to its folder is the same
	// database, as SQLite (which follows links to place its WAL) sees it.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if msg := openErr(t, filepath.Join(link, "sb.db")); !strings.Contains(msg, "is in use") {
		t.Fatalf("Open through a symbolic link: %q, want it refused", msg)
	}

	// The refused opens did not disturb the first store.
	if err := first.CreateProject(ctx, &store.Project{Name: "still here"}); err != nil {
		t.Fatalf("the first store after a refused second open: %v", err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after the first store closed: %v", err)
	}
	defer again.Close()
	ps, _, err := again.ListProjects(ctx, store.ListOptions{})
	if err != nil || len(ps) != 1 || ps[0].Name != "still here" {
		t.Fatalf("projects after reopening: %+v %v", ps, err)
	}
}

// Another database in the same folder is not affected by the lock.
func TestLockIsPerDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"a.db", "b.db"} {
		db, err := sqlite.Open(ctx, filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer db.Close()
	}
}
