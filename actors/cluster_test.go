package actors

import (
	"testing"

	"switchboard/store"
)

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
