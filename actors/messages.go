package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"switchboard/store"
)

// Messages between the engine, registries and sessions. They are small,
// immutable once sent, and unexported.

// deliver carries one committed inbound message from the engine to its
// registry, and from the registry to the session.
type deliver struct {
	msg *store.InboundMessage
	// check, when set, marks a message a rescan found pending in the
	// store at that time: the session skips it if it holds it already
	// (session.holds).
	check time.Time
}

// resumeSends hands a session outbox rows left unsent by a previous run;
// they are sent before anything else of the session.
type resumeSends struct {
	key  store.SessionKey
	rows []*store.OutboundMessage
	// deadline is the key's active conversation's stored deadline (zero
	// if it has none): the session expires then.
	deadline time.Time
}

// stopRequest is a session asking its registry for leave to stop after
// processing `processed` messages.
type stopRequest struct {
	who       *actor.PID
	processed uint64
}

// stopGranted lets a session end its conversation and stop: the registry
// has marked its entry stopping and buffers later messages for the key.
type stopGranted struct {
	// move: the session's slot is leaving this node; it stops without
	// ending its conversation, which its next owner continues.
	move bool
}

// stopDenied tells a session the registry forwarded messages it has not
// processed yet; it stays.
type stopDenied struct{}

// turnDone reports the end of a turn (LLM call, commit and sends) that ran
// off the actor.
type turnDone struct {
	conv     *convState // the conversation after the turn; nil if it ended (opt-out)
	consumed int        // how many queued messages the turn consumed
	replies  int        // outbound messages sent
	keepConv bool       // the work did not touch the conversation (resumed sends)
}

// conversationEnded reports that the expiring session's conversation has
// been ended in the store.
type conversationEnded struct{}

// idleCheck is the session's idle timer firing.
type idleCheck struct{}

// debounceTick wakes a session whose burst-merging window may have passed.
type debounceTick struct{}
