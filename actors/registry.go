package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"switchboard/store"
)

// registry owns the map session key → session for its shard of keys. It is
// the only sender of inbound messages to sessions, so it knows exactly how
// many it forwarded to each: that count is what the expiry handshake
// compares against.
type registry struct {
	e      *Engine
	byKey  map[store.SessionKey]*regEntry
	byPID  map[string]*regEntry // pid.Id → entry
	props  *actor.Props
	nextID uint64
	// In a cluster, the ids of the messages delivered in the last 30 to
	// 60 s (two generations): a message handed to this node twice — a
	// retried hand-off, a hand-off that raced with the acquisition of its
	// slot — runs once.
	seen, seenOld map[int64]struct{}
	seenSince     time.Time
}

type regEntry struct {
	pid       *actor.PID
	state     *sessionState
	forwarded uint64
	stopping  bool
	moving    bool  // its slot is leaving this node (cluster.go): it stops without ending its conversation
	buffer    []any // *deliver or *resumeSends held while the session stops
}

func newRegistry(e *Engine) *registry {
	return &registry{
		e:     e,
		byKey: map[store.SessionKey]*regEntry{},
		byPID: map[string]*regEntry{},
		// One Props for every session of the shard: a session gets its
		// state from its first message (attach), so an idle session does
		// not keep Props and a producer closure of its own. The lock-free
		// mailbox is a linked list that holds nothing while empty; the
		// default ring buffer keeps ten slots per idle session.
		props: actor.PropsFromProducer(func() actor.Actor { return &session{e: e} },
			actor.WithMailbox(actor.UnboundedLockfree())),
	}
}

// Receive implements actor.Actor.
func (r *registry) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *deliver:
		if cl := r.e.cl; cl != nil && cl.admits(m.msg.Key()) && m.check.IsZero() && r.delivered(m.msg) {
			r.e.pending.Add(-1)
			return
		}
		r.route(ctx, m.msg.Key(), m)
	case *resumeSends:
		r.route(ctx, m.key, m)
	case *stopRequest:
		r.onStopRequest(ctx, m)
	case *evictSlots:
		if m.forget {
			r.seen, r.seenOld = nil, nil
		}
		r.onEvict(ctx)
	case *actor.Terminated:
		r.onTerminated(ctx, m)
	}
}

// delivered reports whether m was delivered here in the last 30 to 60 s,
// and records it.
func (r *registry) delivered(m *store.InboundMessage) bool {
	if m.ID == 0 || m.Start != nil {
		return false
	}
	if _, ok := r.seen[m.ID]; ok {
		return true
	}
	if _, ok := r.seenOld[m.ID]; ok {
		return true
	}
	if now := time.Now(); r.seen == nil || now.Sub(r.seenSince) > seenGeneration {
		r.seen, r.seenOld, r.seenSince = make(map[int64]struct{}, len(r.seen)), r.seen, now
	}
	r.seen[m.ID] = struct{}{}
	return false
}

// seenGeneration is how long a generation of registry.seen lasts.
const seenGeneration = 30 * time.Second

// route forwards work to the key's session, spawning it if needed, or
// buffers it while the session is stopping.
func (r *registry) route(ctx actor.Context, key store.SessionKey, m any) {
	if cl := r.e.cl; cl != nil && !cl.admits(key) {
		// The key's slot has left this node: the work stays pending in
		// the store for its next owner.
		r.e.pending.Add(-1)
		return
	}
	ent := r.byKey[key]
	if ent == nil {
		ent = r.spawn(ctx, key)
	}
	if ent.stopping {
		ent.buffer = append(ent.buffer, m)
		return
	}
	r.forward(ctx, ent, m)
}

func (r *registry) forward(ctx actor.Context, ent *regEntry, m any) {
	if _, ok := m.(*deliver); ok {
		ent.forwarded++
	}
	ctx.Send(ent.pid, m)
}

