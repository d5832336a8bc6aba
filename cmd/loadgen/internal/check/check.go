// Package check verifies the delivery invariants of a load test: every
// accepted inbound message is answered exactly once, replies arrive in
// per-sender order, replayed deliveries are not answered twice, and nothing
// is answered that was not sent.
//
// The load generator registers each logical message (one MessageSid) before
// its first delivery, reports the outcome of every delivery, and feeds every
// reply the simulated Twilio receives. Judgement is deferred to Finish,
// because a reply can legitimately arrive before the webhook's
// acknowledgement reaches the sender.
package check

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Invariant names, as reported.
const (
	InvAnswered     = "every accepted message answered"
	InvExactlyOnce  = "answered exactly once"
	InvReplayOnce   = "replayed duplicates not answered twice"
	InvOrder        = "replies in per-sender order"
	InvNothingExtra = "nothing answered that was not sent"
)

// maxExamples bounds the examples kept per invariant.
const maxExamples = 5

// msg is one logical message: one MessageSid, one or more deliveries.
type msg struct {
	sender     string
	text       string
	group      int
	sentAt     time.Time
	deliveries int
	accepted   bool
	replies    int
}

// reply is one reply as it arrived, in arrival order per recipient.
type reply struct {
	text string // "" when the body did not parse or named no known message
	body string
	to   string
}

// Checker tracks messages and replies. Its methods are safe for concurrent
// use.
type Checker struct {
	mu       sync.Mutex
	msgs     map[string]*msg
	bySender map[string][]reply
	pending  int // accepted messages not yet answered
	replies  int
}

// New returns an empty Checker.
func New() *Checker {
	return &Checker{msgs: make(map[string]*msg), bySender: make(map[string][]reply)}
}

// Sent registers a message before its first delivery. text is the unique
// body the sender sends; group orders a sender's messages: every message of
// group g was acknowledged before any message of group g+1 was sent, so
// their replies must come in group order (messages of one group, a burst,
// are concurrent and may be answered in any order among themselves).
func (c *Checker) Sent(sender, text string, group int, at time.Time) {
	c.mu.Lock()
	c.msgs[text] = &msg{sender: sender, text: text, group: group, sentAt: at}
	c.mu.Unlock()
}

// Delivered records the outcome of one delivery of text: its HTTP status,
// or 0 when the request failed in transport. A message is accepted once any
// of its deliveries was answered 200.
func (c *Checker) Delivered(text string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.msgs[text]
	if !ok {
		return
	}
	m.deliveries++
	if status == 200 && !m.accepted {
		m.accepted = true
		if m.replies == 0 {
			c.pending++
		}
	}
}

// ParseReply splits a scripted reply "R<turn>: <text>" into its parts.
func ParseReply(body string) (turn int, text string, ok bool) {
	rest, found := strings.CutPrefix(body, "R")
	if !found {
		return 0, "", false
	}
	num, text, found := strings.Cut(rest, ": ")
	if !found {
		return 0, "", false
	}
	turn, err := strconv.Atoi(num)
	if err != nil || turn < 1 {
		return 0, "", false
	}
	return turn, text, true
}

// Replied records a reply to `to` with body at time at. It returns the time
// the answered message was first sent and whether this is its first reply,
// so the caller can record webhook-to-reply latency once per message.
func (c *Checker) Replied(to, body string, at time.Time) (sentAt time.Time, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies++
	_, text, ok := ParseReply(body)
	var m *msg
	if ok {
		m = c.msgs[text]
	}
	if m == nil || m.sender != to {
		// Unknown, or misrouted: it answers nothing the recipient sent.
		c.bySender[to] = append(c.bySender[to], reply{body: body, to: to})
		return time.Time{}, false
	}
	c.bySender[to] = append(c.bySender[to], reply{text: text, body: body, to: to})
	m.replies++
	if m.replies > 1 {
		return m.sentAt, false
	}
	if m.accepted {
		c.pending--
	}
	return m.sentAt, true
}

// Pending returns how many accepted messages have no reply yet.
func (c *Checker) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

