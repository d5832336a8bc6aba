package sealed

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// NewKey returns a fresh random key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sealed: generate key: %w", err)
	}
	return k, nil
}

// EncodeKey returns the text form of a key written to key files: standard
// base64, the form `openssl rand -base64 32` prints and ParseKey reads.
func EncodeKey(k []byte) string {
	return base64.StdEncoding.EncodeToString(k)
}

// ReadKeyFile reads a key file. It refuses a symbolic link (a link planted
// in the data directory must not make the server read, or report on, a file
// elsewhere), a file that is not a regular file, one its group or others
// may read or write (a key anyone on the host can read protects nothing)
// and, on Unix, one another user owns (that user could replace the key).
// The checks are made on the open file, so the file checked is the file
// read.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := openKeyFile(path)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("sealed: key file %s is a symbolic link, which is not followed: move the key file itself to %s (mode 0600)", path, path)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sealed: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sealed: key file %s is not a regular file (%s): remove it, or put the key file there", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("sealed: key file %s has permissions %04o; it must be readable by its owner only (chmod 600 %s)", path, perm, path)
	}
	if err := checkKeyFileOwner(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize))
	if err != nil {
		return nil, fmt.Errorf("sealed: key file %s: %w", path, err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("sealed: key file %s: %v", path, err)
	}
	return k, nil
}

// maxKeyFileSize bounds what ReadKeyFile reads: a key file holds one line
// of base64; anything longer fails ParseKey anyway.
const maxKeyFileSize = 4 << 10

// CreateKeyFile writes key to a new file at path with permissions 0600,
// failing if the file exists (O_EXCL: two processes starting at once
// cannot each write a key), and syncs it and its folder before returning.
func CreateKeyFile(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(EncodeKey(key) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("sealed: write key file %s: %w", path, werr)
	}
	return syncDir(filepath.Dir(path))
}

// LoadOrCreateKeyFile returns the key in the file at path, creating the
// file with a fresh key when it does not exist; created says which.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if key, err = NewKey(); err != nil {
		return nil, false, err
	}
	if err := CreateKeyFile(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs.
			key, err = ReadKeyFile(path)
			return key, false, err
		}
		return nil, false, err
	}
	return key, true, nil
}

// ReplaceKeyFile atomically replaces the key file at path with the file at
// from (written by CreateKeyFile): after a crash, path holds either the old
// or the new key, never a mix.
func ReplaceKeyFile(from, path string) error {
	if err := os.Rename(from, path); err != nil {
		return fmt.Errorf("sealed: replace key file %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sealed: sync %s: %w", dir, err)
	}
	return nil
}
