package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/postgres"

	"github.com/jackc/pgx/v5"
)

// cluster is one schema shared by several nodes' stores, and a plain
// connection to look at it directly.
type cluster struct {
	t    *testing.T
	url  string
	conn *pgx.Conn
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	u := newSchema(t, testURL(t))
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &cluster{t: t, url: u, conn: conn}
}

// node opens another store on the cluster's database.
func (c *cluster) node() *postgres.DB {
	c.t.Helper()
	db, err := postgres.Open(context.Background(), c.url)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// count runs a COUNT query on the side connection.
func (c *cluster) count(query string, args ...any) int {
	c.t.Helper()
	var n int
	if err := c.conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// epoch returns the slot's epoch.
func (c *cluster) epoch(slot int) int64 {
	c.t.Helper()
	var e int64
	if err := c.conn.QueryRow(context.Background(), `SELECT epoch FROM cluster_slots WHERE slot = $1`, slot).Scan(&e); err != nil {
		c.t.Fatal(err)
	}
	return e
}

// waitExpired polls until node's lease has expired by the database's clock.
func waitExpired(t *testing.T, db *postgres.DB, node string) {
	t.Helper()
	testutil.CheckFor(t, 30*time.Second, func() error {
		m := member(t, db, node)
		if m.Live {
			return fmt.Errorf("lease of %s still valid until %v", node, m.LeaseUntil)
		}
		return nil
	})
}

// member returns node as ClusterMembers lists it.
func member(t *testing.T, db *postgres.DB, node string) store.ClusterNode {
	t.Helper()
	ms, err := db.ClusterMembers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Node == node {
			return m
		}
	}
	t.Fatalf("node %s is not a member: %+v", node, ms)
	return store.ClusterNode{}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if store.ErrorCode(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func wantSlots(t *testing.T, what string, got []int, err error, want ...int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if want == nil {
		want = []int{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: slots %v, want %v", what, got, want)
	}
}

// TestClusterLeases: joining, renewing and leaving; an expired lease is
// not renewed and its incarnation cannot join again; bad arguments
// change nothing.
func TestClusterLeases(t *testing.T) {
	c := newCluster(t)
	db := c.node()
	ctx := t.Context()

	wantCode(t, db.JoinCluster(ctx, "", "127.0.0.1:1", time.Minute), store.EINVALID)
	wantCode(t, db.JoinCluster(ctx, "a", "127.0.0.1:1", 0), store.EINVALID)
	wantCode(t, db.RenewLease(ctx, "a", -time.Second), store.EINVALID)
	if n := c.count(`SELECT count(*) FROM cluster_nodes`); n != 0 {
		t.Fatalf("%d nodes after invalid joins", n)
	}
	wantCode(t, db.RenewLease(ctx, "a", time.Minute), store.EFENCED) // never joined

	if err := db.JoinCluster(ctx, "a", "127.0.0.1:1", time.Minute); err != nil {
		t.Fatal(err)
	}
	a := member(t, db, "a")
	if !a.Live || a.Addr != "127.0.0.1:1" || len(a.Slots) != 0 || time.Until(a.LeaseUntil) < 30*time.Second {
		t.Fatalf("after join: %+v", a)
	}
	if err := db.RenewLease(ctx, "a", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if m := member(t, db, "a"); !m.LeaseUntil.After(a.LeaseUntil) {
		t.Fatalf("renewal did not extend the lease: %v then %v", a.LeaseUntil, m.LeaseUntil)
	}
	// A node's view of the membership: none until it reports one.
	if a.ViewFresh || len(a.View) != 0 {
		t.Fatalf("view before any report: %+v", a)
	}
	wantCode(t, db.ReportView(ctx, "", []string{"x"}), store.EINVALID)
	if err := db.ReportView(ctx, "a", []string{"127.0.0.1:1", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if m := member(t, db, "a"); !m.ViewFresh || strings.Join(m.View, ",") != "127.0.0.1:1,127.0.0.1:2" {
		t.Fatalf("view after a report: %+v", m)
	}
	if _, err := c.conn.Exec(ctx, `UPDATE cluster_nodes SET view_at = clock_timestamp() - interval '1 hour' WHERE node = 'a'`); err != nil {
		t.Fatal(err)
	}
	if m := member(t, db, "a"); m.ViewFresh {
		t.Fatalf("an hour-old view counts as fresh: %+v", m)
	}
	// A retried join renews; the same id at another address is refused.
	if err := db.JoinCluster(ctx, "a", "127.0.0.1:1", time.Minute); err != nil {
		t.Fatalf("join again: %v", err)
	}
	wantCode(t, db.JoinCluster(ctx, "a", "127.0.0.1:2", time.Minute), store.ECONFLICT)
	if m := member(t, db, "a"); m.Addr != "127.0.0.1:1" {
		t.Fatalf("a conflicting join changed the address to %s", m.Addr)
	}

	got, err := db.AcquireSlots(ctx, "a", []int{3, 1})
	wantSlots(t, "acquire", got, err, 1, 3)
	if err := db.LeaveCluster(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if m := member(t, db, "a"); m.Live || len(m.Slots) != 0 {
		t.Fatalf("after leave: %+v", m)
	}
	if n := c.count(`SELECT count(*) FROM cluster_slots WHERE owner <> ''`); n != 0 {
		t.Fatalf("%d slots owned after the only node left", n)
	}
	wantCode(t, db.RenewLease(ctx, "a", time.Minute), store.EFENCED)
	wantCode(t, db.JoinCluster(ctx, "a", "127.0.0.1:1", time.Minute), store.EFENCED)

	// A short lease expires by itself and is then neither renewed nor
	// rejoined.
	if err := db.JoinCluster(ctx, "short", "127.0.0.1:3", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewLease(ctx, "short", time.Second); err != nil {
		t.Fatal(err)
	}
	waitExpired(t, db, "short")
	wantCode(t, db.RenewLease(ctx, "short", time.Minute), store.EFENCED)
	wantCode(t, db.JoinCluster(ctx, "short", "127.0.0.1:3", time.Minute), store.EFENCED)

	// Housekeeping: a join forgets nodes whose lease expired long ago,
	// unless they still own a slot.
	for _, n := range []string{"old", "oldowner"} {
		if err := db.JoinCluster(ctx, n, "127.0.0.1:4", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.AcquireSlots(ctx, "oldowner", []int{9})
	wantSlots(t, "acquire", got, err, 9)
	if _, err := c.conn.Exec(ctx, `UPDATE cluster_nodes SET lease_until = clock_timestamp() - interval '2 hours' WHERE node LIKE 'old%'`); err != nil {
		t.Fatal(err)
	}
	if err := db.JoinCluster(ctx, "b", "127.0.0.1:5", time.Minute); err != nil {
		t.Fatal(err)
	}
	var names []string
	ms, err := db.ClusterMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		names = append(names, m.Node)
	}
	if !slices.Equal(names, []string{"a", "short", "oldowner", "b"}) {
		t.Fatalf("members after housekeeping: %v, want a, short, oldowner (owns a slot), b", names)
	}
}

// TestClusterSlots: free slots are acquired, a live node's are not, an
// expired node's are (with a higher epoch); a node acquires nothing once
// its own lease expired; released slots are free again.
func TestClusterSlots(t *testing.T) {
	c := newCluster(t)
	db := c.node()
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		if err := db.JoinCluster(ctx, n, "127.0.0.1:1", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.JoinCluster(ctx, "short", "127.0.0.1:2", time.Second); err != nil {
		t.Fatal(err)
	}
	_, err := db.AcquireSlots(ctx, "a", []int{1, store.Slots})
	wantCode(t, err, store.EINVALID)
	_, err = db.AcquireSlots(ctx, "a", []int{-1})
	wantCode(t, err, store.EINVALID)
	if n := c.count(`SELECT count(*) FROM cluster_slots WHERE owner <> ''`); n != 0 {
		t.Fatalf("%d slots owned after invalid acquisitions", n)
	}

	got, err := db.AcquireSlots(ctx, "a", []int{3, 1, 2, 3})
	wantSlots(t, "a acquires free slots", got, err, 1, 2, 3)
	if e := c.epoch(1); e != 1 {
		t.Fatalf("epoch of a newly owned slot: %d, want 1", e)
	}
	got, err = db.AcquireSlots(ctx, "a", []int{2, 4})
	wantSlots(t, "a acquires its own and a free slot", got, err, 2, 4)
	if e := c.epoch(2); e != 1 {
		t.Fatalf("epoch of a slot acquired again by its owner: %d, want 1", e)
	}
	got, err = db.AcquireSlots(ctx, "b", []int{4, 5})
	wantSlots(t, "b acquires a live node's slot", got, err, 5)
	got, err = db.AcquireSlots(ctx, "short", []int{6, 7})
	wantSlots(t, "short acquires", got, err, 6, 7)
	got, err = db.AcquireSlots(ctx, "b", []int{6})
	wantSlots(t, "b acquires a live node's slot", got, err)

	waitExpired(t, db, "short")
	got, err = db.AcquireSlots(ctx, "b", []int{6, 1})
	wantSlots(t, "b acquires an expired node's slot", got, err, 6)
	if e := c.epoch(6); e != 2 {
		t.Fatalf("epoch of a slot taken from an expired node: %d, want 2", e)
	}
	_, err = db.AcquireSlots(ctx, "short", []int{8})
	wantCode(t, err, store.EFENCED)
	_, err = db.AcquireSlots(ctx, "nobody", []int{8})
	wantCode(t, err, store.EFENCED)
	// Taking a slot sealed the expired owner: its lease stays expired.
	wantCode(t, db.RenewLease(ctx, "short", time.Minute), store.EFENCED)

	if err := db.ReleaseSlots(ctx, "a", []int{1, 5, 9}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.ReleaseSlots(ctx, "a", []int{store.Slots}), store.EINVALID)
	for _, want := range []store.ClusterNode{
		{Node: "a", Live: true, Slots: []int{2, 3, 4}},
		{Node: "b", Live: true, Slots: []int{5, 6}},
		{Node: "short", Slots: []int{7}},
	} {
		m := member(t, db, want.Node)
		if m.Live != want.Live || !slices.Equal(m.Slots, want.Slots) {
			t.Fatalf("member %s: %+v, want live %v and slots %v", want.Node, m, want.Live, want.Slots)
		}
	}
	got, err = db.AcquireSlots(ctx, "b", []int{1})
	wantSlots(t, "b acquires a released slot", got, err, 1)
	if e := c.epoch(1); e != 2 {
		t.Fatalf("epoch of a released slot acquired again: %d, want 2", e)
	}

	// SlotOwner: the owner by its row, free as "".
	for _, want := range []struct {
		slot int
		node string
		addr string
		live bool
	}{{1, "b", "127.0.0.1:1", true}, {7, "short", "127.0.0.1:2", false}, {9, "", "", false}} {
		o, err := db.SlotOwner(ctx, want.slot)
		if err != nil {
			t.Fatal(err)
		}
		if o.Node != want.node || o.Addr != want.addr || o.Live != want.live {
			t.Fatalf("owner of slot %d: %+v, want %s at %q, live %v", want.slot, o, want.node, want.addr, want.live)
		}
	}
	_, err = db.SlotOwner(ctx, store.Slots)
	wantCode(t, err, store.EINVALID)
}

// fixture is a project and a conversation, for turns.
type fixture struct {
	proj *store.Project
	conv *store.Conversation
}

func newFixture(t *testing.T, db *postgres.DB, from string) fixture {
	t.Helper()
	p := &store.Project{Name: "p"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return fixture{proj: p, conv: conversation(t, db, p.ID, from)}
}

func conversation(t *testing.T, db *postgres.DB, projectID, from string) *store.Conversation {
	t.Helper()
	c := &store.Conversation{ProjectID: projectID, StageID: "stag_x", UserID: from, ChannelProviderID: "prov_chan",
		ChannelAddress: "+15550000001", Deadline: time.Now().Add(time.Hour)}
	if err := db.CreateConversation(t.Context(), c, store.Event{EventType: store.EventConversationStart}); err != nil {
		t.Fatal(err)
	}
	return c
}

// turn is a turn of conversation id in slot: one message event.
func turn(id string, slot int) *store.Turn {
	b, _ := json.Marshal(store.MessageData{Role: "assistant", Text: "hi"})
	return &store.Turn{ConversationID: id, Slot: slot, Events: []store.Event{{EventType: store.EventMessage, EventData: b}},
		Deadline: time.Now().Add(time.Hour)}
}

func inboundMsg(sid string) *store.InboundMessage {
	return &store.InboundMessage{ProviderID: "prov_chan", MessageSID: sid, ProjectID: "proj_x", StageID: "stag_x",
		From: "+15551230000", To: "+15550000001", Body: "hello"}
}

// TestClusterFencedCommit: a fenced store commits turns of the slots its
// node owns, refuses a batch with a turn of another slot, or any once its
// lease expired, whole (EFENCED, nothing written); inbound messages and
// bare turns are not fenced; a store that was never fenced commits as
// before.
func TestClusterFencedCommit(t *testing.T) {
	c := newCluster(t)
	a, plain := c.node(), c.node()
	ctx := t.Context()
	f := newFixture(t, a, "+15551110000")
	turns := func() int { return c.count(`SELECT count(*) FROM turns WHERE conversation_id = $1`, f.conv.ID) }

	if err := a.JoinCluster(ctx, "a", "127.0.0.1:1", time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := a.AcquireSlots(ctx, "a", []int{10, 11})
	wantSlots(t, "acquire", got, err, 10, 11)
	a.FenceAs("a")

	if err := a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 10), turn(f.conv.ID, 11)}); err != nil {
		t.Fatalf("fenced commit of owned slots: %v", err)
	}
	if n := turns(); n != 2 {
		t.Fatalf("%d turns, want 2", n)
	}

	// One turn of a slot a does not own fails the batch: its other turn,
	// its new conversation and its inbound message are not written.
	fresh := &store.Conversation{Meta: store.Meta{ID: store.NewID(store.PrefixConversation)}, ProjectID: f.proj.ID, StageID: "stag_x",
		UserID: "+15552220000", ChannelProviderID: "prov_chan", ChannelAddress: "+15550000001", Deadline: time.Now().Add(time.Hour)}
	opening := turn(fresh.ID, 10)
	opening.NewConversation = fresh
	_, err = a.CommitBatch(ctx, []*store.InboundMessage{inboundMsg("SMrefused")},
		[]*store.Turn{opening, turn(f.conv.ID, 10), turn(f.conv.ID, 12)})
	wantCode(t, err, store.EFENCED)
	if msg := store.ErrorMessage(err); msg != "commit of 3 turns refused: node a does not own slot 12" {
		t.Fatalf("refusal reads %q", msg)
	}
	if n := turns(); n != 2 {
		t.Fatalf("%d turns after a refused batch, want 2", n)
	}
	if n := c.count(`SELECT count(*) FROM conversations WHERE id = $1`, fresh.ID); n != 0 {
		t.Fatal("a refused batch created its conversation")
	}
	if n := c.count(`SELECT count(*) FROM inbound_messages WHERE message_sid = 'SMrefused'`); n != 0 {
		t.Fatal("a refused batch stored its inbound message")
	}
	if fresh.Version != 0 {
		t.Fatalf("meta written back after a refused batch: %+v", fresh.Meta)
	}
	// A slot out of range is a bad turn, not a refusal.
	wantCode(t, a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, store.Slots)}), store.EINVALID)

	// Inbound messages and bare turns are anyone's to commit.
	msg := inboundMsg("SMfree")
	if _, err := a.CommitBatch(ctx, []*store.InboundMessage{msg}, []*store.Turn{{InboundIDs: nil}}); err != nil {
		t.Fatalf("inbound commit on a fenced store: %v", err)
	}

	// The never-fenced store commits a turn of any slot.
	if err := plain.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 12)}); err != nil {
		t.Fatalf("unfenced commit: %v", err)
	}
	// So does a once fenced store with fencing off again.
	a.FenceAs("")
	if err := a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 12)}); err != nil {
		t.Fatalf("commit with fencing off: %v", err)
	}
	if n := turns(); n != 4 {
		t.Fatalf("%d turns, want 4", n)
	}

	// A node whose lease expired commits nothing, though it still owns
	// the slot (nobody took it): deferred or not.
	short := c.node()
	if err := short.JoinCluster(ctx, "short", "127.0.0.1:2", time.Second); err != nil {
		t.Fatal(err)
	}
	got, err = short.AcquireSlots(ctx, "short", []int{20})
	wantSlots(t, "acquire", got, err, 20)
	short.FenceAs("short")
	if err := short.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 20)}); err != nil {
		t.Fatalf("fenced commit: %v", err)
	}
	waitExpired(t, short, "short")
	err = short.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 20)})
	wantCode(t, err, store.EFENCED)
	if msg := store.ErrorMessage(err); msg != "commit of 1 turns refused: node short has no valid lease" {
		t.Fatalf("refusal reads %q", msg)
	}
	_, err = short.CommitBatchDeferred(ctx, nil, []*store.Turn{turn(f.conv.ID, 20)})
	wantCode(t, err, store.EFENCED)
	if n := turns(); n != 5 {
		t.Fatalf("%d turns, want 5", n)
	}
	if m := member(t, short, "short"); !slices.Equal(m.Slots, []int{20}) {
		t.Fatalf("expired node's slots: %v", m.Slots)
	}
}

