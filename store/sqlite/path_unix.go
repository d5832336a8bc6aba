//go:build unix

package sqlite

import "syscall"

// readWritable reports why this process may not read and write path (nil:
// it may), as the kernel decides: permissions, a read-only file system.
func readWritable(path string) error {
	const rOK, wOK = 4, 2 // access(2)'s R_OK and W_OK
	return syscall.Access(path, rOK|wOK)
}
