//go:build unix

package sealed

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// oNoFollow makes opening a key file fail when its last path element is a
// symbolic link.
const oNoFollow = syscall.O_NOFOLLOW

// openKeyFile opens a key file for reading without following a symbolic
// link, and without blocking should a FIFO or device have been put there
// (ReadKeyFile then refuses it as not a regular file).
func openKeyFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// checkKeyFileOwner refuses a key file not owned by the effective user of
// this process: its owner could replace the key or read the secrets it
// protects.
func checkKeyFileOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int64(st.Uid) != int64(euid) {
		return fmt.Errorf("sealed: key file %s is owned by uid %d, not by uid %d this server runs as: give it to that user (chown %d %s) or run the server as its owner", path, st.Uid, euid, euid, path)
	}
	return nil
}
