//go:build unix

package pgtemp

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Directories left by test binaries that died are removed once old and
// serverless; a live server's and a recent one's are kept.
func TestRemoveStale(t *testing.T) {
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
	RemoveStale(tmp, time.Now().Add(-time.Hour))
	for dir, kept := range map[string]bool{dead: false, empty: false, live: true, recent: true, other: true} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != kept {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), exists, kept)
		}
	}
}

// Start runs a server that accepts connections; Stop stops it and
// removes its files. Durable keeps fsync on.
func TestStartStop(t *testing.T) {
	bin := FindBin()
	if bin == "" {
		t.Skip("PostgreSQL is not installed: no private server to test")
	}
	parent := t.TempDir()
	if os.Geteuid() == 0 {
		// The postgres user must reach its directory.
		_ = os.Chmod(filepath.Dir(parent), 0o755)
		_ = os.Chmod(parent, 0o755)
	}
	s, err := Start(bin, Options{Parent: parent, Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.User.Username() != "postgres" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %q: %v", s.URL, err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("private PostgreSQL at %s: %v", s.URL, err)
	}
	c.Close()
	if filepath.Dir(s.Dir) != parent || s.PID() <= 0 {
		t.Fatalf("dir %s (parent %s), pid %d", s.Dir, parent, s.PID())
	}
	conf, err := os.ReadFile(filepath.Join(s.Dir, "data", "postmaster.opts"))
	if err != nil || strings.Contains(string(conf), "fsync=off") {
		t.Fatalf("durable server's options %q: %v", conf, err)
	}
	s.Stop()
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind: %v", s.Dir, err)
	}
	if c, err := net.Dial("tcp", u.Host); err == nil {
		c.Close()
		t.Fatalf("private PostgreSQL still listening at %s", u.Host)
	}
}
