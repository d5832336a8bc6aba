package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"switchboard/actors/clusterpb"
	"switchboard/store"
)

// ClusterOptions make the engine a member of a cluster (Options.Cluster);
// see doc.go, "Cluster".
type ClusterOptions struct {
	// Provider is the membership provider: "automanaged" (Peers), "k8s".
	Provider string
	// Name is the cluster's name; members of other clusters are ignored.
	Name string
	// Addr is this node's actor remote (host:port), bound and advertised.
	Addr string
	// MembershipAddr is this node's automanaged membership endpoint
	// (host:port), one of Peers.
	MembershipAddr string
	// Peers are the automanaged membership endpoints of every node.
	Peers []string
	// ConsulAddr is the Consul agent (consul; "" = the local agent),
	// EtcdEndpoints the etcd servers (etcd).
	ConsulAddr    string
	EtcdEndpoints []string
	// LeaseTTL is the node's ownership lease in the database; a dead
	// node's slots move after at most this long. Default 3 s.
	LeaseTTL time.Duration
	// MembershipRefresh is how often automanaged polls its peers (the
	// failure detector). Default 1 s.
	MembershipRefresh time.Duration
	// Store holds the leases and slot owners and fences commits.
	Store store.ClusterStore
	// LeaseLost, when set, is called once this node's lease has expired
	// (a pause, a cut from the database), or most live nodes have left it
	// out of their membership for a while (checkViews), and it has given
	// up its slots.
	// The other members have removed it for good (Proto.Actor blocks a
	// member that left, by its id), so the server exits and its supervisor
	// starts it again as a new member. Nil: the node joins again by
	// itself, as a new incarnation in the database, which is enough when
	// the others never saw it leave.
	LeaseLost func()
}

// Slot states of this node (clusterNode.state).
const (
	slotNone      uint32 = iota // another node's, or nobody's
	slotAcquiring               // ours in the database; its pending work is being loaded and hand-offs wait
	slotOwned                   // ours: its sessions run here
	slotReleasing               // still ours in the database; its sessions drain before it is freed
)

// handOffName is the name of the actor that receives hand-offs on every
// node.
const handOffName = "switchboard-handoff"

// A node reports what its membership provider shows it every viewEvery
// and reads the others' reports; when most live nodes have left it out of
// theirs for excludedFor, it steps down (checkViews).
const (
	viewEvery   = 2 * time.Second
	excludedFor = 15 * time.Second
)

// leaseLostGrace bounds how long a node whose lease expired waits for its
// turns in flight (each refused by the store) before ClusterOptions.LeaseLost.
const leaseLostGrace = 5 * time.Second

// handOffTimeout bounds one hand-off request; handOffAttempts the sends of
// one hand-off to the owner by this node's view. settle asks the owners
// the database names at most settleRounds times, starting no round after
// settleFor, before it leaves the work to the owner's rescan: with the
// hand-off before it, the webhook answers well within Twilio's 15 s. An
// owner not in this node's membership gets unseenTimeout to answer.
const (
	handOffTimeout  = 2 * time.Second
	handOffAttempts = 3
	settleRounds    = 4
	settleFor       = 2 * time.Second
	unseenTimeout   = 500 * time.Millisecond
)

// clusterNode is the engine's membership in a cluster: it follows the
// members Proto.Actor's provider reports, keeps this node's lease in the
// database, acquires the slots rendezvous hashing gives it and releases
// the others, and hands work for keys it does not own to their owner.
type clusterNode struct {
	e    *Engine
	opts ClusterOptions
	cs   store.ClusterStore
	cl   *cluster.Cluster
	self string // this node's actor address (Addr)
	log  *slog.Logger
	m    *clusterMetrics

	node atomic.Pointer[string] // this incarnation's id in the database

	state    [store.Slots]atomic.Uint32
	slotLive [store.Slots]atomic.Int32 // live sessions per slot

	// lease: the node's lease is surely valid until base+leaseUntil
	// (monotonic), counted from the start of the renewal that set it.
	base       time.Time
	leaseUntil atomic.Int64

	mu       sync.Mutex
	members  []string                        // sorted actor addresses of the live members
	memberID map[string]string               // a member's Proto.Actor id by its address ("": two members there)
	held     map[int][]*store.InboundMessage // work for slots being acquired, in arrival order

	wake chan struct{}
	stop chan struct{}
	done sync.WaitGroup

	// excludedSince is when checkViews first found this node left out
	// by most live nodes (zero: it is not); balanceLoop's own.
	excludedSince time.Time
}

