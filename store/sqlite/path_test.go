package sqlite_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/store/sqlite"
)

// openErr opens path and returns the error, failing if it opened.
func openErr(t *testing.T, path string) string {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err == nil {
		db.Close()
		t.Fatalf("Open(%s) succeeded", path)
	}
	return err.Error()
}

// A database path that is a folder is named, with the reason, instead of
// SQLite's "unable to open database file (14)".
func TestOpenFolderAsDatabase(t *testing.T) {
	dir := t.TempDir()
	msg := openErr(t, dir)
	if !strings.Contains(msg, dir+" is a folder") || strings.Contains(msg, "(14)") {
		t.Fatalf("error %q: want the path and that it is a folder", msg)
	}
}

// A folder that cannot be created (a parent is a regular file) is named.
func TestOpenUnderAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "data", "switchboard.db")
	msg := openErr(t, path)
	if !strings.Contains(msg, "cannot create the folder "+filepath.Dir(path)) || !strings.Contains(msg, "not a directory") {
		t.Fatalf("error %q: want the folder and the reason", msg)
	}
}

// A folder this process may not write is named, with the reason. Root may
// write any folder, so as root the test re-runs itself as nobody.
func TestOpenUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		rerunAsNobody(t)
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	msg := openErr(t, filepath.Join(dir, "switchboard.db"))
	if !strings.Contains(msg, "the folder "+dir+" of the database") || !strings.Contains(msg, "not writable") || !strings.Contains(msg, "permission denied") {
		t.Fatalf("error %q: want the folder and that it is not writable", msg)
	}
}

// rerunAsNobody runs the calling test in a copy of this test binary as the
// user nobody (through runuser), and fails if it does not pass there.
func rerunAsNobody(t *testing.T) {
	t.Helper()
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("running as root, which may write any folder, and no runuser to re-run as another user")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("running as root, which may write any folder, and no user nobody to re-run as")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sqlite-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sqlite.test")
	if err := copyFile(exe, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runuser, "-u", "nobody", "--", bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
