package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"switchboard/store"
)

// session owns one sender's conversation. It processes inbound messages
// strictly in order, one turn at a time; the turn itself (database, LLM,
// Twilio) runs on its own goroutine and reports back with turnDone, so the
// mailbox never blocks on I/O. All state lives in s, which the registry
// hands over in the session's first message and which survives a
// supervisor restart.
type session struct {
	e *Engine
	s *sessionState
}

// attach gives a new session its state; the registry sends it right after
// the spawn, before any work.
type attach struct{ st *sessionState }

// Receive implements actor.Actor.
func (a *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *attach:
		a.s = m.st
		a.armIdle(ctx, a.e.opts.SessionTimeout)
	case *actor.Started:
		// After a supervisor restart the new instance takes the state its
		// predecessor handed over; a first start waits for attach.
		if st, ok := a.e.restarts.LoadAndDelete(ctx.Self().Id); ok {
			a.s = st.(*sessionState)
			a.armIdle(ctx, a.e.opts.SessionTimeout)
		}
	case *actor.Restarting:
		if a.s != nil {
			a.e.log.Warn("session restarting", "session_id", a.s.id)
			a.e.restarts.Store(ctx.Self().Id, a.s)
		}
	case *deliver:
		a.onDeliver(ctx, m)
	case *resumeSends:
		a.onResume(ctx, m)
	case *turnDone:
		a.onTurnDone(ctx, m)
	case *debounceTick:
		a.s.debounceArmed = false
		a.maybeStart(ctx)
	case *idleCheck:
		// The idle wheel can deliver early checks (a re-arm races with
		// its firing); checkIdle compares against lastInbound.
		a.checkIdle(ctx)
	case *stopDenied:
		// Messages are on their way; if they were lost (the actor was
		// restarted), check again after a full timeout, not at once.
		a.s.stopRequested = false
		a.armIdle(ctx, a.e.opts.SessionTimeout)
	case *stopGranted:
		if m.move {
			// The slot left this node: stop, leaving the conversation to
			// its next owner.
			a.s.ending = true
			a.e.idle.leave(a.s)
			ctx.Stop(ctx.Self())
			return
		}
		a.onStopGranted(ctx)
	case *moveOut:
		a.s.moving = true
		if !a.s.busy {
			a.checkIdle(ctx)
		}
	case *conversationEnded:
		ctx.Stop(ctx.Self())
	}
}

// onResume takes work a previous run left: unsent replies, and the stored
// deadline of the conversation, which the session keeps (a session that
// has seen no text yet counts its idle time from deadline − timeout).
func (a *session) onResume(ctx actor.Context, m *resumeSends) {
	s := a.s
	if s.lastInbound.Load() == 0 && !m.deadline.IsZero() {
		s.lastInbound.Store(m.deadline.Add(-a.e.opts.SessionTimeout).UnixNano())
	}
	s.resume = append(s.resume, m.rows...)
	s.resumeMsgs++
	a.maybeStart(ctx)
	if !s.busy {
		a.checkIdle(ctx)
	}
}

func (a *session) onDeliver(ctx actor.Context, d *deliver) {
	s, m := a.s, d.msg
	s.processed++
	if !d.check.IsZero() && a.holds(m.ID, d.check) {
		a.e.pending.Add(-1)
		return
	}
	s.messagesIn.Add(1)
	s.lastInbound.Store(a.e.opts.Now().UnixNano())
	s.stopRequested = false
	s.queue = append(s.queue, m)
	s.queueDepth.Store(int32(len(s.queue)))
	a.armIdle(ctx, a.e.opts.SessionTimeout)
	a.maybeStart(ctx)
}

// holds reports whether a message found pending in the store at check (a
// rescan) may already be this session's: queued, or consumed by a turn
// that ended since. If it was not, the next rescan finds it again.
func (a *session) holds(id int64, check time.Time) bool {
	for _, q := range a.s.queue {
		if q.ID == id {
			return true
		}
	}
	return a.s.lastTurnDone >= check.UnixNano()
}