// newClusterNode starts the remote, the membership provider and the
// node's lease; the node acquires its slots in the background.
func newClusterNode(e *Engine, opts ClusterOptions) (*clusterNode, error) {
	if opts.Store == nil {
		return nil, errors.New("actors: cluster mode needs a store that supports it (PostgreSQL)")
	}
	if opts.Name == "" {
		opts.Name = "switchboard"
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 3 * time.Second
	}
	if opts.MembershipRefresh <= 0 {
		opts.MembershipRefresh = time.Second
	}
	host, port, err := splitAddr("cluster", opts.Addr)
	if err != nil {
		return nil, err
	}
	var provider cluster.ClusterProvider
	switch opts.Provider {
	case "automanaged":
		_, mp, err := splitAddr("membership", opts.MembershipAddr)
		if err != nil {
			return nil, err
		}
		provider = automanaged.NewWithConfig(opts.MembershipRefresh, mp, opts.Peers...)
	default:
		p, err := otherProvider(opts)
		if err != nil {
			return nil, err
		}
		provider = p
	}
	c := &clusterNode{
		e: e, opts: opts, cs: opts.Store, self: opts.Addr,
		log:  e.log.With("node", opts.Addr),
		m:    newClusterMetrics(e.opts.Registerer),
		base: time.Now(),
		held: map[int][]*store.InboundMessage{},
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	if err := c.join(context.Background()); err != nil {
		return nil, err
	}
	// The hand-off receiver, by name, so that every node can address it.
	if _, err := e.system.Root.SpawnNamed(actor.PropsFromFunc(c.receive), handOffName); err != nil {
		return nil, fmt.Errorf("actors: spawn the hand-off receiver: %w", err)
	}
	rc := remote.Configure(host, port, remote.WithAdvertisedHost(opts.Addr))
	cfg := cluster.Configure(opts.Name, provider, disthash.New(), rc)
	// Gossip carries only Proto.Actor's own heartbeats here (ownership is
	// in the database): once a second instead of every 300 ms, well
	// inside its 20 s heartbeat expiry.
	cfg.GossipInterval = time.Second
	c.cl = cluster.New(e.system, cfg)
	e.system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			c.topology(t)
		}
	})
	started := make(chan any, 1)
	go func() {
		defer func() { started <- recover() }()
		c.cl.StartMember()
	}()
	if p := <-started; p != nil {
		return nil, fmt.Errorf("actors: start the cluster member: %v", p)
	}
	c.done.Add(2)
	go c.renewLoop()
	go c.balanceLoop()
	return c, nil
}

// splitAddr splits a host:port address with a numeric port.
func splitAddr(what, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("actors: %s address %q: %w", what, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("actors: %s address %q: bad port", what, addr)
	}
	return host, port, nil
}

// join registers a new incarnation of this node and fences the store's
// commits with it.
func (c *clusterNode) join(ctx context.Context) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	node := c.self + "/" + hex.EncodeToString(b[:])
	start := time.Now()
	if err := c.cs.JoinCluster(ctx, node, c.self, c.opts.LeaseTTL); err != nil {
		return fmt.Errorf("actors: join the cluster: %w", err)
	}
	c.leaseUntil.Store(int64(start.Sub(c.base) + c.opts.LeaseTTL))
	c.node.Store(&node)
	c.cs.FenceAs(node)
	c.log.Info("joined the cluster", "incarnation", node)
	return nil
}

