package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"switchboard/store"
)

// Deferred durability (store.DeferredCommitter).
//
// With synchronous FULL (the default) every write transaction of the API
// fsyncs the WAL before it returns. The engine's group committer instead
// writes its batches with the writer switched to NORMAL for that one
// transaction — the WAL frames are written to the file, so they survive a
// crash of the process, but not fsynced — and makes them durable with one
// fsync of the WAL file (Sync) shared by every batch written since, or by
// writing the batch that needs durability at once with FULL, whose fsync
// covers every frame before it (the WAL is one sequential file).
//
// SQLite's own promise for NORMAL in WAL mode is what the order relies on:
// a power loss keeps a prefix of the WAL's committed transactions (frames
// are checksummed and chained; recovery stops at the first frame that does
// not check out). So a Sync, or a FULL commit, makes durable exactly the
// transactions written before it.
//
// With synchronous NORMAL or OFF configured, nothing is ever fsynced per
// commit: CommitBatchDeferred is CommitBatch and Sync does nothing.
type durability struct {
	// syncWrites is set when the configured mode fsyncs commits (FULL,
	// EXTRA): only then are deferred commits and Sync meaningful.
	syncWrites bool
	// mode is the configured synchronous mode, restored after a deferred
	// commit.
	mode string

	mu  sync.Mutex // serialises Sync and guards wal
	wal *os.File   // the WAL file, opened at the first Sync

	// failed is set when an fsync failed: what was written since the last
	// good one may or may not be on disk (and after a failed fsync Linux
	// may report the next one as a success), so every later write is
	// refused until the database is reopened.
	failed atomic.Pointer[error]

	commits, syncs, statements atomic.Uint64

	// powerLoss (WithPowerLossModel) keeps durableWAL, the length of the
	// WAL known to be on disk: what a power loss would leave of it.
	powerLoss  bool
	durableWAL atomic.Int64
}

var _ store.DeferredCommitter = (*DB)(nil)
var _ store.StatsReporter = (*DB)(nil)

// Stats returns the hot path's counts since Open (store.StatsReporter).
func (db *DB) Stats() store.Stats {
	return store.Stats{Commits: db.dur.commits.Load(), Syncs: db.dur.syncs.Load(), Statements: db.dur.statements.Load()}
}

// errFailed returns the error every write answers once an fsync failed.
func (db *DB) errFailed() error {
	if p := db.dur.failed.Load(); p != nil {
		return store.Errorf(store.EUNAVAILABLE, "the database could not be made durable (%v); restart the server", *p)
	}
	return nil
}

// CommitBatchDeferred commits like CommitBatch without fsyncing: the batch
// is durable once a later Sync (or FULL commit) returns.
func (db *DB) CommitBatchDeferred(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return db.commitBatch(ctx, msgs, turns, true)
}

// Sync fsyncs the WAL: every transaction committed before the call is then
// on disk.
func (db *DB) Sync(ctx context.Context) error {
	if !db.dur.syncWrites {
		return nil
	}
	db.dur.mu.Lock()
	defer db.dur.mu.Unlock()
	if err := db.errFailed(); err != nil {
		return err
	}
	if db.dur.wal == nil {
		f, err := os.Open(db.path + "-wal")
		if err != nil {
			return fmt.Errorf("sqlite: sync: %w", err)
		}
		// The WAL's directory entry must be on disk too for its frames
		// to be found after a power loss.
		if err := syncDir(filepath.Dir(db.path)); err != nil {
			f.Close()
			db.fail(err)
			return db.errFailed()
		}
		db.dur.wal = f
	}
	size := db.walSize()
	if err := db.dur.wal.Sync(); err != nil {
		db.fail(err)
		return db.errFailed()
	}
	db.dur.syncs.Add(1)
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

func (db *DB) fail(err error) {
	db.dur.failed.CompareAndSwap(nil, &err)
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

// hotTx runs fn in a write transaction of the hot path. A deferred one
// runs with the writer switched to synchronous NORMAL for that transaction
// only (the connection is pinned meanwhile, so no other write runs in
// NORMAL), when the configured mode fsyncs commits.
func (db *DB) hotTx(ctx context.Context, deferred bool, fn func(tx *sql.Tx) error) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	var err error
	if deferred && db.dur.syncWrites {
		err = db.deferredTx(ctx, fn)
	} else {
		err = db.inTx(ctx, "commit", fn)
		if err == nil && db.dur.syncWrites {
			db.dur.syncs.Add(1)
		}
	}
	if err == nil {
		db.dur.commits.Add(1)
	}
	return err
}

func (db *DB) deferredTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	defer func() {
		// Back to the configured mode before anyone else writes; a
		// connection that cannot be switched back is discarded (the pool
		// opens a new one with the configured mode).
		if _, rerr := conn.ExecContext(context.Background(), `PRAGMA synchronous = `+db.dur.mode); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: commit: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	db.commits.Add(1)
	return nil
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
