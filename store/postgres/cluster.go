package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Cluster ownership and fencing (store.ClusterStore), in the tables of
// migration 0011_cluster.
//
// A node's lease is a row of cluster_nodes, valid until lease_until by the
// database's clock; a slot's owner a row of cluster_slots. A fenced batch
// starts with cluster_fence (see the migration), which fails the batch
// unless the node's lease is valid and it owns the slots of the batch's
// turns, and share-locks those slots' rows until the batch commits.
// Changing a slot's owner updates its row, so it waits for those commits
// in progress, and a commit that starts meanwhile waits for the change and
// sees the new owner. Ownership therefore never changes under a commit:
// whatever a node committed for a slot is in the database before the
// slot's next owner acquires it and reads the slot's sessions.
//
// Taking a slot from a node whose lease expired also rewrites that node's
// row (AcquireSlots): a renewal of its lease in progress waits for the
// taker and then finds the lease expired (READ COMMITTED re-checks a row
// that changed under it), so a lease once found expired stays expired.

var _ store.ClusterStore = (*DB)(nil)

// pgFenced is the SQLSTATE cluster_fence raises.
const pgFenced = "SBFNC"

// staleNodes is how long after its lease expired a node's row (owning no
// slots) is kept for ClusterMembers before JoinCluster deletes it.
const staleNodes = time.Hour

const (
	// sqlJoin registers a node incarnation; joining again while its lease
	// is valid (a retried call) renews it, an expired incarnation does not
	// come back. $3 is the lease in microseconds.
	sqlJoin = `INSERT INTO cluster_nodes (node, addr, lease_until) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (node) DO UPDATE SET lease_until = excluded.lease_until
		WHERE cluster_nodes.lease_until > clock_timestamp() AND cluster_nodes.addr = excluded.addr`
	// sqlForgetNodes deletes the rows of nodes long gone ($1 microseconds
	// after their lease expired) that own no slot.
	sqlForgetNodes = `DELETE FROM cluster_nodes n WHERE lease_until < clock_timestamp() - $1 * interval '1 microsecond'
		AND NOT EXISTS (SELECT 1 FROM cluster_slots s WHERE s.owner = n.node)`
	sqlRenew = `UPDATE cluster_nodes SET lease_until = clock_timestamp() + $2 * interval '1 microsecond'
		WHERE node = $1 AND lease_until > clock_timestamp()`
	sqlLeaveSlots = `UPDATE cluster_slots SET owner = '' WHERE owner = $1`
	sqlLeaveNode  = `UPDATE cluster_nodes SET lease_until = LEAST(lease_until, clock_timestamp()) WHERE node = $1`
	sqlLeaseValid = `SELECT EXISTS (SELECT 1 FROM cluster_nodes WHERE node = $1 AND lease_until > clock_timestamp())`
	// sqlSealOwners finds the nodes with an expired lease that own one of
	// slots $2 (other than $1), and rewrites their rows (no value
	// changes): a renewal in progress is waited for, and one that comes
	// later re-checks the lease on the new row version and fails.
	sqlSealOwners = `UPDATE cluster_nodes SET lease_until = lease_until
		WHERE node IN (SELECT owner FROM cluster_slots WHERE slot = ANY($2) AND owner <> '' AND owner <> $1)
			AND lease_until <= clock_timestamp()
		RETURNING node`
	// sqlTakeSlots makes $1 the owner of those of slots $2 that are free,
	// owned by one of the expired nodes $3, or by a node with no row, and
	// returns them with the slots $1 already owned. Taking a slot waits
	// for the fenced commits in progress that locked it.
	sqlTakeSlots = `WITH taken AS (UPDATE cluster_slots s SET owner = $1, epoch = epoch + 1
			WHERE slot = ANY($2) AND owner <> $1
				AND (owner = '' OR owner = ANY($3) OR NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node = s.owner))
			RETURNING slot)
		SELECT slot FROM taken UNION ALL SELECT slot FROM cluster_slots WHERE slot = ANY($2) AND owner = $1 ORDER BY slot`
	sqlReleaseSlots = `UPDATE cluster_slots SET owner = '' WHERE slot = ANY($2) AND owner = $1`
	sqlReportView   = `UPDATE cluster_nodes SET view = $2, view_at = clock_timestamp() WHERE node = $1`
	sqlMembers      = `SELECT n.node, n.addr, n.lease_until, n.lease_until > clock_timestamp(),
			n.view, COALESCE(n.view_at > clock_timestamp() - $1 * interval '1 microsecond', false),
			COALESCE(array_agg(s.slot ORDER BY s.slot) FILTER (WHERE s.slot IS NOT NULL), '{}')
		FROM cluster_nodes n LEFT JOIN cluster_slots s ON s.owner = n.node
		GROUP BY n.node ORDER BY n.joined_at, n.node`
	sqlSlotOwner = `SELECT s.owner, COALESCE(n.addr, ''), COALESCE(n.lease_until, 'epoch'::timestamptz),
			COALESCE(n.lease_until > clock_timestamp(), false)
		FROM cluster_slots s LEFT JOIN cluster_nodes n ON n.node = s.owner WHERE s.slot = $1`
	// sqlFence is the first statement of a fenced batch.
	sqlFence = `SELECT cluster_fence($1, $2)`
)

