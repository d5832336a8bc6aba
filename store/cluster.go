package store

import (
	"context"
	"hash/fnv"
	"time"
)

// Slots is the number of ownership slots of a cluster. A session key
// belongs to slot SlotOf(key); each slot has one owner node, chosen by
// rendezvous hashing over the live members and recorded (fenced) in the
// database. Every node must compute the same slot for a key, so the
// number and the hash are part of the cluster's protocol.
const Slots = 256

// SlotOf returns the ownership slot of a session key: FNV-1a over its
// fields, each followed by a zero byte, modulo Slots.
func SlotOf(k SessionKey) int {
	h := fnv.New64a()
	for _, s := range [...]string{k.ProjectID, k.ChannelProviderID, k.To, k.From} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int(h.Sum64() % Slots)
}

// EFENCED is the code of a commit refused because this node no longer owns
// what it commits: its lease expired, or a slot of a turn it commits is
// owned by another node (see ClusterStore).
const EFENCED = "fenced"

// ClusterStore is implemented by stores that can be shared by the nodes of
// a cluster (PostgreSQL). It holds the nodes' leases and the slots'
// owners, and fences commits: once a node has called FenceAs, every turn
// it commits that belongs to a conversation (Turn.ConversationID set) is
// checked, in the commit's transaction, against the node's lease and the
// ownership of the turn's Slot; a batch with a turn that fails the check
// fails whole with EFENCED and writes nothing. Inbound messages, and bare
// turns (send results, delivery updates, bookkeeping), are not fenced: any
// node may record them.
//
// Times are the database's clock (clock_timestamp()), so the nodes'
// clocks do not have to agree.
type ClusterStore interface {
	// JoinCluster registers a node incarnation (a new id per process
	// start) at its actor address with a lease of ttl from now.
	JoinCluster(ctx context.Context, node, addr string, ttl time.Duration) error
	// RenewLease extends a node's lease to ttl from now. A lease that has
	// already expired cannot be renewed (EFENCED): its slots may have been
	// taken, and the node must stop and join again as a new incarnation.
	RenewLease(ctx context.Context, node string, ttl time.Duration) error
	// LeaveCluster releases every slot the node owns and ends its lease.
	LeaveCluster(ctx context.Context, node string) error
	// AcquireSlots makes node the owner of those of slots that are free,
	// already its own, or owned by a node whose lease has expired (waiting
	// for that node's commits in progress), and returns them in
	// ascending order. A node whose own lease has expired acquires none.
	AcquireSlots(ctx context.Context, node string, slots []int) ([]int, error)
	// ReleaseSlots frees those of slots the node owns.
	ReleaseSlots(ctx context.Context, node string, slots []int) error
	// ClusterMembers lists the registered nodes and the slots they own.
	ClusterMembers(ctx context.Context) ([]ClusterNode, error)
	// SlotOwner returns the node that owns slot now, with its Addr and
	// Live (Slots and View unset); Node is "" while the slot is free.
	SlotOwner(ctx context.Context, slot int) (ClusterNode, error)
	// ReportView records the actor addresses of the members node's
	// membership provider shows it (ClusterNode.View).
	ReportView(ctx context.Context, node string, view []string) error
	// FenceAs makes every later fenced commit check node's lease and slots.
	FenceAs(node string)
}

// ClusterNode is a node of a cluster as the database records it.
type ClusterNode struct {
	Node       string
	Addr       string
	LeaseUntil time.Time
	Live       bool // its lease had not expired when it was read
	Slots      []int
	// View is what the node last reported of the membership (ReportView);
	// ViewFresh that it reported it within the last ViewFreshness.
	View      []string
	ViewFresh bool
}

// ViewFreshness is how recent a node's reported view must be to count.
const ViewFreshness = 10 * time.Second