// TestClusterFenceCost: a fenced batch runs exactly one statement more
// than the same batch unfenced, in as many commits.
func TestClusterFenceCost(t *testing.T) {
	c := newCluster(t)
	fenced, plain := c.node(), c.node()
	ctx := t.Context()
	f := newFixture(t, fenced, "+15551110000")
	if err := fenced.JoinCluster(ctx, "a", "127.0.0.1:1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := fenced.AcquireSlots(ctx, "a", []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	fenced.FenceAs("a")
	batch := func(i int) ([]*store.InboundMessage, []*store.Turn) {
		return []*store.InboundMessage{inboundMsg(fmt.Sprintf("SMcost%d", i))},
			[]*store.Turn{turn(f.conv.ID, 1), turn(f.conv.ID, 2), turn(f.conv.ID, 2), {InboundIDs: nil}}
	}
	cost := func(db *postgres.DB, i int) store.Stats {
		before := db.Stats()
		msgs, turns := batch(i)
		if _, err := db.CommitBatch(ctx, msgs, turns); err != nil {
			t.Fatal(err)
		}
		after := db.Stats()
		return store.Stats{Commits: after.Commits - before.Commits, Statements: after.Statements - before.Statements}
	}
	p, fc := cost(plain, 1), cost(fenced, 2)
	if fc.Commits != 1 || p.Commits != 1 || fc.Statements != p.Statements+1 {
		t.Fatalf("fenced batch: %+v; unfenced: %+v; want one commit each and one statement more fenced", fc, p)
	}
	// A batch without turns of conversations is not fenced.
	before := fenced.Stats()
	if _, err := fenced.CommitBatch(ctx, []*store.InboundMessage{inboundMsg("SMcostbare")}, nil); err != nil {
		t.Fatal(err)
	}
	if st := fenced.Stats().Statements - before.Statements; st != 1 {
		t.Fatalf("an inbound-only batch on a fenced store ran %d statements, want 1", st)
	}
}

// blockedBy polls until a backend waits for a lock that backend pid
// holds, and returns its pid.
func (c *cluster) blockedBy(pid int32) int32 {
	c.t.Helper()
	var waiter int32
	testutil.CheckFor(c.t, 30*time.Second, func() error {
		err := c.conn.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE $1::int = ANY(pg_blocking_pids(pid)) LIMIT 1`, pid).Scan(&waiter)
		if err != nil {
			return fmt.Errorf("no backend waits for backend %d: %v", pid, err)
		}
		return nil
	})
	return waiter
}

// holdConversation locks a conversation's row from another connection
// until the returned function is called: a batch that writes a turn of
// it stops there, in the middle of its transaction, after its fence.
func (c *cluster) holdConversation(id string) (pid int32, release func()) {
	c.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, id); err != nil {
		c.t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		c.t.Fatal(err)
	}
	return pid, func() { _ = tx.Rollback(ctx) }
}

// TestClusterTakeoverWaitsForCommit: node a's fenced commit is in
// progress when its lease expires; node b taking a's slot waits for that
// commit to end (its turn is in the database before b owns the slot),
// and a's next commit is refused. Giving a slot up waits likewise.
func TestClusterTakeoverWaitsForCommit(t *testing.T) {
	c := newCluster(t)
	a, b := c.node(), c.node()
	ctx := t.Context()
	f := newFixture(t, a, "+15551110000")
	turns := func() int { return c.count(`SELECT count(*) FROM turns WHERE conversation_id = $1`, f.conv.ID) }
	for _, n := range []*struct {
		db   *postgres.DB
		name string
	}{{a, "a"}, {b, "b"}} {
		if err := n.db.JoinCluster(ctx, n.name, "127.0.0.1:1", time.Hour); err != nil {
			t.Fatal(err)
		}
		n.db.FenceAs(n.name)
	}
	got, err := a.AcquireSlots(ctx, "a", []int{7, 8})
	wantSlots(t, "acquire", got, err, 7, 8)

	// Giving up a slot waits for a commit in progress to it.
	holder, release := c.holdConversation(f.conv.ID)
	committed := make(chan error, 1)
	go func() { committed <- a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 8)}) }()
	commitPID := c.blockedBy(holder)
	released := make(chan error, 1)
	go func() { released <- a.ReleaseSlots(ctx, "a", []int{8}) }()
	c.blockedBy(commitPID)
	release()
	if err := <-committed; err != nil {
		t.Fatalf("commit in progress while its slot was given up: %v", err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if n := turns(); n != 1 {
		t.Fatalf("%d turns, want 1", n)
	}
	wantCode(t, a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 8)}), store.EFENCED)

	// Taking a slot from an expired node waits for its commit in progress.
	holder, release = c.holdConversation(f.conv.ID)
	go func() { committed <- a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 7)}) }()
	commitPID = c.blockedBy(holder) // a's batch is past its fence
	if _, err := c.conn.Exec(ctx, `UPDATE cluster_nodes SET lease_until = clock_timestamp() WHERE node = 'a'`); err != nil {
		t.Fatal(err)
	}
	acquired := make(chan []int, 1)
	go func() {
		got, err := b.AcquireSlots(ctx, "b", []int{7})
		if err != nil {
			t.Error(err)
		}
		// a's turn is already there when b owns its slot.
		if n := turns(); n != 2 {
			t.Errorf("%d turns when b acquired the slot, want 2 (a's commit ended first)", n)
		}
		acquired <- got
	}()
	c.blockedBy(commitPID) // b waits for a's commit
	select {
	case got := <-acquired:
		t.Fatalf("b acquired %v while a's commit was in progress", got)
	default:
	}
	release()
	if err := <-committed; err != nil {
		t.Fatalf("commit in progress when the lease expired: %v", err)
	}
	if got := <-acquired; !slices.Equal(got, []int{7}) {
		t.Fatalf("b acquired %v, want [7]", got)
	}
	wantCode(t, a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 7)}), store.EFENCED)
	wantCode(t, a.RenewLease(ctx, "a", time.Hour), store.EFENCED)
	if err := b.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 7)}); err != nil {
		t.Fatalf("the new owner's commit: %v", err)
	}
	if n := turns(); n != 3 {
		t.Fatalf("%d turns, want 3", n)
	}
}

// TestClusterCommitWaitsForOwnerChange: a fenced commit that starts while
// its slot's owner is being changed waits for the change, and is then
// judged by its outcome: refused if the slot changed hands, committed if
// the change was rolled back. (The change is made by hand here, so that
// it can be held open; AcquireSlots and ReleaseSlots change owners the
// same way, by updating the slot's row.)
func TestClusterCommitWaitsForOwnerChange(t *testing.T) {
	c := newCluster(t)
	a := c.node()
	ctx := t.Context()
	f := newFixture(t, a, "+15551110000")
	if err := a.JoinCluster(ctx, "a", "127.0.0.1:1", time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := a.AcquireSlots(ctx, "a", []int{7})
	wantSlots(t, "acquire", got, err, 7)
	a.FenceAs("a")

	for _, commit := range []bool{false, true} {
		conn, err := pgx.Connect(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE cluster_slots SET owner = 'b', epoch = epoch + 1 WHERE slot = 7`); err != nil {
			t.Fatal(err)
		}
		var changer int32
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&changer); err != nil {
			t.Fatal(err)
		}
		committed := make(chan error, 1)
		go func() { committed <- a.CommitTurns(ctx, []*store.Turn{turn(f.conv.ID, 7)}) }()
		c.blockedBy(changer)
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		err = <-committed
		if commit {
			wantCode(t, err, store.EFENCED)
		} else if err != nil {
			t.Fatalf("commit after an owner change rolled back: %v", err)
		}
	}
	if n := c.count(`SELECT count(*) FROM turns WHERE conversation_id = $1`, f.conv.ID); n != 1 {
		t.Fatalf("%d turns, want 1 (the one committed after the rolled back change)", n)
	}
}
