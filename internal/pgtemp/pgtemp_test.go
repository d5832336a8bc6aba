package pgtemp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// initdb on PATH wins (links resolved); otherwise the newest versioned
// folder that has both binaries.
func TestFindBinIn(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, names ...string) string {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(d, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	v96 := mk("lib/9.6/bin", "initdb", "postgres")
	v15 := mk("lib/15/bin", "initdb", "postgres")
	mk("lib/16/bin", "initdb") // incomplete: no server binary
	none := func(string) (string, error) { return "", errors.New("not found") }
	if got := FindBinIn(none, filepath.Join(root, "lib/*/bin")); got != v15 {
		t.Fatalf("versioned folders: %q, want %q", got, v15)
	}
	link := filepath.Join(mk("usr/bin"), "initdb")
	if err := os.Symlink(filepath.Join(v96, "initdb"), link); err != nil {
		t.Fatal(err)
	}
	onPath := func(string) (string, error) { return link, nil }
	if got := FindBinIn(onPath, filepath.Join(root, "lib/*/bin")); got != v96 {
		t.Fatalf("initdb on PATH: %q, want %q", got, v96)
	}
	if got := FindBinIn(none, filepath.Join(root, "nothing/*/bin")); got != "" {
		t.Fatalf("no binaries: %q", got)
	}
}