// micros is d in whole microseconds, the unit of the SQL above.
func micros(d time.Duration) int64 { return d.Microseconds() }

func checkNode(node string) error {
	if node == "" {
		return store.FieldError("node", "must not be empty")
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return store.FieldError("ttl", "must be at least 1ms, got %v", ttl)
	}
	return nil
}

// checkSlots returns slots sorted without repeats, or EINVALID for a slot
// out of range.
func checkSlots(slots []int) ([]int32, error) {
	out := make([]int32, 0, len(slots))
	for _, s := range slots {
		if s < 0 || s >= store.Slots {
			return nil, store.FieldError("slots", "slot %d is out of range [0, %d)", s, store.Slots)
		}
		out = append(out, int32(s))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// JoinCluster registers a node incarnation at addr with a lease of ttl
// from now, and deletes the rows of nodes whose lease expired long ago
// and that own no slot. Joining again with a valid lease at the same
// address renews it (at another, ECONFLICT); an incarnation whose lease
// expired cannot join again (EFENCED).
func (db *DB) JoinCluster(ctx context.Context, node, addr string, ttl time.Duration) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	return db.inTx(ctx, "join cluster", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlForgetNodes, micros(staleNodes)); err != nil {
			return fmt.Errorf("postgres: join cluster: %w", err)
		}
		tag, err := tx.Exec(ctx, sqlJoin, node, addr, micros(ttl))
		if err != nil {
			return fmt.Errorf("postgres: join cluster: %w", err)
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		var live bool
		if err := tx.QueryRow(ctx, sqlLeaseValid, node).Scan(&live); err != nil {
			return fmt.Errorf("postgres: join cluster: %w", err)
		}
		if live {
			return store.Errorf(store.ECONFLICT, "node %s is a member at another address", node)
		}
		return store.Errorf(store.EFENCED, "node %s joined before and its lease has expired: join as a new incarnation", node)
	})
}

// RenewLease extends node's lease to ttl from now; an expired lease, or
// a node that never joined, is EFENCED.
func (db *DB) RenewLease(ctx context.Context, node string, ttl time.Duration) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := db.errFailed(); err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, sqlRenew, node, micros(ttl))
	if err != nil {
		return fmt.Errorf("postgres: renew lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.Errorf(store.EFENCED, "node %s has no valid lease to renew", node)
	}
	return nil
}

// LeaveCluster frees every slot node owns and ends its lease, in one
// transaction; freeing a slot waits for node's commits in progress to it.
func (db *DB) LeaveCluster(ctx context.Context, node string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	return retryDeadlocks(func() error {
		return db.inTx(ctx, "leave cluster", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, sqlLeaveSlots, node); err != nil {
				return fmt.Errorf("postgres: leave cluster: %w", err)
			}
			if _, err := tx.Exec(ctx, sqlLeaveNode, node); err != nil {
				return fmt.Errorf("postgres: leave cluster: %w", err)
			}
			return nil
		})
	})
}

