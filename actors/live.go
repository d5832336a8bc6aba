package actors

import (
	"sync"
	"sync/atomic"

	"switchboard/store"
)

// sessionState is what a session owns. The registry creates it and the
// session actor points at it, so it survives a supervisor restart of the
// actor. Counters read by the metrics walk are atomic; everything else is
// touched only by the session actor.
type sessionState struct {
	id      string
	key     store.SessionKey
	created int64 // unix nanoseconds

	messagesIn  atomic.Uint64
	messagesOut atomic.Uint64
	turns       atomic.Uint64
	lastInbound atomic.Int64 // unix nanoseconds
	queueDepth  atomic.Int32

	// actor-owned
	queue         []*store.InboundMessage
	resume        []*store.OutboundMessage
	resumeMsgs    int // resumeSends messages received, not yet started
	processed     uint64
	inTurn        int // queued messages the running turn is answering
	busy          bool
	stopRequested bool
	ending        bool
	conv          *convState
	debounceArmed bool
	moving        bool  // its slot is leaving this node (cluster.go)
	lastTurnDone  int64 // unix nanoseconds: when a turn last consumed messages
	sessionWheelFields
}

// convState is the little a session remembers of its conversation between
// turns; history stays in the database.
type convState struct {
	id      string
	stageID string
	agentID string
	turns   int // user texts so far
	// The recipient's opt-out state as read from the store once per
	// conversation.
	optChecked, optedOut bool
}

// liveSessions indexes live sessions for the metrics walk without going
// through the actors: the walk must never stall a session.
type liveSessions struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[*sessionState]struct{}
	}
	n atomic.Int64
}

func newLiveSessions() *liveSessions {
	l := &liveSessions{}
	for i := range l.shards {
		l.shards[i].m = map[*sessionState]struct{}{}
	}
	return l
}

func (l *liveSessions) shard(s *sessionState) int {
	// The id's last hex digits are random.
	id := s.id
	if len(id) < 2 {
		return 0
	}
	return int(id[len(id)-1]+id[len(id)-2]) % len(l.shards)
}

func (l *liveSessions) add(s *sessionState) {
	sh := &l.shards[l.shard(s)]
	sh.mu.Lock()
	sh.m[s] = struct{}{}
	sh.mu.Unlock()
	l.n.Add(1)
}

func (l *liveSessions) remove(s *sessionState) {
	sh := &l.shards[l.shard(s)]
	sh.mu.Lock()
	if _, ok := sh.m[s]; ok {
		delete(sh.m, s)
		l.n.Add(-1)
	}
	sh.mu.Unlock()
}

func (l *liveSessions) count() int { return int(l.n.Load()) }

// walk calls fn for up to max sessions (max <= 0: all), holding one shard
// lock at a time.
func (l *liveSessions) walk(max int, fn func(*sessionState)) {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for s := range sh.m {
			if max > 0 && n >= max {
				sh.mu.Unlock()
				return
			}
			fn(s)
			n++
		}
		sh.mu.Unlock()
	}
}