// nodeID is this incarnation's id.
func (c *clusterNode) nodeID() string { return *c.node.Load() }

// leaseValid reports whether this node's lease is surely valid for at
// least margin more: only then does it start a send.
func (c *clusterNode) leaseValid(margin time.Duration) bool {
	return int64(time.Since(c.base)+margin) < c.leaseUntil.Load()
}

// renewLoop keeps the lease: every fifth of its TTL, so that a renewal
// may be late (a busy machine, a slow database) by most of the TTL. A lease that could
// not be renewed in time has expired in the database: other nodes may own
// this node's slots now, so it gives them all up and joins again.
func (c *clusterNode) renewLoop() {
	defer c.done.Done()
	t := time.NewTicker(c.opts.LeaseTTL / 5)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.LeaseTTL)
		err := c.cs.RenewLease(ctx, c.nodeID(), c.opts.LeaseTTL)
		cancel()
		switch {
		case err == nil:
			c.leaseUntil.Store(int64(start.Sub(c.base) + c.opts.LeaseTTL))
		case store.ErrorCode(err) == store.EFENCED:
			c.m.leaseLost()
			c.log.Error("cluster lease lost; giving up every slot", "err", err)
			if c.stepDown() {
				return
			}
			for {
				if err := c.join(context.Background()); err == nil {
					break
				}
				select {
				case <-c.stop:
					return
				case <-time.After(c.opts.LeaseTTL / 3):
				}
			}
			c.poke()
		default:
			c.log.Warn("cluster lease renewal failed", "err", err)
		}
	}
}

// stepDown gives up every slot and, when the server wants it
// (ClusterOptions.LeaseLost), lets the turns in flight meet their refusal
// and calls LeaseLost; it reports whether it did.
func (c *clusterNode) stepDown() bool {
	c.giveUpAll()
	if c.opts.LeaseLost == nil {
		return false
	}
	// Let the turns in flight finish first: their commits are refused
	// and their sends not made, which they log.
	c.e.awaitIdle(leaseLostGrace)
	c.opts.LeaseLost()
	return true
}

// giveUpAll drops every slot at once, without draining: the lease has
// expired, so the database refuses this node's commits anyway.
func (c *clusterNode) giveUpAll() {
	for s := range c.state {
		c.state[s].Store(slotNone)
	}
	c.mu.Lock()
	clear(c.held)
	c.mu.Unlock()
	for _, pid := range c.e.shards {
		c.e.system.Root.Send(pid, &evictSlots{forget: true})
	}
	c.m.ownedSlots(0)
}

// topology records the members Proto.Actor reports.
func (c *clusterNode) topology(t *cluster.ClusterTopology) {
	members := make([]string, 0, len(t.Members))
	ids := make(map[string]string, len(t.Members))
	for _, m := range t.Members {
		addr := m.Address()
		members = append(members, addr)
		if _, dup := ids[addr]; dup {
			ids[addr] = "" // an old process and its successor: either may run there
		} else {
			ids[addr] = m.Id
		}
	}
	slices.Sort(members)
	members = slices.Compact(members)
	c.mu.Lock()
	c.members, c.memberID = members, ids
	c.mu.Unlock()
	c.m.members(len(members))
	c.poke()
}

func (c *clusterNode) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ownerOf returns the member that should own slot: the highest score of
// rendezvous hashing, "" if there are no members yet.
func ownerOf(slot int, members []string) string {
	var best string
	var bestScore uint64
	for _, m := range members {
		h := fnv.New64a()
		h.Write([]byte(m))
		h.Write([]byte{0, byte(slot >> 8), byte(slot)})
		// FNV mixes its last bytes poorly: finish with a 64-bit mixer
		// (SplitMix64's) so that slots spread evenly.
		s := mix64(h.Sum64())
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// balanceLoop moves slots towards what the membership says: it acquires
// the slots this node should own and releases the others, once their
// sessions have drained.
func (c *clusterNode) balanceLoop() {
	defer c.done.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var viewed time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.wake:
		}
		if time.Since(viewed) >= viewEvery {
			viewed = time.Now()
			if c.checkViews() {
				return
			}
		}
		c.balance()
	}
}

