package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
)

// run runs the binary (bounded to 90 s) with args and extra environment
// and returns its exit code, stdout and stderr.
func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

func TestBadConfigStopsStartup(t *testing.T) {
	db := "DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "x.db")
	cases := []struct{ env, want string }{
		{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS=abc", `TWILIO_MESSAGING_SESSION_TIMEOUT_MS must be a positive integer (milliseconds), got "abc"`},
		{"TRUST_PROXY=perhaps", "TRUST_PROXY must be true or false"},
		{"DATABASE_URL=mysql://u:hunter2@h/db", "DATABASE_URL must start with sqlite: or postgres://"},
		{"SWITCHBOARD_SECRET_KEY=hunter2", "SWITCHBOARD_SECRET_KEY must be 32 bytes"},
		{"CLUSTER_PROVIDER=zookeeper", `CLUSTER_PROVIDER must be one of automanaged, k8s, consul, etcd, got "zookeeper"`},
		// A cluster on SQLite (the test's DATABASE_URL): refused, naming
		// DATABASE_URL.
		{"CLUSTER_PROVIDER=k8s", "CLUSTER_PROVIDER=k8s needs PostgreSQL, which all the nodes share: set DATABASE_URL=postgres://"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, []string{db, "SWITCHBOARD_ADDR=127.0.0.1:0", c.env}, "serve")
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", c.env, code, stderr, c.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("%s: a secret value was printed: %q", c.env, stderr)
		}
	}
}

func TestHelpListsSettings(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		code, out, _ := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, v := range []string{"SWITCHBOARD_ADDR", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "TWILIO_MESSAGING_SESSION_TIMEOUT_MS",
			"PUBLIC_BASE_URL", "TRUST_PROXY", "TWILIO_API_BASE_URL", "METRICS_ADDR", "METRICS_SESSION_SERIES_MAX"} {
			if !strings.Contains(out, v) {
				t.Errorf("%v does not list %s", args, v)
			}
		}
	}
	if code, _, stderr := run(t, nil, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Fatalf("unknown command: exit %d %q", code, stderr)
	}
}

// `switchboard --help` (no command named) is the overview, like
// `switchboard help`: every command, not only serve's help.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, c := range []string{"serve", "phone", "rotate-secret-key", "version"} {
			if !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("%v does not list the command %s:\n%s", args, c, out)
			}
		}
	}
}

// A DATABASE_URL naming a folder stops start-up with the path and the
// reason, not SQLite's bare "unable to open database file (14)".
func TestDatabasePathIsAFolder(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, []string{"DATABASE_URL=sqlite:" + dir, "SWITCHBOARD_ADDR=127.0.0.1:0", "METRICS_ADDR=off"}, "serve")
	if code != 1 || !strings.Contains(stderr, dir+" is a folder") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming %s as a folder", code, stderr, dir)
	}
}

// A millisecond setting given in seconds is accepted but warned about at
// start-up, naming the variable, the value and the probable intent.
func TestImplausibleSettingWarns(t *testing.T) {
	s := startServer(t, "", map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "1800"})
	testutil.CheckFor(t, 10*time.Second, func() error {
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "variable=TWILIO_MESSAGING_SESSION_TIMEOUT_MS") &&
				strings.Contains(l, "value=1800 ") && strings.Contains(l, "probably_meant=1800000") {
				return nil
			}
		}
		return fmt.Errorf("no warning about TWILIO_MESSAGING_SESSION_TIMEOUT_MS=1800 in:\n%s", s.logs.String())
	})
}

func TestDefaultDatabaseFolderCreated(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "nested", "deeper", "sb.db")})
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := httpClient.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nested", "deeper", "sb.db")); err != nil {
		t.Fatal(err)
	}
}

// One server per SQLite file: a second server started on the database of a
// running one exits 1 with an error naming the file, and so does
// rotate-secret-key (which must not re-seal secrets under a running
// server); the first keeps serving. kill -9 of the first leaves no stale
// lock: a new server starts at once on the same file.
func TestSecondServerOnOneSQLiteFileRefused(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir, nil)
	db := filepath.Join(dir, "switchboard.db")
	env := []string{"DATABASE_URL=sqlite:" + db, "SWITCHBOARD_ADDR=127.0.0.1:0", "METRICS_ADDR=off"}
	want := "the database " + db + " is in use: another server"
	for _, args := range [][]string{{"serve"}, {"rotate-secret-key"}} {
		code, _, stderr := run(t, env, args...)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("%v beside a running server: exit %d, stderr %q; want exit 1 and %q", args, code, stderr, want)
		}
	}
	resp, err := httpClient.Get(first.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the first server after the refused starts: /readyz %d", resp.StatusCode)
	}
	first.kill9()
	startServer(t, dir, nil)
}