// maybeStart starts the next turn if none is running: resumed sends from a
// previous run first, then queued messages in arrival order.
func (a *session) maybeStart(ctx actor.Context) {
	s := a.s
	if s.busy || s.ending {
		return
	}
	self := ctx.Self()
	e := a.e
	if s.resumeMsgs > 0 {
		rows, msgs := s.resume, int64(s.resumeMsgs)
		s.resume, s.resumeMsgs = nil, 0
		if len(rows) == 0 {
			e.pending.Add(-msgs)
		} else {
			s.busy = true
			e.inflight.Add(1)
			go func() {
				defer e.inflight.Add(-1)
				e.resumeSends(rows)
				e.pending.Add(-msgs)
				e.system.Root.Send(self, &turnDone{consumed: 0, keepConv: true})
			}()
			return
		}
	}
	if len(s.queue) == 0 {
		return
	}
	n := 1
	if d := e.opts.Debounce; d > 0 && s.queue[0].Start == nil {
		// Merge a burst: wait until the newest text is d old (or the cap is
		// reached), then answer all queued texts in one turn.
		last := time.Unix(0, s.lastInbound.Load())
		if wait := d - e.opts.Now().Sub(last); wait > 0 && len(s.queue) < e.opts.DebounceMax {
			if !s.debounceArmed {
				s.debounceArmed = true
				time.AfterFunc(wait, func() { e.system.Root.Send(self, &debounceTick{}) })
			}
			return
		}
		n = min(len(s.queue), e.opts.DebounceMax)
		// A start is a turn of its own: texts after it wait for it.
		for i, m := range s.queue[:n] {
			if m.Start != nil {
				n = i
				break
			}
		}
	}
	batch := append([]*store.InboundMessage(nil), s.queue[:n]...)
	s.inTurn = n
	var conv *convState
	if s.conv != nil {
		c := *s.conv
		conv = &c
	}
	in := turnInput{
		key:         s.key,
		sessionID:   s.id,
		conv:        conv,
		msgs:        batch,
		lastInbound: time.Unix(0, s.lastInbound.Load()),
	}
	s.busy = true
	e.inflight.Add(1)
	go func() {
		defer e.inflight.Add(-1)
		out := e.runTurn(in)
		e.pending.Add(int64(-n))
		e.system.Root.Send(self, &turnDone{conv: out.conv, consumed: n, replies: out.replies})
	}()
}

func (a *session) onTurnDone(ctx actor.Context, m *turnDone) {
	s := a.s
	s.busy = false
	s.inTurn = 0
	if m.consumed > 0 {
		s.queue = s.queue[m.consumed:]
		if len(s.queue) == 0 {
			s.queue = nil // release the backing array of a burst
		}
		s.queueDepth.Store(int32(len(s.queue)))
		s.turns.Add(1)
		s.lastTurnDone = time.Now().UnixNano()
	}
	if !m.keepConv {
		s.conv = m.conv
	}
	s.messagesOut.Add(uint64(m.replies))
	a.maybeStart(ctx)
	if !s.busy {
		a.checkIdle(ctx)
	}
}

// checkIdle expires the session if it is idle past its timeout, else arms
// the timer for the time left.
func (a *session) checkIdle(ctx actor.Context) {
	s := a.s
	if s.busy || s.ending || s.stopRequested || len(s.queue) > 0 || s.resumeMsgs > 0 {
		return
	}
	if s.moving {
		s.stopRequested = true
		ctx.Send(ctx.Parent(), &stopRequest{who: ctx.Self(), processed: s.processed})
		return
	}
	idle := a.e.opts.Now().Sub(time.Unix(0, s.lastInbound.Load()))
	if s.lastInbound.Load() == 0 {
		idle = a.e.opts.SessionTimeout // never got a message (resumed sends only)
	}
	if left := a.e.opts.SessionTimeout - idle; left > 0 {
		a.armIdle(ctx, left)
		return
	}
	// Ask the registry for leave to stop. Until it answers, messages keep
	// flowing normally; it refuses if it forwarded anything not yet seen.
	s.stopRequested = true
	ctx.Send(ctx.Parent(), &stopRequest{who: ctx.Self(), processed: s.processed})
}

func (a *session) onStopGranted(ctx actor.Context) {
	s := a.s
	s.ending = true
	deadline := time.Unix(0, s.lastInbound.Load()).Add(a.e.opts.SessionTimeout)
	a.e.expiryLate(a.e.opts.Now().Sub(deadline))
	a.e.idle.leave(s)
	self := ctx.Self()
	e := a.e
	var conv *convState
	if s.conv != nil {
		c := *s.conv
		conv = &c
	}
	key := s.key
	e.inflight.Add(1)
	go func() {
		defer e.inflight.Add(-1)
		e.expireConversation(key, conv)
		e.system.Root.Send(self, &conversationEnded{})
	}()
}

// armIdle (re)arms the session's idle check to fire after d.
//
// Why not the actor's ReceiveTimeout: in the pinned protoactor-go its timer
// goroutine writes the actor context's fields (CancelReceiveTimeout from
// receiveTimeoutHandler) while the mailbox goroutine reads them, a data race
// the race detector reports, and every user message re-arms it. The
// engine's idle wheel gives the same semantics (no goroutine per idle
// session),
// is re-armed only by inbound user messages, and its tick is an ordinary
// message, so it is race-free; it also costs an idle session far less
// memory than a timer of its own.
func (a *session) armIdle(ctx actor.Context, d time.Duration) {
	a.e.idle.arm(ctx.Self(), a.s, d)
}
