package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/testutil"
)

// runMain runs a whole server in-process on SQLite in a temporary
// directory with env on top, and returns it, what it logged and Run's
// error; the server is closed when the test ends.
func runMain(t *testing.T, env map[string]string) (*Main, *testutil.SyncBuffer, error) {
	t.Helper()
	full := map[string]string{
		"SWITCHBOARD_ADDR": "127.0.0.1:0",
		"DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "switchboard.db"),
		"METRICS_ADDR":     "127.0.0.1:0",
	}
	for k, v := range env {
		full[k] = v
	}
	logs := &testutil.SyncBuffer{}
	m := NewMain(testConfig(t, full), io.Discard, logs)
	err := m.Run(context.Background())
	t.Cleanup(func() { _ = m.Close() })
	return m, logs, err
}

// freePort returns a loopback address nothing listens on (a port the
// kernel just handed out and that was closed again).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The default METRICS_ADDR is a fixed port, so a second server on the same
// host finds it taken. Start-up then fails with an error naming
// METRICS_ADDR, and the public address never served: the listeners are
// all opened before any serves, so a half-started server does not take
// webhooks it then drops when the process exits.
func TestTakenMetricsAddrStopsStartupBeforeServing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	public := freePort(t)
	_, _, err = runMain(t, map[string]string{"SWITCHBOARD_ADDR": public, "METRICS_ADDR": taken.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("Run with METRICS_ADDR taken: %v, want an error naming METRICS_ADDR", err)
	}
	if c, err := net.Dial("tcp", public); err == nil {
		c.Close()
		t.Fatalf("SWITCHBOARD_ADDR %s accepts connections although start-up failed", public)
	}
}

// pprof serves heap dumps and the command line: on an address beyond
// loopback it gets a warning at start, like METRICS_ADDR without a token.
func TestPprofBeyondLoopbackWarns(t *testing.T) {
	const warning = "PPROF_ADDR is not a loopback address"
	_, logs, err := runMain(t, map[string]string{"PPROF_ADDR": "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), warning) || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("PPROF_ADDR=0.0.0.0:0: no warning in %s", logs.String())
	}
	_, logs, err = runMain(t, map[string]string{"PPROF_ADDR": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), warning) {
		t.Fatalf("PPROF_ADDR on loopback warned: %s", logs.String())
	}
}

// A second server on the SQLite file of a running one stops start-up with
// an error naming the file, before opening any listener.
func TestSecondServerOnOneSQLiteFile(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "one.db")
	if _, _, err := runMain(t, map[string]string{"DATABASE_URL": db}); err != nil {
		t.Fatal(err)
	}
	public := freePort(t)
	_, _, err := runMain(t, map[string]string{"DATABASE_URL": db, "SWITCHBOARD_ADDR": public})
	if err == nil || !strings.Contains(err.Error(), "one.db is in use: another server") {
		t.Fatalf("second Run on one SQLite file: %v, want it refused naming the file", err)
	}
	if c, err := net.Dial("tcp", public); err == nil {
		c.Close()
		t.Fatalf("SWITCHBOARD_ADDR %s accepts connections although start-up failed", public)
	}
}
