package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"switchboard/internal/pgtemp"
)

// PostgresEnv names the variable that points tests at a PostgreSQL server
// (CI sets it). "off" skips the PostgreSQL tests.
const PostgresEnv = "SWITCHBOARD_TEST_POSTGRES_URL"

// postgresHint is what a developer does to run the skipped tests.
const postgresHint = "install PostgreSQL or set " + PostgresEnv + " (README: Quick start)"

// pg is the test binary's one PostgreSQL: resolved by the first
// PostgresURL, stopped by StopPostgres.
var pg struct {
	mu       sync.Mutex
	resolved bool
	url      string // the server's URL
	skip     string // why the PostgreSQL tests are skipped ("" = they run)
	err      error  // why the private cluster could not start
	server   *pgtemp.Server
	noticed  bool // the skip was reported on the terminal
}

// PostgresURL returns the URL of a PostgreSQL server (user postgres, an
// existing database) for the calling test: SWITCHBOARD_TEST_POSTGRES_URL
// when set (an unreachable server then fails the tests that connect, as it
// should in CI); otherwise, when PostgreSQL's server binaries are
// installed, a private throwaway cluster started for this test binary
// (stop it with StopPostgres from TestMain); otherwise it skips the test,
// and says so on the terminal: go test shows nothing of a passing
// package but its "ok" line, which would hide that PostgreSQL was not
// tested at all.
func PostgresURL(t testing.TB) string {
	t.Helper()
	pkg := callerPackage()
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if !pg.resolved {
		pg.resolved = true
		pg.url, pg.skip, pg.err = resolvePostgres()
	}
	if pg.err != nil {
		t.Fatalf("PostgreSQL: %v (set %s to a server, or %s=off to skip these tests)", pg.err, PostgresEnv, PostgresEnv)
	}
	if pg.skip != "" {
		if !pg.noticed {
			pg.noticed = true
			notifyTerminal(pkg + ": PostgreSQL suite SKIPPED — " + pg.skip)
		}
		t.Skip("PostgreSQL NOT tested: " + pg.skip)
	}
	return pg.url
}

// StopPostgres stops and removes the private cluster PostgresURL started,
// if any. Call it from TestMain after m.Run (should the test binary die
// first, the cluster is told to stop when it does: see pgtemp.Start).
func StopPostgres() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.server != nil {
		pg.server.Stop()
		pg.server = nil
		pg.resolved = false // a later PostgresURL starts a new one
	}
}

// resolvePostgres decides where the PostgreSQL tests run: the URL, or
// why they are skipped, or why the private cluster failed.
func resolvePostgres() (url, skip string, err error) {
	if u := strings.TrimSpace(os.Getenv(PostgresEnv)); u != "" {
		if u == "off" {
			return "", PostgresEnv + "=off", nil
		}
		return u, "", nil
	}
	bin := pgtemp.FindBinIn(lookPath, postgresBinGlob)
	if bin == "" {
		return "", "no PostgreSQL server binaries (initdb, postgres) found: " + postgresHint, nil
	}
	s, err := pgtemp.Start(bin, pgtemp.Options{})
	var unusable *pgtemp.UnusableError
	switch {
	case errors.As(err, &unusable):
		return "", unusable.Why + ": " + postgresHint, nil
	case err != nil:
		return "", "", err
	}
	pg.server = s
	return s.URL, "", nil
}

// lookPath and postgresBinGlob are where PostgreSQL's server binaries are
// looked for (variables for tests): initdb on PATH, then Debian's folders.
var (
	lookPath        = exec.LookPath
	postgresBinGlob = pgtemp.DebianBinGlob
)

// callerPackage returns the import path of the package that called
// PostgresURL (its _test suffix removed), for the terminal notice.
func callerPackage() string {
	pc, _, _, ok := runtime.Caller(2)
	if !ok {
		return "tests"
	}
	name := runtime.FuncForPC(pc).Name() // switchboard/store/postgres_test.testURL
	slash := strings.LastIndex(name, "/")
	if dot := strings.Index(name[slash+1:], "."); dot >= 0 {
		name = name[:slash+1+dot]
	}
	return strings.TrimSuffix(name, "_test")
}

// ttyPath is the controlling terminal (a variable for tests).
var ttyPath = "/dev/tty"

// notifyTerminal writes msg to the controlling terminal, the one place a
// test binary can be heard from under plain `go test ./...` when it
// passes. Without a terminal (CI) it does nothing: CI runs the suite.
func notifyTerminal(msg string) {
	f, err := os.OpenFile(ttyPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, msg)
}
