//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dbLock is the exclusive lock a server holds on its database's lock file
// for as long as the database is open.
type dbLock struct{ f *os.File }

// lockDatabase takes the exclusive advisory lock (flock(2)) of the
// database at path, or fails at once, naming the database, if another
// server holds it: single-node mode assumes the engine is the only writer,
// and two engines on one file would each answer the same messages.
//
// The lock is on a file of its own, path.lock, not on the database:
//   - SQLite locks the database file with POSIX fcntl(2) byte-range locks,
//     and a process loses all of those on a file when it closes any
//     descriptor of that file, even one SQLite never saw. A descriptor of
//     ours on the database — one opened to try the lock, say, and closed
//     after failing — could silently drop the running store's locks.
//   - Where flock is emulated with fcntl locks (Linux on NFS, some FUSE
//     file systems) a flock on the database would collide with SQLite's own
//     byte-range locks there.
//   - The -wal and -shm files come and go with the connections, and the
//     -shm file is locked byte by byte by SQLite: neither can carry it.
//
// flock belongs to the open file description, so the kernel releases it
// when the file is closed or the process dies, kill -9 included: a lock is
// never stale, and the file left behind is harmless. It is never deleted,
// since a process that opened it just before the unlink would lock a file
// no later process sees. Two opens in one process conflict too (two open
// file descriptions), which is what lets a test check the lock in-process.
func lockDatabase(path string) (*dbLock, error) {
	lp, err := lockPath(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot open the lock file %s of the database %s: %w", lp, path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		holder := ""
		if b, rerr := os.ReadFile(lp); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = " (process " + strconv.Itoa(pid) + ")"
			}
		}
		f.Close()
		return nil, fmt.Errorf("sqlite: the database %s is in use: another server%s holds it (its lock file %s is locked); a SQLite database serves one server: stop the other one, or give this one its own DATABASE_URL (several nodes share PostgreSQL)", path, holder, lp)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: cannot lock %s for the database %s: %w", lp, path, err)
	}
	// The holder's pid, for the message above; only informative (another
	// pid namespace, a container, shows its own numbers).
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dbLock{f: f}, nil
}

// release lets the next server open the database. It may be called more
// than once.
func (l *dbLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
