//go:build unix

package sealed

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKeyFileSymlinkRefused: a symbolic link at the key file's path is not
// followed, whether it points at a valid key file (planted to make the
// server use a key someone else controls) or at nothing (to make it create
// one elsewhere).
func TestKeyFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "elsewhere.key")
	k, _ := NewKey()
	if err := CreateKeyFile(real, k); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "db.key")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if key, err := ReadKeyFile(link); err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), link) || key != nil {
		t.Fatalf("ReadKeyFile through a link = %v, %v", key, err)
	}
	if _, _, err := LoadOrCreateKeyFile(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("LoadOrCreateKeyFile through a link: %v", err)
	}

	dangling := filepath.Join(dir, "other.key")
	target := filepath.Join(dir, "target.key")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateKeyFile(dangling); err == nil || created {
		t.Fatalf("LoadOrCreateKeyFile through a dangling link: created=%v %v", created, err)
	}
	if err := CreateKeyFile(dangling, k); err == nil {
		t.Fatal("CreateKeyFile wrote through a link")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key file was created at the link's target: %v", err)
	}
}

// TestKeyFileModeRefused: any group or other permission bit refuses the
// key file, with the command that fixes it.
func TestKeyFileModeRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.key")
	k, _ := NewKey()
	if err := CreateKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		_ = os.Chmod(path, mode)
		if _, err := ReadKeyFile(path); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
}

// TestKeyFileOwnerRefused: a key file owned by another user is refused,
// naming the owner and what to do. Only root can give a file away.
func TestKeyFileOwnerRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a file to another user")
	}
	path := filepath.Join(t.TempDir(), "db.key")
	k, _ := NewKey()
	if err := CreateKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "owned by uid 12345") || !strings.Contains(err.Error(), "chown 0 "+path) {
		t.Fatalf("a key file of another user was accepted: %v", err)
	}
}

// TestKeyFileNotRegularRefused: a FIFO put where the key file belongs is
// refused at once; opening it must not wait for a writer.
func TestKeyFileNotRegularRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "db.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := ReadKeyFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("FIFO: %v", err)
	}
	if _, err := ReadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}
