package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// idleWheel fires the sessions' idle checks: a timing wheel of slots one
// tick wide, served by one goroutine, instead of a runtime timer per
// session. A session in the wheel costs one slot entry (24 bytes) rather
// than a timer and its closure (~150 bytes), and re-arming it on every
// inbound message is two atomic operations: the entry stays where it is and
// is moved on when its slot comes round and the deadline has moved.
//
// A check fires at the first tick at or after its deadline, never before,
// and at most one tick late (the tick is a twentieth of the session
// timeout, between 1 ms and 100 ms). Arms come only from the session's own
// Receive. A re-arm racing with the wheel's handling of the same entry has
// two harmless outcomes: the session gets an early idleCheck (checkIdle
// finds time left and arms again, or a turn in flight arms it when it
// ends), or, when the new deadline is earlier than the old and the wheel
// read the old one, the check fires at the old, later deadline: late,
// never lost. The window is a few instructions wide.
type idleWheel struct {
	tick  time.Duration
	start time.Time
	send  func(pid *actor.PID)

	mu    sync.Mutex
	slots [][]wheelEntry
	n     int64 // len(slots)
	pos   int64 // the next tick to fire; its slot is slots[pos%n]

	stop chan struct{}
	done chan struct{}
}

type wheelEntry struct {
	pid *actor.PID
	s   *sessionState
	at  int64 // the tick this entry was filed for
}

// wheelSlots is the ring's size: deadlines further out than this many
// ticks are filed at the ring's end and moved on when they come round.
const wheelSlots = 4096

// A sessionState's wheelAt holds its live entry's tick + 1, or one of
// these.
const (
	notInWheel  = 0
	leftWheel   = -1 // the session has stopped: drop its entry
	idleTickMin = time.Millisecond
	idleTickMax = 100 * time.Millisecond
)

func newIdleWheel(timeout time.Duration, send func(pid *actor.PID)) *idleWheel {
	return startWheel(min(max(timeout/20, idleTickMin), idleTickMax), wheelSlots, send)
}

func startWheel(tick time.Duration, slots int, send func(pid *actor.PID)) *idleWheel {
	w := &idleWheel{tick: tick, start: time.Now(), send: send, slots: make([][]wheelEntry, slots), n: int64(slots),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// tickOf is the first tick at or after due (nanoseconds since w.start).
func (w *idleWheel) tickOf(due int64) int64 {
	if due <= 0 {
		return 0
	}
	return (due + int64(w.tick) - 1) / int64(w.tick)
}

// arm sets s's idle deadline to now+d. Called from the session's Receive
// only.
func (w *idleWheel) arm(pid *actor.PID, s *sessionState, d time.Duration) {
	due := int64(time.Since(w.start) + d)
	s.idleDue.Store(due)
	if at := s.wheelAt.Load(); at == leftWheel || at > 0 && at-1 <= w.tickOf(due) {
		return // stopping, or filed no later than due: moved on when it fires
	}
	w.mu.Lock()
	if s.wheelAt.Load() != leftWheel {
		w.file(wheelEntry{pid: pid, s: s}, due)
	}
	w.mu.Unlock()
}

// leave drops s from the wheel for good (the session is stopping): its
// entry stays in its slot, holding the PID and state, until the slot
// comes round (at most wheelSlots ticks) and is then discarded.
func (w *idleWheel) leave(s *sessionState) {
	w.mu.Lock()
	s.wheelAt.Store(leftWheel)
	w.mu.Unlock()
}

// file puts e in the slot of due's tick (never one already fired) and
// makes it s's only live entry. w.mu is held.
func (w *idleWheel) file(e wheelEntry, due int64) {
	at := max(w.tickOf(due), w.pos)
	if at >= w.pos+w.n {
		at = w.pos + w.n - 1
	}
	e.at = at
	e.s.wheelAt.Store(at + 1)
	i := at % w.n
	w.slots[i] = append(w.slots[i], e)
}

func (w *idleWheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var fire []*actor.PID
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		target := int64(time.Since(w.start) / w.tick)
		w.mu.Lock()
		for ; w.pos <= target; w.pos++ {
			i := w.pos % w.n
			entries := w.slots[i]
			w.slots[i] = nil
			for _, e := range entries {
				if e.s.wheelAt.Load() != e.at+1 {
					continue // superseded by a later filing, or the session left
				}
				if due := e.s.idleDue.Load(); w.tickOf(due) > w.pos {
					w.file(e, due)
					continue
				}
				e.s.wheelAt.Store(notInWheel)
				fire = append(fire, e.pid)
			}
			if cap(entries) <= 64 {
				clear(entries)
				w.slots[i] = entries[:0] // keep small slices for reuse
			}
		}
		w.mu.Unlock()
		for i, pid := range fire {
			w.send(pid)
			fire[i] = nil
		}
		fire = fire[:0]
	}
}

func (w *idleWheel) close() {
	close(w.stop)
	<-w.done
}

// sessionWheelFields are the sessionState fields the wheel uses; declared
// here to keep them next to their rules.
type sessionWheelFields struct {
	idleDue atomic.Int64 // the idle deadline, nanoseconds since the wheel's start
	// wheelAt is the tick + 1 of the session's live wheel entry, or
	// notInWheel or leftWheel; written under idleWheel.mu, read without it
	// by arm.
	wheelAt atomic.Int64
}
