package sqlite

import (
	"os"
	"syscall"
)

// datasync flushes f's data (and the metadata needed to read it back, such
// as its size) to disk, as SQLite itself does on Linux.
func datasync(f *os.File) error {
	return syscall.Fdatasync(int(f.Fd()))
}
