package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"switchboard/actors/clusterpb"
	"switchboard/store"
)

// TestHandOffAddressed: a hand-off addressed to another process or
// incarnation — one Proto.Actor queued for the node this process replaced
// at the same address, delivered once it could connect again — is refused
// whole; one addressed to this process, or to nobody in particular, is
// taken.
func TestHandOffAddressed(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	e := f.eng
	node := "127.0.0.1:1/new"
	c := &clusterNode{e: e, log: e.log, held: map[int][]*store.InboundMessage{}}
	c.node.Store(&node)
	m := &store.InboundMessage{ID: 7, ProjectID: f.project.ID, ProviderID: f.channel.ID, To: ourNumber, From: "+15551230000", Body: "hi"}
	slot := store.SlotOf(m.Key())
	c.state[slot].Store(slotAcquiring) // what it takes is held, not run
	pid := e.system.Root.Spawn(actor.PropsFromFunc(c.receive))
	taken := 0
	for _, tc := range []struct {
		member, node string
		take         bool
	}{
		{"", "", true},
		{e.system.ID, "", true},
		{"", node, true},
		{e.system.ID, node, true},
		{"ZotherProcess", "", false},
		{"", "127.0.0.1:1/old", false},
		{e.system.ID, "127.0.0.1:1/old", false},
		{"ZotherProcess", node, false},
	} {
		req := &clusterpb.HandOff{Messages: []*clusterpb.Inbound{toProto(m)}, StartIds: []string{"strt_gone"},
			ToMember: tc.member, ToNode: tc.node}
		res, err := e.system.Root.RequestFuture(pid, req, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		ack := res.(*clusterpb.HandOffAck)
		if tc.take {
			taken++
			if len(ack.Refused) != 0 || len(ack.RefusedStarts) != 0 {
				t.Errorf("to member %q node %q: refused %v %v, want everything taken", tc.member, tc.node, ack.Refused, ack.RefusedStarts)
			}
		} else if len(ack.Refused) != 1 || ack.Refused[0] != m.ID || len(ack.RefusedStarts) != 1 {
			t.Errorf("to member %q node %q: refused %v %v, want everything refused", tc.member, tc.node, ack.Refused, ack.RefusedStarts)
		}
	}
	c.mu.Lock()
	held := len(c.held[slot])
	c.mu.Unlock()
	if held != taken {
		t.Fatalf("%d messages held for the slot, want %d", held, taken)
	}
}

func TestLeftOut(t *testing.T) {
	const me, myNode = "10.0.0.3:6330", "10.0.0.3:6330/abc"
	all := []string{"10.0.0.1:6330", "10.0.0.2:6330", me}
	node := func(id string, live, fresh bool, view ...string) store.ClusterNode {
		return store.ClusterNode{Node: id, Live: live, ViewFresh: fresh, View: view}
	}
	for _, c := range []struct {
		name  string
		nodes []store.ClusterNode
		want  bool
	}{
		{"everyone sees me", []store.ClusterNode{node("a", true, true, all...), node("b", true, true, all...), node(myNode, true, true, all...)}, false},
		{"both others left me out", []store.ClusterNode{node("a", true, true, all[:2]...), node("b", true, true, all[:2]...), node(myNode, true, true, all...)}, true},
		{"one of two others: no majority", []store.ClusterNode{node("a", true, true, all[:2]...), node("b", true, true, all...), node(myNode, true, true, all...)}, false},
		{"two nodes, the other does not see me: a tie, no majority", []store.ClusterNode{node("a", true, true, all[0]), node(myNode, true, true, all...)}, false},
		{"stale views do not count", []store.ClusterNode{node("a", true, false, all[:2]...), node("b", true, false, all[:2]...), node(myNode, true, true, all...)}, false},
		{"dead nodes do not count", []store.ClusterNode{node("a", false, true, all[:2]...), node("b", true, true, all...), node(myNode, true, true, all...)}, false},
		{"my own report does not count", []store.ClusterNode{node("a", true, true, all...), node(myNode, true, true)}, false},
		{"four nodes, three leave me out", []store.ClusterNode{node("a", true, true, all[:2]...), node("b", true, true, all[:2]...), node("c", true, true, all[:2]...), node(myNode, true, true, all...)}, true},
	} {
		if got := leftOut(me, myNode, c.nodes); got != c.want {
			t.Errorf("%s: leftOut = %v, want %v", c.name, got, c.want)
		}
	}
}
