package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// Durability (store.DeferredCommitter).
//
// With synchronous FULL or EXTRA configured (the default), the writer
// connection itself runs with synchronous NORMAL — a commit writes its WAL
// frames to the file, so it survives a crash of the process, but does not
// wait for the disk — and the store makes writes durable with an explicit
// fdatasync of the WAL file (flush), which covers every frame written
// before it (the WAL is one sequential file). Every write outside the hot
// path (the API's, through the core and inTx) flushes before it returns,
// as FULL would; concurrent writers share a flush. The hot path's
// CommitBatch flushes too; CommitBatchDeferred does not, and Sync flushes
// for everything deferred before it.
//
// SQLite's own promise for WAL mode is what the order relies on: a power
// loss keeps a prefix of the WAL's committed transactions (frames are
// checksummed and chained; recovery stops at the first frame that does
// not check out). So a flush makes durable exactly the transactions
// written before it.
//
// With synchronous NORMAL or OFF configured, nothing is fsynced per commit:
// CommitBatchDeferred is CommitBatch and Sync does nothing.
type durability struct {
	// syncWrites is set when the configured mode promises durable commits
	// (FULL, EXTRA): the store then flushes them itself.
	syncWrites bool

	mu  sync.Mutex // serialises flushes and guards wal and flushed
	wal *os.File   // the WAL file, opened at the first flush
	// written counts committed write transactions; flushed is the value
	// it had when the last successful flush began, so a writer whose
	// commit is already covered does not flush again.
	written atomic.Uint64
	flushed uint64

	// failed is set when an fsync failed: what was written since the last
	// good one may or may not be on disk (and after a failed fsync Linux
	// may report the next one as a success), so every later write is
	// refused until the database is reopened.
	sqlcore.Durability

	// powerLoss (WithPowerLossModel) keeps durableWAL, the length of the
	// WAL known to be on disk: what a power loss would leave of it.
	powerLoss  bool
	durableWAL atomic.Int64
}

var _ store.DeferredCommitter = (*DB)(nil)
var _ store.StatsReporter = (*DB)(nil)

// CommitBatchDeferred commits like CommitBatch without flushing: the
// batch is durable once a later Sync (or flushing write) returns.
func (db *DB) CommitBatchDeferred(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return db.commitBatch(ctx, msgs, turns, true)
}

// Sync flushes the WAL: every transaction committed before the call is
// then on disk.
func (db *DB) Sync(ctx context.Context) error {
	return db.flush()
}

// flush makes every transaction committed so far durable, unless a flush
// that began after the last of them already did.
func (db *DB) flush() error {
	if !db.dur.syncWrites {
		return nil
	}
	upTo := db.dur.written.Load()
	db.dur.mu.Lock()
	defer db.dur.mu.Unlock()
	if err := db.errFailed(); err != nil {
		return err
	}
	if db.dur.flushed >= upTo {
		return nil // covered by a flush that began after our commit
	}
	if db.dur.wal == nil {
		f, err := os.Open(db.path + "-wal")
		if os.IsNotExist(err) {
			// No WAL: SQLite checkpointed it into the database file and
			// synced that; there is nothing unflushed.
			db.dur.flushed = upTo
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: flush: %w", err)
		}
		// The WAL's directory entry must be on disk too for its frames
		// to be found after a power loss.
		if err := syncDir(filepath.Dir(db.path)); err != nil {
			f.Close()
			db.dur.Fail(err)
			return db.errFailed()
		}
		db.dur.wal = f
	}
	begun := db.dur.written.Load()
	size := db.walSize()
	if err := datasync(db.dur.wal); err != nil {
		db.dur.Fail(err)
		return db.errFailed()
	}
	db.dur.flushed = begun
	db.dur.Syncs.Add(1)
	db.durableUpTo(size)
	return nil
}

// walSize returns the WAL's length when the power-loss model is on (-1
// otherwise, or when it cannot be told).
func (db *DB) walSize() int64 {
	if !db.dur.powerLoss {
		return -1
	}
	fi, err := os.Stat(db.path + "-wal")
	if err != nil {
		return -1
	}
	return fi.Size()
}

// durableUpTo records that the WAL's first size bytes are on disk.
func (db *DB) durableUpTo(size int64) {
	for {
		cur := db.dur.durableWAL.Load()
		if size <= cur || db.dur.durableWAL.CompareAndSwap(cur, size) {
			return
		}
	}
}

// CrashCopy copies the database into dir as a power loss at this instant
// would leave it — the database file, and the WAL only as far as it is
// known to be on disk (frames written since the last flush are dropped) —
// and returns the copy's path. It needs WithPowerLossModel; it is a test
// aid.
func (db *DB) CrashCopy(dir string) (string, error) {
	if !db.dur.powerLoss {
		return "", fmt.Errorf("sqlite: crash copy needs WithPowerLossModel")
	}
	durable := db.dur.durableWAL.Load()
	dst := filepath.Join(dir, filepath.Base(db.path))
	if err := copyFile(db.path, dst, -1); err != nil {
		return "", err
	}
	if err := copyFile(db.path+"-wal", dst+"-wal", durable); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	return dst, nil
}

// copyFile copies src to dst, at most limit bytes (all when negative).
func copyFile(src, dst string, limit int64) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if limit >= 0 && int64(len(b)) > limit {
		b = b[:limit]
	}
	return os.WriteFile(dst, b, 0o600)
}

// syncDir fsyncs a directory, so the entries of files created in it
// survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// hotTx runs fn in a write transaction of the hot path, flushed before
// it returns unless deferred.
func (db *DB) hotTx(ctx context.Context, deferred bool, fn func(tx *sql.Tx) error) error {
	var err error
	if deferred {
		err = db.writeTx(ctx, "commit", fn)
	} else {
		err = db.inTx(ctx, "commit", fn)
	}
	if err == nil {
		db.dur.Commits.Add(1)
	}
	return err
}

// closeDurability releases the WAL handle.
func (db *DB) closeDurability() error {
	db.dur.mu.Lock()
	defer db.dur.mu.Unlock()
	if db.dur.wal == nil {
		return nil
	}
	err := db.dur.wal.Close()
	db.dur.wal = nil
	return err
}

// Stats returns the hot path's counts since Open (store.StatsReporter).
func (db *DB) Stats() store.Stats { return db.dur.Stats() }

// errFailed returns the error every write answers once the store could
// not tell what reached the disk, else nil.
func (db *DB) errFailed() error { return db.dur.Failed() }
