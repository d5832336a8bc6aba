//go:build unix

package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Directories left by test binaries that died are removed once old and
// serverless; a live server's and a recent one's are kept.
func TestRemoveStaleClusters(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name, pid string, age time.Duration) string {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(pid+"\n/data\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dead := mk("switchboard-pgtest-dead", "2147483000", 2*time.Hour)
	empty := mk("switchboard-pgtest-empty", "", 2*time.Hour)
	live := mk("switchboard-pgtest-live", strconv.Itoa(os.Getpid()), 2*time.Hour)
	recent := mk("switchboard-pgtest-recent", "", time.Minute)
	other := mk("something-else", "", 2*time.Hour)
	removeStaleClusters(tmp, time.Now().Add(-time.Hour))
	for dir, kept := range map[string]bool{dead: false, empty: false, live: true, recent: true, other: true} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != kept {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), exists, kept)
		}
	}
}
