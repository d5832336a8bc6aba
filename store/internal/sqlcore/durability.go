package sqlcore

import (
	"sync/atomic"

	"switchboard/store"
)

// Durability is the bookkeeping both stores keep for their hot path: the
// counts store.StatsReporter reports, and the latch that makes a store
// refuse writes once it cannot tell what reached the disk (a failed
// flush; PostgreSQL lost unflushed commits in a crash).
type Durability struct {
	failed atomic.Pointer[error]
	// Commits, Syncs and Statements are the counts of store.Stats.
	Commits, Syncs, Statements atomic.Uint64
}

// Stats returns the counts (store.StatsReporter).
func (d *Durability) Stats() store.Stats {
	return store.Stats{Commits: d.Commits.Load(), Syncs: d.Syncs.Load(), Statements: d.Statements.Load()}
}

// Fail latches err as the reason the store refuses writes (the first
// reason wins).
func (d *Durability) Fail(err error) {
	d.failed.CompareAndSwap(nil, &err)
}

// Failed returns the error every write answers once the latch is set
// (EUNAVAILABLE, naming the reason), else nil.
func (d *Durability) Failed() error {
	if p := d.failed.Load(); p != nil {
		return store.Errorf(store.EUNAVAILABLE, "the database could not be made durable (%v); restart the server", *p)
	}
	return nil
}
