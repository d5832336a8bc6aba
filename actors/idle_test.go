package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// wheelRecorder records when the wheel fired which session.
type wheelRecorder struct {
	mu    sync.Mutex
	fired map[string][]time.Time
}

func (r *wheelRecorder) send(pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fired[pid.Id] = append(r.fired[pid.Id], time.Now())
}

func (r *wheelRecorder) get(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.fired[id]...)
}

// TestIdleWheel checks the wheel's promises with a 2 ms tick and a ring of
// 8 slots (16 ms), so that some deadlines lie beyond the ring: a check
// fires once, not before its deadline and at most a few ticks after it;
// re-arming later postpones it, re-arming earlier brings it forward
// (without a second firing at the old time); a session that left never
// fires.
func TestIdleWheel(t *testing.T) {
	const tick = 2 * time.Millisecond
	rec := &wheelRecorder{fired: map[string][]time.Time{}}
	w := startWheel(tick, 8, rec.send)
	defer w.close()

	type sess struct {
		pid *actor.PID
		st  *sessionState
	}
	newSess := func(id string) sess { return sess{pid: &actor.PID{Id: id}, st: &sessionState{id: id}} }
	plain, later, earlier, far, gone := newSess("plain"), newSess("later"), newSess("earlier"), newSess("far"), newSess("gone")

	start := time.Now()
	w.arm(plain.pid, plain.st, 10*time.Millisecond)
	w.arm(later.pid, later.st, 10*time.Millisecond)
	w.arm(earlier.pid, earlier.st, 60*time.Millisecond)
	w.arm(far.pid, far.st, 50*time.Millisecond) // beyond the 16 ms ring
	w.arm(gone.pid, gone.st, 10*time.Millisecond)
	w.arm(earlier.pid, earlier.st, 20*time.Millisecond)
	w.leave(gone.st)
	time.Sleep(5 * time.Millisecond)
	w.arm(later.pid, later.st, 30*time.Millisecond) // now due at ≈35 ms

	want := map[string]time.Duration{"plain": 10 * time.Millisecond, "later": 35 * time.Millisecond,
		"earlier": 20 * time.Millisecond, "far": 50 * time.Millisecond}
	time.Sleep(150 * time.Millisecond)
	for id, due := range want {
		got := rec.get(id)
		if len(got) != 1 {
			t.Errorf("%s fired %d times, want once", id, len(got))
			continue
		}
		at := got[0].Sub(start)
		// Not before the deadline (less the ticker's own jitter of a
		// tick); late by a few ticks at most, with slack for a busy machine.
		if at < due-tick || at > due+40*time.Millisecond {
			t.Errorf("%s fired at %v, due at %v", id, at, due)
		}
	}
	if got := rec.get("gone"); len(got) != 0 {
		t.Errorf("a session that left the wheel fired %d times", len(got))
	}
	// Fired sessions are out of the wheel: arming again files them anew.
	w.arm(plain.pid, plain.st, 4*time.Millisecond)
	time.Sleep(40 * time.Millisecond)
	if got := rec.get("plain"); len(got) != 2 {
		t.Errorf("re-armed session fired %d times in all, want 2", len(got))
	}
}