func (r *registry) spawn(ctx actor.Context, key store.SessionKey) *regEntry {
	e := r.e
	st := &sessionState{id: store.NewID("sess_"), key: key, created: time.Now().UnixNano()}
	// Unnamed spawn: a successor never collides with a stopping predecessor.
	pid := ctx.Spawn(r.props)
	// Nobody else knows the PID yet and the mailbox keeps a sender's order,
	// so attach is the first user message the session reads.
	ctx.Send(pid, &attach{st: st})
	ent := &regEntry{pid: pid, state: st}
	r.byKey[key] = ent
	r.byPID[pid.Id] = ent
	if e.cl != nil {
		e.cl.slotLive[store.SlotOf(key)].Add(1)
	}
	e.live.add(st)
	e.m.sessionStarted()
	return ent
}

// onStopRequest grants an idle session leave to stop only if it has
// processed everything forwarded to it; from then on messages for its key
// are buffered for the successor.
func (r *registry) onStopRequest(ctx actor.Context, m *stopRequest) {
	ent := r.byPID[m.who.Id]
	if ent == nil || ent.stopping {
		return
	}
	if ent.forwarded != m.processed {
		ctx.Send(m.who, &stopDenied{})
		return
	}
	ent.stopping = true
	ctx.Send(m.who, &stopGranted{move: ent.moving})
}

// onEvict asks every session whose slot has left this node to stop once it
// has finished what it holds (cluster.go).
func (r *registry) onEvict(ctx actor.Context) {
	for key, ent := range r.byKey {
		if ent.moving || ent.stopping || r.e.cl.admits(key) {
			continue
		}
		ent.moving = true
		ctx.Send(ent.pid, &moveOut{})
	}
}

// onTerminated removes a stopped session and, if work arrived while it was
// stopping, spawns its successor and hands it that work in order.
func (r *registry) onTerminated(ctx actor.Context, m *actor.Terminated) {
	ent := r.byPID[m.Who.Id]
	if ent == nil {
		return
	}
	delete(r.byPID, m.Who.Id)
	key := ent.state.key
	if r.byKey[key] == ent {
		delete(r.byKey, key)
	}
	r.e.live.remove(ent.state)
	r.e.idle.leave(ent.state) // a session its supervisor stopped is still in the wheel
	r.e.m.sessionEnded(time.Duration(time.Now().UnixNano()-ent.state.created), ent.stopping && !ent.moving)
	if cl := r.e.cl; cl != nil {
		cl.slotLive[store.SlotOf(key)].Add(-1)
		if !cl.admits(key) {
			// Moved away: what arrived meanwhile, and what a failed
			// session left, stays pending in the store for the next owner.
			drop := int64(len(ent.buffer))
			if st := ent.state; !ent.stopping {
				drop += int64(ent.forwarded-st.processed) + int64(st.resumeMsgs)
				if st.inTurn <= len(st.queue) {
					drop += int64(len(st.queue) - st.inTurn)
				}
			}
			r.e.pending.Add(-drop)
			return
		}
	}
	if !ent.stopping {
		// Stopped by its supervisor after repeated failures. Its state
		// survives in ent.state: messages it had queued (but not the batch
		// its last turn goroutine is finishing) go to a successor. Messages
		// still in its mailbox were discarded by Stop; they stay pending in
		// the store and are answered after the next restart.
		st := ent.state
		if dropped := int64(ent.forwarded - st.processed); dropped > 0 {
			r.e.pending.Add(-dropped)
			r.e.log.Error("session stopped after repeated failures; messages left for the next start",
				"session_id", st.id, "messages", dropped)
		} else {
			r.e.log.Error("session stopped after repeated failures", "session_id", st.id)
		}
		var carry []any
		if st.resumeMsgs > 0 {
			// One message carries them all; keep pending counting it once.
			r.e.pending.Add(int64(1 - st.resumeMsgs))
			var deadline time.Time
			if last := st.lastInbound.Load(); last > 0 {
				deadline = time.Unix(0, last).Add(r.e.opts.SessionTimeout)
			}
			carry = append(carry, &resumeSends{key: key, rows: st.resume, deadline: deadline})
		}
		if st.inTurn <= len(st.queue) {
			for _, m := range st.queue[st.inTurn:] {
				carry = append(carry, &deliver{msg: m})
			}
		}
		ent.buffer = append(carry, ent.buffer...)
	}
	if len(ent.buffer) == 0 {
		return
	}
	next := r.spawn(ctx, key)
	for _, b := range ent.buffer {
		r.forward(ctx, next, b)
	}
}