// AcquireSlots makes node the owner of those of slots that are free, its
// own, or owned by a node whose lease expired (waiting for that node's
// commits in progress to them), and returns them in ascending order. A
// node whose own lease is not valid acquires none: EFENCED. A slot out of
// range is EINVALID.
func (db *DB) AcquireSlots(ctx context.Context, node string, slots []int) ([]int, error) {
	if err := checkNode(node); err != nil {
		return nil, err
	}
	want, err := checkSlots(slots)
	if err != nil {
		return nil, err
	}
	var got []int
	err = retryDeadlocks(func() error {
		got = got[:0]
		return db.inTx(ctx, "acquire slots", func(tx pgx.Tx) error {
			var ok bool
			if err := tx.QueryRow(ctx, sqlLeaseValid, node).Scan(&ok); err != nil {
				return fmt.Errorf("postgres: acquire slots: %w", err)
			}
			if !ok {
				return store.Errorf(store.EFENCED, "node %s has no valid lease", node)
			}
			if len(want) == 0 {
				return nil
			}
			dead, err := queryAll(ctx, tx, "acquire slots", sqlSealOwners, []any{node, want}, func(s scanner) (string, error) {
				var n string
				return n, s.Scan(&n)
			})
			if err != nil {
				return err
			}
			got, err = queryAll(ctx, tx, "acquire slots", sqlTakeSlots, []any{node, want, dead}, func(s scanner) (int, error) {
				var n int
				return n, s.Scan(&n)
			})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if got == nil {
		got = []int{}
	}
	return got, nil
}

// retryDeadlocks runs fn again, a few times, when it failed in a deadlock:
// a change of owner and a commit (or another change) can lock the same
// slot rows in different orders, and PostgreSQL then aborts one of them.
func retryDeadlocks(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if c := pgCode(err); (c == pgDeadlockDetected || c == pgSerializationFail) && attempt < 5 {
			continue
		}
		return err
	}
}

// ReleaseSlots frees those of slots node owns, once node's commits in
// progress to them have ended.
func (db *DB) ReleaseSlots(ctx context.Context, node string, slots []int) error {
	if err := checkNode(node); err != nil {
		return err
	}
	want, err := checkSlots(slots)
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return nil
	}
	if err := db.errFailed(); err != nil {
		return err
	}
	return retryDeadlocks(func() error {
		if _, err := db.pool.Exec(ctx, sqlReleaseSlots, node, want); err != nil {
			return fmt.Errorf("postgres: release slots: %w", err)
		}
		return nil
	})
}

// ClusterMembers lists the registered nodes, oldest first, with the slots
// they own; Live is judged by the database's clock.
func (db *DB) ClusterMembers(ctx context.Context) ([]store.ClusterNode, error) {
	nodes, err := queryAll(ctx, db.pool, "cluster members", sqlMembers, []any{micros(store.ViewFreshness)}, func(s scanner) (store.ClusterNode, error) {
		var n store.ClusterNode
		var slots []int32
		if err := s.Scan(&n.Node, &n.Addr, &n.LeaseUntil, &n.Live, &n.View, &n.ViewFresh, &slots); err != nil {
			return n, err
		}
		n.LeaseUntil = n.LeaseUntil.UTC()
		n.Slots = make([]int, len(slots))
		for i, s := range slots {
			n.Slots[i] = int(s)
		}
		return n, nil
	})
	if err != nil {
		return nil, err
	}
	if nodes == nil {
		nodes = []store.ClusterNode{}
	}
	return nodes, nil
}

// SlotOwner returns the owner of slot, Node "" if it is free; Live is
// judged by the database's clock.
func (db *DB) SlotOwner(ctx context.Context, slot int) (store.ClusterNode, error) {
	want, err := checkSlots([]int{slot})
	if err != nil {
		return store.ClusterNode{}, err
	}
	var n store.ClusterNode
	if err := db.pool.QueryRow(ctx, sqlSlotOwner, want[0]).Scan(&n.Node, &n.Addr, &n.LeaseUntil, &n.Live); err != nil {
		return store.ClusterNode{}, fmt.Errorf("postgres: slot owner: %w", err)
	}
	if n.Node == "" {
		return store.ClusterNode{}, nil
	}
	n.LeaseUntil = n.LeaseUntil.UTC()
	return n, nil
}

// ReportView records what node's membership provider shows it.
func (db *DB) ReportView(ctx context.Context, node string, view []string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if view == nil {
		view = []string{}
	}
	if _, err := db.pool.Exec(ctx, sqlReportView, node, view); err != nil {
		return fmt.Errorf("postgres: report view: %w", err)
	}
	return nil
}

// FenceAs makes every later batch that commits a turn of a conversation
// check, in its transaction, node's lease and its ownership of the turns'
// slots ("" turns fencing off, the default).
func (db *DB) FenceAs(node string) {
	if node == "" {
		db.fence.Store(nil)
		return
	}
	db.fence.Store(&node)
}

// fenceOf returns the node and the sorted distinct slots that a batch of
// turns is fenced with, and false when it is not fenced: fencing is off,
// or no turn belongs to a conversation. A slot out of range is EINVALID.
func (db *DB) fenceOf(turns []*store.Turn) (node string, slots []int32, fenced bool, err error) {
	p := db.fence.Load()
	if p == nil {
		return "", nil, false, nil
	}
	for _, t := range turns {
		if t.ConversationID == "" {
			continue
		}
		if t.Slot < 0 || t.Slot >= store.Slots {
			return "", nil, false, store.Errorf(store.EINVALID, "turn of conversation %s: slot %d is out of range [0, %d)",
				t.ConversationID, t.Slot, store.Slots)
		}
		slots = append(slots, int32(t.Slot))
	}
	if slots == nil {
		return "", nil, false, nil
	}
	slices.Sort(slots)
	return *p, slices.Compact(slots), true, nil
}

// fenceErr classifies the error of a batch's fence statement: a refusal
// is EFENCED, naming how many of the batch's turns it refused.
func fenceErr(err error, turns []*store.Turn) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgFenced {
		n := 0
		for _, t := range turns {
			if t.ConversationID != "" {
				n++
			}
		}
		return store.Errorf(store.EFENCED, "commit of %d turns refused: %s", n, pe.Message)
	}
	return fmt.Errorf("postgres: commit: fence: %w", err)
}