// Invariant is the verdict on one invariant.
type Invariant struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Failures int      `json:"failures"`
	Examples []string `json:"examples,omitempty"`
}

// Result summarises the messages and the invariants at the end of a run.
type Result struct {
	Messages int `json:"messages"` // logical messages (MessageSids) sent
	Accepted int `json:"accepted"` // messages with a 200 delivery
	Replayed int `json:"replayed"` // messages delivered more than once
	Answered int `json:"answered"` // accepted messages answered at least once
	Replies  int `json:"replies"`  // replies received, all kinds
	Unacked  int `json:"unacked"`  // messages never answered 200
	// UnackedAnswered counts messages that were answered although no
	// delivery was acknowledged (a transport error or 5xx after the commit).
	// It is reported, not an invariant failure.
	UnackedAnswered int         `json:"unackedAnswered"`
	Invariants      []Invariant `json:"invariants"`
}

// OK reports whether every invariant holds.
func (r Result) OK() bool {
	for _, inv := range r.Invariants {
		if !inv.OK {
			return false
		}
	}
	return true
}

// Failed returns the invariants that broke.
func (r Result) Failed() []Invariant {
	var out []Invariant
	for _, inv := range r.Invariants {
		if !inv.OK {
			out = append(out, inv)
		}
	}
	return out
}

// tally collects failures of one invariant with a few examples.
type tally struct {
	name     string
	failures int
	examples []string
}

func (t *tally) add(format string, args ...any) {
	t.failures++
	if len(t.examples) < maxExamples {
		t.examples = append(t.examples, fmt.Sprintf(format, args...))
	}
}

func (t *tally) invariant() Invariant {
	return Invariant{Name: t.name, OK: t.failures == 0, Failures: t.failures, Examples: t.examples}
}

// Finish judges the invariants on everything recorded so far. It may be
// called more than once.
func (c *Checker) Finish() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	answered := &tally{name: InvAnswered}
	once := &tally{name: InvExactlyOnce}
	replay := &tally{name: InvReplayOnce}
	order := &tally{name: InvOrder}
	extra := &tally{name: InvNothingExtra}

	res := Result{Messages: len(c.msgs), Replies: c.replies}
	texts := make([]string, 0, len(c.msgs))
	for t := range c.msgs {
		texts = append(texts, t)
	}
	sort.Strings(texts) // stable examples
	for _, t := range texts {
		m := c.msgs[t]
		if m.deliveries > 1 {
			res.Replayed++
		}
		if !m.accepted {
			res.Unacked++
			if m.replies > 0 {
				res.UnackedAnswered++
			}
			continue
		}
		res.Accepted++
		switch {
		case m.replies == 0:
			answered.add("%s from %s: no reply", m.text, m.sender)
		case m.replies > 1:
			res.Answered++
			once.add("%s from %s: %d replies", m.text, m.sender, m.replies)
			if m.deliveries > 1 {
				replay.add("%s from %s: delivered %d times, answered %d times", m.text, m.sender, m.deliveries, m.replies)
			}
		default:
			res.Answered++
		}
	}

	senders := make([]string, 0, len(c.bySender))
	for s := range c.bySender {
		senders = append(senders, s)
	}
	sort.Strings(senders)
	for _, s := range senders {
		maxGroup, maxText := -1, ""
		for _, r := range c.bySender[s] {
			if r.text == "" {
				extra.add("reply to %s %q matches no message %s sent", r.to, r.body, r.to)
				continue
			}
			m := c.msgs[r.text]
			if !m.accepted {
				continue // no ordering promise for a delivery that was never acknowledged
			}
			if m.group < maxGroup {
				order.add("%s: reply to %s (group %d) arrived after the reply to %s (group %d)", s, m.text, m.group, maxText, maxGroup)
				continue
			}
			maxGroup, maxText = m.group, m.text
		}
	}
	res.Invariants = []Invariant{answered.invariant(), once.invariant(), replay.invariant(), order.invariant(), extra.invariant()}
	return res
}