// checkViews reports this node's view of the membership and reads the
// others'. Proto.Actor blocks a member for good once the membership saw it
// leave — say its health endpoint was slow for a moment — so the others
// may route around a node that is alive, whose lease they cannot take:
// its senders would wait in the store for its rescans. A node that most
// live nodes have left out of their views for excludedFor steps down (as
// when its lease is lost; the server then exits, and its supervisor starts
// a new member). It reports whether the node stepped down for good.
func (c *clusterNode) checkViews() bool {
	ctx, cancel := context.WithTimeout(context.Background(), viewEvery)
	defer cancel()
	c.mu.Lock()
	members := c.members
	c.mu.Unlock()
	if err := c.cs.ReportView(ctx, c.nodeID(), members); err != nil {
		c.log.Warn("cluster: report the membership view", "err", err)
		return false
	}
	nodes, err := c.cs.ClusterMembers(ctx)
	if err != nil {
		c.log.Warn("cluster: read the members' views", "err", err)
		return false
	}
	if !leftOut(c.self, c.nodeID(), nodes) {
		c.excludedSince = time.Time{}
		return false
	}
	if c.excludedSince.IsZero() {
		c.excludedSince = time.Now()
		c.log.Warn("cluster: most live nodes do not see this node")
		return false
	}
	if time.Since(c.excludedSince) < excludedFor {
		return false
	}
	c.m.steppedDown()
	c.log.Error("cluster: left out of the membership by most live nodes; giving up every slot", "for", time.Since(c.excludedSince).Round(time.Second))
	c.excludedSince = time.Time{}
	if c.stepDown() {
		return true
	}
	// No supervisor to restart it: free the slots in the database and
	// join again as a new incarnation.
	if err := c.cs.LeaveCluster(ctx, c.nodeID()); err != nil {
		c.log.Warn("cluster: leave", "err", err)
	}
	if err := c.join(context.Background()); err != nil {
		c.log.Error("cluster: join again", "err", err)
	}
	return false
}

// leftOut reports whether most live nodes (this one, node at addr self,
// included in the count) have left self out of their fresh views.
func leftOut(self, node string, nodes []store.ClusterNode) bool {
	live, out := 0, 0
	for _, n := range nodes {
		if !n.Live {
			continue
		}
		live++
		if n.Node != node && n.ViewFresh && !slices.Contains(n.View, self) {
			out++
		}
	}
	return 2*out > live
}

