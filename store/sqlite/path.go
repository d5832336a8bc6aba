package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// preparePath creates the folder of the database at path and checks,
// before SQLite is asked, that the database can be opened there. SQLite
// itself only answers "unable to open database file (14)", naming neither
// the path nor the reason; these errors name both.
func preparePath(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("sqlite: cannot create the folder %s for the database %s: %w", dir, path, err)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Created by SQLite below.
	case err != nil:
		return fmt.Errorf("sqlite: cannot use the database file %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("sqlite: the database path %s is a folder, not a file: name a file in it (sqlite:%s)", path, filepath.Join(path, "switchboard.db"))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("sqlite: the database path %s is not a regular file (%s)", path, fi.Mode().Type())
	default:
		if err := readWritable(path); err != nil {
			return fmt.Errorf("sqlite: the database file %s is not readable and writable by this process (user %d): %w", path, os.Geteuid(), err)
		}
	}
	// Even when the file exists, SQLite creates its -wal and -shm files
	// beside it.
	if err := readWritable(dir); err != nil {
		return fmt.Errorf("sqlite: the folder %s of the database %s is not writable by this process (user %d; SQLite creates the database and its -wal and -shm files there): %w", dir, path, os.Geteuid(), err)
	}
	return nil
}
