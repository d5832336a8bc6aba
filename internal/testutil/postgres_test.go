package testutil

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/pgtemp"
)

// The skip notice goes to the terminal, once, naming the package and what
// to do; without a terminal nothing is written and nothing fails.
func TestNotifyTerminal(t *testing.T) {
	tty := filepath.Join(t.TempDir(), "tty")
	if err := os.WriteFile(tty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := ttyPath
	t.Cleanup(func() { ttyPath = old })
	ttyPath = tty
	notifyTerminal("switchboard/store/postgres: PostgreSQL suite SKIPPED — " + postgresHint)
	b, _ := os.ReadFile(tty)
	if got := string(b); !strings.Contains(got, "switchboard/store/postgres: PostgreSQL suite SKIPPED") || !strings.Contains(got, PostgresEnv) {
		t.Fatalf("terminal got %q", got)
	}
	ttyPath = filepath.Join(t.TempDir(), "missing", "tty")
	notifyTerminal("nowhere") // no terminal: no panic, no file
	if _, err := os.Stat(ttyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a terminal file was created: %v", err)
	}
}

// The caller's package is what the notice names.
func TestCallerPackage(t *testing.T) {
	var got string
	func() { got = callerPackageOf() }()
	if got != "switchboard/internal/testutil" {
		t.Fatalf("callerPackage = %q", got)
	}
}

// callerPackageOf stands for PostgresURL: callerPackage names its caller.
func callerPackageOf() string { return callerPackage() }

// With PostgreSQL installed and no URL set, PostgresURL starts a private
// server that accepts connections, and StopPostgres stops it and removes
// its files. Where nothing is installed the test is skipped, visibly.
func TestPrivatePostgres(t *testing.T) {
	if os.Getenv(PostgresEnv) != "" {
		t.Skip(PostgresEnv + " is set: the private server is not used")
	}
	if pgtemp.FindBinIn(lookPath, postgresBinGlob) == "" {
		t.Skip("PostgreSQL is not installed: no private server to test")
	}
	start := time.Now()
	u := PostgresURL(t)
	t.Logf("private PostgreSQL started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(StopPostgres)
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Host)
	if err != nil {
		t.Fatalf("private PostgreSQL at %s: %v", u, err)
	}
	c.Close()
	pg.mu.Lock()
	dir := pg.server.Dir
	pg.mu.Unlock()
	StopPostgres()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind: %v", dir, err)
	}
	if c, err := net.Dial("tcp", p.Host); err == nil {
		c.Close()
		t.Fatalf("private PostgreSQL still listening at %s", p.Host)
	}
}

// With no URL and nothing installed, PostgresURL skips the test and says
// so once on the terminal, naming the calling package and the remedy.
func TestPostgresURLSkipsVisibly(t *testing.T) {
	t.Setenv(PostgresEnv, "")
	oldLook, oldGlob, oldTTY := lookPath, postgresBinGlob, ttyPath
	t.Cleanup(func() {
		lookPath, postgresBinGlob, ttyPath = oldLook, oldGlob, oldTTY
		pg.resolved, pg.skip, pg.noticed = false, "", false
	})
	lookPath = func(string) (string, error) { return "", errors.New("not found") }
	postgresBinGlob = filepath.Join(t.TempDir(), "*", "bin")
	ttyPath = filepath.Join(t.TempDir(), "tty")
	if err := os.WriteFile(ttyPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	StopPostgres()
	pg.resolved, pg.noticed = false, false
	for i := range 2 {
		ok := t.Run("call", func(t *testing.T) {
			PostgresURL(t)
			t.Error("PostgresURL returned without PostgreSQL")
		})
		if !ok {
			t.Fatalf("call %d failed instead of skipping", i)
		}
	}
	b, _ := os.ReadFile(ttyPath)
	want := "switchboard/internal/testutil: PostgreSQL suite SKIPPED — no PostgreSQL server binaries (initdb, postgres) found: install PostgreSQL or set SWITCHBOARD_TEST_POSTGRES_URL (README: Quick start)\n"
	if string(b) != want {
		t.Fatalf("terminal got %q, want it once: %q", b, want)
	}
}