func (c *clusterNode) balance() {
	c.mu.Lock()
	members := c.members
	c.mu.Unlock()
	if !c.leaseValid(0) {
		return
	}
	var acquire, release, freed []int
	for s := range store.Slots {
		want := ownerOf(s, members) == c.self
		switch c.state[s].Load() {
		case slotNone:
			if want && c.slotLive[s].Load() == 0 {
				acquire = append(acquire, s)
			}
		case slotOwned:
			if !want {
				release = append(release, s)
			}
		case slotReleasing:
			if c.slotLive[s].Load() == 0 {
				freed = append(freed, s)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(release) > 0 {
		for _, s := range release {
			c.state[s].Store(slotReleasing)
		}
		c.evict()
	}
	if len(freed) > 0 {
		if err := c.cs.ReleaseSlots(ctx, c.nodeID(), freed); err != nil {
			c.log.Warn("cluster: release slots", "slots", len(freed), "err", err)
		} else {
			for _, s := range freed {
				c.state[s].Store(slotNone)
			}
			c.m.moved("released", len(freed))
			c.log.Info("cluster: released slots", "slots", len(freed))
		}
	}
	if len(acquire) > 0 {
		got, err := c.cs.AcquireSlots(ctx, c.nodeID(), acquire)
		if err != nil {
			c.log.Warn("cluster: acquire slots", "err", err)
		} else if len(got) > 0 {
			c.acquired(ctx, got)
		}
	}
	c.m.ownedSlots(c.countOwned())
}

// acquired loads the pending work of slots this node now owns in the
// database — unsent replies, active conversations (for their deadlines),
// unanswered messages, pending starts — and only then lets hand-offs for
// them through, so that a key's messages keep their order.
func (c *clusterNode) acquired(ctx context.Context, slots []int) {
	set := make(map[int]bool, len(slots))
	for _, s := range slots {
		set[s] = true
		c.state[s].Store(slotAcquiring)
	}
	in, out, err := c.e.recoverWhere(ctx, func(k store.SessionKey) bool { return set[store.SlotOf(k)] })
	if err != nil {
		// Keep the slots: the rescan picks up what was missed.
		c.log.Error("cluster: load acquired slots", "err", err)
	}
	c.mu.Lock()
	for _, s := range slots {
		c.state[s].Store(slotOwned)
		for _, m := range c.held[s] {
			c.e.routeWork(m)
		}
		delete(c.held, s)
	}
	c.mu.Unlock()
	c.m.moved("acquired", len(slots))
	c.log.Info("cluster: acquired slots", "slots", len(slots), "messages", in, "unsent", out)
}

func (c *clusterNode) countOwned() int {
	n := 0
	for s := range c.state {
		if c.state[s].Load() == slotOwned {
			n++
		}
	}
	return n
}

// admits reports whether the registries may run sessions of key here.
func (c *clusterNode) admits(key store.SessionKey) bool {
	st := c.state[store.SlotOf(key)].Load()
	return st == slotOwned || st == slotAcquiring
}

// evict tells every registry to stop the sessions of slots it may no
// longer run, once they are idle.
func (c *clusterNode) evict() {
	for _, pid := range c.e.shards {
		c.e.system.Root.Send(pid, &evictSlots{})
	}
}

// deliver routes work for a key: here when this node runs the key's slot
// (runLocal), else to its owner by this node's view of the membership. A
// rescue asks the owner to run m, a duplicate of a message committed
// earlier, if the store still has it unanswered (rescueLocal). It reports
// false when the work was neither run nor taken; the caller then calls
// settle once the work is durable.
func (c *clusterNode) deliver(m *store.InboundMessage, rescue bool) bool {
	slot := store.SlotOf(m.Key())
	if c.runLocal(slot, m, rescue) {
		return true
	}
	return c.handOff(slot, m, rescue)
}

// runLocal runs work of a slot this node runs: a rescue once the slot is
// owned, other work also while it is being acquired (runHere). False: the
// slot is not this node's now.
func (c *clusterNode) runLocal(slot int, m *store.InboundMessage, rescue bool) bool {
	if !rescue {
		return c.runHere(slot, m)
	}
	if c.state[slot].Load() != slotOwned {
		return false
	}
	c.rescueLocal(m)
	return true
}

// settle places work that deliver or rescue could not, once it is durable.
// The views of the membership differ between nodes for a moment after a
// change: the owner by this node's view may not own the slot yet, while
// the owner in the database, which loaded the slot's pending messages
// before this one was written, answers the sender's next message, handed
// to it by a node that sees the membership as the database does. Left
// pending, this message would be answered after that one, at the next
// rescan. So settle asks the database who owns the slot and hands the work
// to that node. The work may stay pending only when a later load is
// certain to find it: the slot is free, or its owner's lease has expired
// (the next owner loads it), or its owner is this node (acquiring or
// releasing it), or the owner itself refused it — it then was not running
// the slot's sessions, so it is acquiring the slot (and loads it) or
// releasing it (and the next owner loads it). A refusal counts only if it
// came after the work was durable, as settle's own do: deliver's may have
// come before, from a node that has since acquired the slot and loaded its
// pending messages without this one.
func (c *clusterNode) settle(m *store.InboundMessage, rescue bool) {
	slot := store.SlotOf(m.Key())
	refused := "" // the owner that refused the work last
	delay := 100 * time.Millisecond
	began := time.Now()
	for round := 0; round < settleRounds && (round == 0 || time.Since(began) < settleFor); round++ {
		if c.runLocal(slot, m, rescue) {
			c.m.settled("here")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), handOffTimeout/2)
		o, err := c.cs.SlotOwner(ctx, slot)
		cancel()
		if err != nil {
			c.log.Warn("cluster: read a slot's owner; the message waits for the rescan", "err", err)
			c.m.settled("rescan")
			return
		}
		if o.Node == "" || !o.Live || o.Node == c.nodeID() || o.Addr == refused {
			c.m.settled("pending")
			return
		}
		// An owner this node's membership does not show is most likely
		// dead (its lease has not run out yet): it gets a short wait.
		c.mu.Lock()
		_, seen := c.memberID[o.Addr]
		c.mu.Unlock()
		timeout := handOffTimeout
		if !seen {
			timeout = unseenTimeout
		}
		took, err := c.ask(peer{addr: o.Addr, node: o.Node}, m, rescue, 1, timeout)
		switch {
		case err == nil && took:
			c.m.settled("handed")
			return
		case err == nil:
			refused = o.Addr
		case !seen:
			c.log.Warn("cluster: the slot's owner does not answer and is not a member; the message waits for the slot's next owner", "owner", o.Addr)
			c.m.settled("rescan")
			return
		default:
			c.log.Warn("cluster: hand-off to the slot's owner failed", "owner", o.Addr, "err", err)
			refused = ""
			time.Sleep(delay)
			delay *= 3
		}
	}
	c.log.Warn("cluster: no owner took a message; it waits for the rescan")
	c.m.settled("rescan")
}

// rescueLocal runs a message of a key this node owns if the store still
// has it pending and unanswered, as a rescan would (rescan.go): a session
// that holds it already skips it.
func (c *clusterNode) rescueLocal(m *store.InboundMessage) {
	read := time.Now()
	pending, err := c.e.opts.Store.PendingInbound(context.Background())
	if err != nil {
		c.log.Warn("cluster: rescue a duplicate's original", "err", err)
		return // the rescan finds it
	}
	for _, p := range pending {
		if p.ID == m.ID {
			c.e.redeliver(p, read)
			return
		}
	}
}

// handOff hands work to the owner of its slot by this node's view of the
// membership, retrying a failed send (the view may have changed since).
// It reports whether the owner took it; false as well when the view names
// no owner or this node, which does not run the slot (yet).
func (c *clusterNode) handOff(slot int, m *store.InboundMessage, rescue bool) bool {
	delay := 100 * time.Millisecond
	for attempt := 1; attempt <= handOffAttempts; attempt++ {
		c.mu.Lock()
		owner := ownerOf(slot, c.members)
		member := c.memberID[owner]
		c.mu.Unlock()
		if owner == "" || owner == c.self {
			return false
		}
		took, err := c.ask(peer{addr: owner, member: member}, m, rescue, attempt, handOffTimeout)
		if err == nil {
			return took
		}
		c.log.Warn("cluster: hand-off failed", "owner", owner, "attempt", attempt, "err", err)
		if attempt < handOffAttempts {
			time.Sleep(delay)
			delay *= 3
		}
	}
	return false
}

// peer is a node work is handed to: its actor address, and the process
// (Proto.Actor member id) or the incarnation (in the database) that the
// sender expects there, when it knows them.
type peer struct{ addr, member, node string }

// ask sends a committed message (or a start) to node to and waits for the
// answer, at most timeout: whether it took it, or why there was none.
func (c *clusterNode) ask(to peer, m *store.InboundMessage, rescue bool, attempt int, timeout time.Duration) (bool, error) {
	req := &clusterpb.HandOff{From: c.self, Rescue: rescue, Attempt: int32(attempt), ToMember: to.member, ToNode: to.node}
	if m.Start != nil {
		req.StartIds = []string{m.Start.ID}
	} else {
		req.Messages = []*clusterpb.Inbound{toProto(m)}
	}
	start := time.Now()
	res, err := c.e.system.Root.RequestFuture(actor.NewPID(to.addr, handOffName), req, timeout).Result()
	c.m.handOff(time.Since(start), err)
	if err != nil {
		return false, err
	}
	ack, ok := res.(*clusterpb.HandOffAck)
	if !ok {
		return false, fmt.Errorf("unexpected answer %T", res)
	}
	return len(ack.Refused) == 0 && len(ack.RefusedStarts) == 0, nil
}

// receive is the hand-off receiver's behaviour.
func (c *clusterNode) receive(ctx actor.Context) {
	req, ok := ctx.Message().(*clusterpb.HandOff)
	if !ok {
		return
	}
	if (req.ToMember != "" && req.ToMember != c.e.system.ID) || (req.ToNode != "" && req.ToNode != c.nodeID()) {
		// Addressed to the process this one replaced at the same address
		// (Proto.Actor delivers what it queued for the address once it
		// connects again): its sender has moved on — the messages are
		// answered, or pending for this node's acquisitions to load.
		ack := &clusterpb.HandOffAck{RefusedStarts: req.StartIds}
		for _, p := range req.Messages {
			ack.Refused = append(ack.Refused, p.Id)
		}
		c.m.received(len(req.Messages)+len(req.StartIds), len(req.Messages)+len(req.StartIds))
		c.m.stale()
		ctx.Respond(ack)
		return
	}
	if req.Rescue {
		// A store read: answered from a goroutine, so that hand-offs keep
		// flowing meanwhile.
		sender := ctx.Sender()
		go func() {
			ack := &clusterpb.HandOffAck{}
			for _, p := range req.Messages {
				if !c.take(fromProto(p), true) {
					ack.Refused = append(ack.Refused, p.Id)
				}
			}
			c.m.received(len(req.Messages), len(ack.Refused))
			c.e.system.Root.Send(sender, ack)
		}()
		return
	}
	ack := &clusterpb.HandOffAck{}
	for _, p := range req.Messages {
		if !c.take(fromProto(p), false) {
			ack.Refused = append(ack.Refused, p.Id)
		}
	}
	for _, id := range req.StartIds {
		if !c.takeStart(id) {
			ack.RefusedStarts = append(ack.RefusedStarts, id)
		}
	}
	c.m.received(len(req.Messages)+len(req.StartIds), len(ack.Refused)+len(ack.RefusedStarts))
	ctx.Respond(ack)
}

// take accepts handed-off work for a key this node runs (runLocal).
func (c *clusterNode) take(m *store.InboundMessage, rescue bool) bool {
	if c.e.closing.Load() {
		return false
	}
	return c.runLocal(store.SlotOf(m.Key()), m, rescue)
}

// runHere runs work of a slot this node owns, or holds it while the slot
// is being acquired (acquired lets it through after the slot's pending
// work); false: the slot is not this node's now.
func (c *clusterNode) runHere(slot int, m *store.InboundMessage) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state[slot].Load() {
	case slotOwned:
		c.e.routeWork(m)
		return true
	case slotAcquiring:
		c.held[slot] = append(c.held[slot], m)
		return true
	}
	return false
}

// takeStart runs a start handed off by id, if this node owns its key.
func (c *clusterNode) takeStart(id string) bool {
	if c.e.closing.Load() {
		return false
	}
	s, err := c.e.opts.Store.GetStart(context.Background(), id)
	if err != nil {
		return store.ErrorCode(err) == store.ENOTFOUND // gone: nothing to run
	}
	return c.take(startMessage(s), false)
}

// owns reports whether this node runs key's sessions now.
func (c *clusterNode) owns(key store.SessionKey) bool {
	return c.state[store.SlotOf(key)].Load() == slotOwned
}

// maySend reports whether a session of key may send now: its slot is
// still this node's, and so is the lease, for a third of its TTL more. A
// lease that is about to be renewed (a slow renewal) is waited for; false
// means the slot has left this node, and its next owner sends.
func (c *clusterNode) maySend(key store.SessionKey) bool {
	slot := store.SlotOf(key)
	for {
		if c.state[slot].Load() == slotNone {
			return false
		}
		if c.leaseValid(c.opts.LeaseTTL / 3) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// routeWork runs work on a local session: a start through startLocal, a
// message through route.
func (e *Engine) routeWork(m *store.InboundMessage) {
	if m.Start != nil {
		_, _ = e.startLocal(m.Start)
		return
	}
	e.route(m)
}

// awaitIdle waits until no turn, send or expiry goroutine runs, at most d.
func (e *Engine) awaitIdle(d time.Duration) {
	deadline := time.Now().Add(d)
	for e.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// fencedCommit is told that the store refused a commit: the lease may be
// gone, or a slot; the next balance finds out.
func (c *clusterNode) fencedCommit() {
	c.m.fenced()
	c.poke()
}

// leave hands this node's slots over: it leaves the membership (the others
// stop routing to it), drains the sessions, frees the slots in the
// database so that the others acquire them at once, and stops.
func (c *clusterNode) leave(ctx context.Context) {
	_ = c.cl.Config.ClusterProvider.Shutdown(true)
	close(c.stop)
	c.done.Wait()
	for s := range c.state {
		if c.state[s].Load() != slotNone {
			c.state[s].Store(slotReleasing)
		}
	}
	c.evict()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
wait:
	for {
		live := int32(0)
		for s := range c.slotLive {
			live += c.slotLive[s].Load()
		}
		if live == 0 {
			break
		}
		select {
		case <-ctx.Done():
			break wait
		case <-t.C:
		}
	}
	// From here on nothing of this node sends: a session the drain did
	// not wait for leaves its parts to the next owner.
	for s := range c.state {
		c.state[s].Store(slotNone)
	}
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cs.LeaveCluster(lctx, c.nodeID()); err != nil {
		c.log.Warn("cluster: leave", "err", err)
	}
	c.m.ownedSlots(0)
}

// shutdown stops the remote after the actor system has stopped.
func (c *clusterNode) shutdown() {
	c.cl.Remote.Shutdown(true)
}

func toProto(m *store.InboundMessage) *clusterpb.Inbound {
	return &clusterpb.Inbound{
		Id: m.ID, ProviderId: m.ProviderID, MessageSid: m.MessageSID, IdempotencyToken: m.IdempotencyToken,
		ProjectId: m.ProjectID, StageId: m.StageID, AgentId: m.AgentID, From: m.From, To: m.To, Body: m.Body,
		MediaUrls: m.MediaURLs, ProfileName: m.ProfileName, ReceivedAtUnixNano: m.ReceivedAt.UnixNano(),
		ConversationId: m.ConversationID, CallbackBase: m.CallbackBase,
	}
}

func fromProto(p *clusterpb.Inbound) *store.InboundMessage {
	return &store.InboundMessage{
		ID: p.Id, ProviderID: p.ProviderId, MessageSID: p.MessageSid, IdempotencyToken: p.IdempotencyToken,
		ProjectID: p.ProjectId, StageID: p.StageId, AgentID: p.AgentId, From: p.From, To: p.To, Body: p.Body,
		MediaURLs: p.MediaUrls, ProfileName: p.ProfileName, ReceivedAt: time.Unix(0, p.ReceivedAtUnixNano).UTC(),
		State: store.InboundPending, ConversationID: p.ConversationId, CallbackBase: p.CallbackBase,
	}
}

// evictSlots asks a registry to stop, once idle, the sessions of slots
// this node may no longer run.
type evictSlots struct {
	// forget: the node gave up every slot (its lease expired); the
	// registries forget the messages they delivered, which the slots'
	// next owner — maybe this node again — runs from the store.
	forget bool
}

// moveOut tells a session that its slot is leaving this node: it finishes
// what it holds and then asks to stop, without ending its conversation.
type moveOut struct{}
