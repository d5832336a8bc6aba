package sqlite

import (
	"fmt"
	"path/filepath"
)

// lockSuffix names the file beside the database that a server holds locked
// while it has the database open (see lockDatabase).
const lockSuffix = ".lock"

// lockPath is the lock file of the database at path: beside the file the
// path finally names, symbolic links followed, as SQLite places its -wal
// and -shm files, so that two spellings of one database share one lock.
func lockPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs)) // not created yet
	}
	return abs + lockSuffix, nil
}
