package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// Deferred durability (store.DeferredCommitter).
//
// A deferred batch's pipeline starts with set_config('synchronous_commit',
// 'off', true), which holds for that implicit transaction only: its commit
// returns once its WAL records are inserted, before they are flushed, so
// it survives a crash of Switchboard but not a crash of PostgreSQL. A
// later synchronous commit flushes the WAL up to its own commit record,
// which lies after every earlier one: Sync is such a commit (it takes a
// transaction id so that it has a commit record to flush), and so is a
// CommitBatch.
//
// What a crash of PostgreSQL loses is detected rather than assumed away:
// Open writes a random token into the UNLOGGED table durability_epochs,
// which PostgreSQL empties when it recovers from a crash. Every flush that
// is meant to cover deferred commits checks, in its own transaction, that
// the token is still there. If it is not, deferred commits may be gone
// while the engine already handed their messages on, so the store refuses
// every later write (EUNAVAILABLE) and the server must be restarted, to
// start again from what PostgreSQL kept.
type durability struct {
	token string

	// unsynced is set while deferred commits wait for a flush.
	unsynced atomic.Bool
	sqlcore.Durability
}

var (
	_ store.DeferredCommitter = (*DB)(nil)
	_ store.StatsReporter     = (*DB)(nil)
)

const (
	// sqlDeferred opens a deferred batch: no flush at its commit.
	sqlDeferred    = `SELECT set_config('synchronous_commit', 'off', true)`
	sqlEpochInsert = `INSERT INTO durability_epochs (token, created_at) VALUES ($1, now())`
	sqlEpochDelete = `DELETE FROM durability_epochs WHERE token = $1`
	sqlEpochCheck  = `SELECT EXISTS (SELECT 1 FROM durability_epochs WHERE token = $1)`
	// sqlSync takes a transaction id, so that its implicit transaction
	// writes a commit record and, with synchronous_commit on, flushes the
	// WAL through it; and checks the epoch token in the same transaction.
	sqlSync = `SELECT pg_current_xact_id() IS NOT NULL AND EXISTS (SELECT 1 FROM durability_epochs WHERE token = $1)`
)

// openDurability writes this store's epoch token.
func (db *DB) openDurability(ctx context.Context) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	db.dur.token = hex.EncodeToString(b[:])
	if _, err := db.pool.Exec(ctx, sqlEpochInsert, db.dur.token); err != nil {
		return fmt.Errorf("postgres: open: epoch: %w", err)
	}
	return nil
}

// closeDurability removes the epoch token.
func (db *DB) closeDurability() {
	if db.dur.token != "" {
		_, _ = db.pool.Exec(context.Background(), sqlEpochDelete, db.dur.token)
	}
}

// epochLost records that PostgreSQL lost deferred commits.
func (db *DB) epochLost() error {
	err := fmt.Errorf("PostgreSQL restarted after a crash while commits awaited their flush")
	db.dur.Fail(err)
	return db.errFailed()
}

// CommitBatchDeferred commits like CommitBatch without waiting for the WAL
// flush: the batch is durable once a later Sync (or CommitBatch) returns.
func (db *DB) CommitBatchDeferred(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return db.commitBatch(ctx, msgs, turns, true)
}

// Sync flushes the WAL through a synchronous commit of its own: every
// deferred commit that returned before the call is then durable, unless
// PostgreSQL lost them in a crash, which Sync reports.
func (db *DB) Sync(ctx context.Context) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	pending := db.dur.unsynced.Swap(false)
	var ok bool
	if err := db.pool.QueryRow(ctx, sqlSync, db.dur.token).Scan(&ok); err != nil {
		if pending {
			db.dur.unsynced.Store(true)
		}
		return fmt.Errorf("postgres: sync: %w", err)
	}
	db.dur.Syncs.Add(1)
	if !ok {
		if pending {
			return db.epochLost()
		}
		// PostgreSQL restarted with nothing of ours in flight: write the
		// token again, so the next flush can tell.
		if _, err := db.pool.Exec(ctx, sqlEpochInsert+` ON CONFLICT DO NOTHING`, db.dur.token); err != nil {
			return fmt.Errorf("postgres: sync: epoch: %w", err)
		}
	}
	return nil
}

// Stats returns the hot path's counts since Open (store.StatsReporter).
func (db *DB) Stats() store.Stats { return db.dur.Stats() }

// errFailed returns the error every write answers once the store could
// not tell what reached the disk, else nil.
func (db *DB) errFailed() error { return db.dur.Failed() }
