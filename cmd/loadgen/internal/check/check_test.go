package check

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func find(t *testing.T, r Result, name string) Invariant {
	t.Helper()
	for _, inv := range r.Invariants {
		if inv.Name == name {
			return inv
		}
	}
	t.Fatalf("invariant %q missing from %+v", name, r.Invariants)
	return Invariant{}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		body string
		turn int
		text string
		ok   bool
	}{
		{"R1: s0-0", 1, "s0-0", true},
		{"R12: a: b", 12, "a: b", true},
		{"R0: x", 0, "", false},
		{"Rx: x", 0, "", false},
		{"You said: x", 0, "", false},
		{"R3 x", 0, "", false},
	}
	for _, tt := range tests {
		turn, text, ok := ParseReply(tt.body)
		if turn != tt.turn || text != tt.text || ok != tt.ok {
			t.Errorf("ParseReply(%q) = %d, %q, %v; want %d, %q, %v", tt.body, turn, text, ok, tt.turn, tt.text, tt.ok)
		}
	}
}

func TestAllGood(t *testing.T) {
	c := New()
	for i, text := range []string{"a-0", "a-1", "a-2"} {
		c.Sent("+1", text, i, t0)
		c.Delivered(text, 200)
	}
	c.Delivered("a-1", 200) // a replay
	if got := c.Pending(); got != 3 {
		t.Fatalf("Pending = %d, want 3", got)
	}
	for i, text := range []string{"a-0", "a-1", "a-2"} {
		sent, first := c.Replied("+1", "R"+string(rune('1'+i))+": "+text, t0.Add(time.Second))
		if !first || !sent.Equal(t0) {
			t.Fatalf("Replied(%s) = %v, %v", text, sent, first)
		}
	}
	if got := c.Pending(); got != 0 {
		t.Fatalf("Pending = %d, want 0", got)
	}
	r := c.Finish()
	if !r.OK() {
		t.Fatalf("invariants broke: %+v", r.Failed())
	}
	if r.Messages != 3 || r.Accepted != 3 || r.Answered != 3 || r.Replayed != 1 || r.Replies != 3 {
		t.Fatalf("result = %+v", r)
	}
}

func TestReplyBeforeAck(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	if _, first := c.Replied("+1", "R1: a-0", t0); !first {
		t.Fatal("first reply not reported as first")
	}
	c.Delivered("a-0", 200)
	if got := c.Pending(); got != 0 {
		t.Fatalf("Pending = %d, want 0 (answered before acknowledged)", got)
	}
	if r := c.Finish(); !r.OK() || r.Answered != 1 {
		t.Fatalf("result = %+v", r)
	}
}

func TestUnanswered(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	c.Delivered("a-0", 200)
	c.Sent("+1", "a-1", 1, t0)
	c.Delivered("a-1", 503) // not accepted: no promise
	r := c.Finish()
	inv := find(t, r, InvAnswered)
	if inv.OK || inv.Failures != 1 || !strings.Contains(inv.Examples[0], "a-0") {
		t.Fatalf("answered invariant = %+v", inv)
	}
	if r.Unacked != 1 || r.OK() {
		t.Fatalf("result = %+v", r)
	}
}

func TestDuplicateReplies(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	c.Delivered("a-0", 200)
	c.Delivered("a-0", 200) // replayed
	c.Sent("+1", "a-1", 1, t0)
	c.Delivered("a-1", 200)
	c.Replied("+1", "R1: a-0", t0)
	if _, first := c.Replied("+1", "R2: a-0", t0); first {
		t.Fatal("second reply reported as first")
	}
	c.Replied("+1", "R3: a-1", t0)
	c.Replied("+1", "R4: a-1", t0)
	r := c.Finish()
	if inv := find(t, r, InvExactlyOnce); inv.OK || inv.Failures != 2 {
		t.Fatalf("exactly-once = %+v", inv)
	}
	if inv := find(t, r, InvReplayOnce); inv.OK || inv.Failures != 1 || !strings.Contains(inv.Examples[0], "a-0") {
		t.Fatalf("replay = %+v", inv)
	}
	if inv := find(t, r, InvAnswered); !inv.OK {
		t.Fatalf("answered = %+v", inv)
	}
}

func TestOrder(t *testing.T) {
	c := New()
	// Group 1 is a burst of two concurrent messages: either order is fine.
	for _, m := range []struct {
		text  string
		group int
	}{{"a-0", 0}, {"a-1", 1}, {"a-2", 1}, {"a-3", 2}, {"a-4", 3}} {
		c.Sent("+1", m.text, m.group, t0)
		c.Delivered(m.text, 200)
	}
	for i, text := range []string{"a-0", "a-2", "a-1", "a-4", "a-3"} {
		c.Replied("+1", "R"+string(rune('1'+i))+": "+text, t0)
	}
	r := c.Finish()
	inv := find(t, r, InvOrder)
	if inv.OK || inv.Failures != 1 {
		t.Fatalf("order = %+v", inv)
	}
	if !strings.Contains(inv.Examples[0], "a-3") || !strings.Contains(inv.Examples[0], "a-4") {
		t.Fatalf("example %q does not name a-3 and a-4", inv.Examples[0])
	}
	if inv := find(t, r, InvExactlyOnce); !inv.OK {
		t.Fatalf("exactly-once = %+v", inv)
	}
}

func TestOrderIgnoresOtherSenders(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	c.Sent("+2", "b-0", 5, t0)
	c.Sent("+1", "a-1", 1, t0)
	for _, s := range []string{"a-0", "b-0", "a-1"} {
		c.Delivered(s, 200)
	}
	c.Replied("+1", "R1: a-0", t0)
	c.Replied("+2", "R1: b-0", t0)
	c.Replied("+1", "R2: a-1", t0)
	if r := c.Finish(); !r.OK() {
		t.Fatalf("invariants broke: %+v", r.Failed())
	}
}

func TestNothingExtra(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	c.Delivered("a-0", 200)
	c.Replied("+1", "R1: a-0", t0)
	c.Replied("+1", "R2: never-sent", t0)
	c.Replied("+1", "garbage", t0)
	c.Sent("+2", "b-0", 0, t0)
	c.Delivered("b-0", 200)
	c.Replied("+3", "R1: b-0", t0) // misrouted
	r := c.Finish()
	inv := find(t, r, InvNothingExtra)
	if inv.OK || inv.Failures != 3 {
		t.Fatalf("nothing-extra = %+v", inv)
	}
	// b-0 never reached its sender.
	if inv := find(t, r, InvAnswered); inv.OK {
		t.Fatalf("answered = %+v, want b-0 unanswered", inv)
	}
}

func TestUnackedAnsweredIsNotAFailure(t *testing.T) {
	c := New()
	c.Sent("+1", "a-0", 0, t0)
	c.Delivered("a-0", 0) // transport error after the commit
	c.Replied("+1", "R1: a-0", t0)
	r := c.Finish()
	if !r.OK() || r.UnackedAnswered != 1 || r.Accepted != 0 {
		t.Fatalf("result = %+v", r)
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d", c.Pending())
	}
}

func TestExamplesBounded(t *testing.T) {
	c := New()
	for i := range 20 {
		text := "a-" + string(rune('a'+i))
		c.Sent("+1", text, i, t0)
		c.Delivered(text, 200)
	}
	r := c.Finish()
	inv := find(t, r, InvAnswered)
	if inv.Failures != 20 || len(inv.Examples) != maxExamples {
		t.Fatalf("answered = %d failures, %d examples", inv.Failures, len(inv.Examples))
	}
}
