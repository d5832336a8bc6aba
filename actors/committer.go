package actors

import (
	"context"
	"errors"
	"sync"
	"time"

	"switchboard/store"
)

// committer is the engine's group committer: one goroutine that takes
// every write of the hot path — inbound messages from webhooks, turns and
// send results from sessions — and commits whatever queued up while the
// previous commit ran in one transaction, so concurrent webhooks and turns
// share one fsync. At low load a batch is a single item and adds no delay.
//
// Send results are lazy: nobody waits for them, they ride along with the
// next commit (or are flushed after lazyDelay), so a message costs two
// commits instead of three. A crash can lose the last of them; recovery
// then asks Twilio before re-sending the row, so nothing is sent twice.
// Lazy writes are committed before anything queued after them, in the same
// transaction, so a conversation's events stay in order (a delivery event
// never lands after a later conversation_end).
type committer struct {
	st      store.Store
	batch   store.BatchCommitter // nil: inbound and turns commit separately
	max     int
	linger  time.Duration
	inbound chan inboundReq
	turns   chan turnReq
	lazy    chan lazyWrite
	// lazyDelay bounds how long a lazy write waits for company.
	lazyDelay time.Duration
	lazyBuf   []lazyWrite
	logErr    func(msg string, err error)
	// observe records each transaction's size and duration.
	observe func(items int, d time.Duration)
	done    chan struct{}
	stopped chan struct{} // closed when loop has returned
	closed  sync.Once
}

type inboundReq struct {
	m    *store.InboundMessage
	resp chan inboundResp
}

type inboundResp struct {
	r   store.InboundResult
	err error
}

// lazyWrite is a write nobody waits for; done (if set) runs once it has
// been committed or has failed.
type lazyWrite struct {
	t    *store.Turn
	done func()
}

type turnReq struct {
	t    *store.Turn
	resp chan error
}

var errCommitterClosed = errors.New("actors: committer closed")

// newCommitter starts a committer; logErr and observe (either may be nil)
// receive failed lazy writes and each transaction's size and duration.
func newCommitter(st store.Store, max int, linger time.Duration, logErr func(msg string, err error), observe func(items int, d time.Duration)) *committer {
	if logErr == nil {
		logErr = func(string, error) {}
	}
	if observe == nil {
		observe = func(int, time.Duration) {}
	}
	c := &committer{st: st, max: max, linger: linger,
		inbound: make(chan inboundReq, 4*max), turns: make(chan turnReq, 4*max), lazy: make(chan lazyWrite, 16*max),
		lazyDelay: 20 * time.Millisecond, logErr: logErr, observe: observe,
		done: make(chan struct{}), stopped: make(chan struct{})}
	c.batch, _ = st.(store.BatchCommitter)
	go c.loop()
	return c
}

// commitInbound commits one inbound message. Once handed over, the commit
// is not cancelled by ctx: the caller waits for the outcome, because a
// committed message must not be reported as failed.
func (c *committer) commitInbound(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error) {
	req := inboundReq{m: m, resp: make(chan inboundResp, 1)}
	select {
	case c.inbound <- req:
	case <-c.done:
		return store.InboundResult{}, errCommitterClosed
	case <-ctx.Done():
		return store.InboundResult{}, ctx.Err()
	}
	select {
	case r := <-req.resp:
		return r.r, r.err
	case <-c.stopped:
		// The loop answered everything it read before stopping; a request
		// that landed after that is refused.
		select {
		case r := <-req.resp:
			return r.r, r.err
		default:
			return store.InboundResult{}, errCommitterClosed
		}
	}
}

// commitTurn commits one turn and returns its error.
func (c *committer) commitTurn(ctx context.Context, t *store.Turn) error {
	req := turnReq{t: t, resp: make(chan error, 1)}
	select {
	case c.turns <- req:
	case <-c.done:
		return errCommitterClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.resp:
		return err
	case <-c.stopped:
		select {
		case err := <-req.resp:
			return err
		default:
			return errCommitterClosed
		}
	}
}

// commitLazy queues a write nobody waits for; a failure is logged. done
// (may be nil) runs when the write has been committed or has failed.
func (c *committer) commitLazy(t *store.Turn, done func()) {
	select {
	case c.lazy <- lazyWrite{t: t, done: done}:
	case <-c.done:
		c.logErr("write after the committer closed", errCommitterClosed)
		if done != nil {
			done()
		}
	}
}

func (c *committer) loop() {
	defer close(c.stopped)
	ins := make([]inboundReq, 0, c.max)
	trs := make([]turnReq, 0, c.max)
	busy := false // the previous batch held more than one item: load is high
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		ins, trs = ins[:0], trs[:0]
		select {
		case r := <-c.inbound:
			ins = append(ins, r)
		case r := <-c.turns:
			trs = append(trs, r)
		case t := <-c.lazy:
			c.lazyBuf = append(c.lazyBuf, t)
			if len(c.lazyBuf) < c.max {
				if !armed {
					timer.Reset(c.lazyDelay)
					armed = true
				}
				continue // wait for company
			}
		case <-timer.C:
			armed = false
		case <-c.done:
			c.drain()
			return
		}
		if busy && c.linger > 0 && len(ins)+len(trs) > 0 {
			// Under load, wait a moment for more work: every commit rewrites
			// the hot index pages and syncs the WAL, so fewer, larger
			// commits cost much less CPU per message.
			time.Sleep(c.linger)
		}
	fill:
		for len(ins) < c.max || len(trs) < c.max {
			select {
			case r := <-c.inbound:
				if len(ins) == c.max {
					c.commit(ins, trs)
					ins, trs = ins[:0], trs[:0]
				}
				ins = append(ins, r)
			case r := <-c.turns:
				if len(trs) == c.max {
					c.commit(ins, trs)
					ins, trs = ins[:0], trs[:0]
				}
				trs = append(trs, r)
			default:
				break fill
			}
		}
		busy = len(ins)+len(trs) > 1
		c.commit(ins, trs)
		if armed {
			timer.Stop()
			armed = false
		}
	}
}

// drain answers what is still queued at close and commits the lazy
// writes.
func (c *committer) drain() {
	for {
		select {
		case r := <-c.inbound:
			c.commit([]inboundReq{r}, nil)
		case r := <-c.turns:
			c.commit(nil, []turnReq{r})
		default:
			c.commit(nil, nil)
			if len(c.lazy) == 0 && len(c.lazyBuf) == 0 {
				return
			}
		}
	}
}

// takeLazy returns the lazy writes queued so far (at most max), oldest
// first.
func (c *committer) takeLazy() []lazyWrite {
	for len(c.lazyBuf) < c.max {
		select {
		case t := <-c.lazy:
			c.lazyBuf = append(c.lazyBuf, t)
			continue
		default:
		}
		break
	}
	lazy := c.lazyBuf
	c.lazyBuf = nil
	return lazy
}

// commit commits the queued lazy writes, then ins and trs, answering every
// request.
func (c *committer) commit(ins []inboundReq, trs []turnReq) {
	lazy := c.takeLazy()
	if len(ins) == 0 && len(trs) == 0 && len(lazy) == 0 {
		return
	}
	ctx := context.Background()
	msgs := make([]*store.InboundMessage, len(ins))
	for i, r := range ins {
		msgs[i] = r.m
	}
	// Lazy writes first: they were queued before everything else here.
	turns := make([]*store.Turn, 0, len(lazy)+len(trs))
	for _, l := range lazy {
		turns = append(turns, l.t)
	}
	for _, r := range trs {
		turns = append(turns, r.t)
	}
	nl := len(lazy)
	start := time.Now()
	defer func() { c.observe(len(msgs)+len(turns), time.Since(start)) }()
	answer := func(i int, err error) {
		if i < nl {
			if err != nil {
				c.logErr("record send result", err)
			}
			if done := lazy[i].done; done != nil {
				done()
			}
			return
		}
		trs[i-nl].resp <- err
	}
	if c.batch != nil && len(msgs) > 0 && len(turns) > 0 {
		res, err := c.batch.CommitBatch(ctx, msgs, turns)
		if err == nil {
			for i, r := range ins {
				r.resp <- inboundResp{r: res[i]}
			}
			for i := range turns {
				answer(i, nil)
			}
			return
		}
		// Fall through: commit separately, so that one bad turn does not
		// fail the webhooks that shared its transaction.
	}
	if len(msgs) > 0 {
		res, err := c.st.CommitInbound(ctx, msgs)
		for i, r := range ins {
			if err != nil {
				r.resp <- inboundResp{err: err}
			} else {
				r.resp <- inboundResp{r: res[i]}
			}
		}
	}
	if len(turns) > 0 {
		err := c.st.CommitTurns(ctx, turns)
		if err == nil || len(turns) == 1 {
			for i := range turns {
				answer(i, err)
			}
			return
		}
		// One bad turn (say, its conversation was deleted) must not fail
		// the others: commit them one by one, in order.
		for i := range turns {
			answer(i, c.st.CommitTurns(ctx, turns[i:i+1]))
		}
	}
}

// close stops the committer after answering what is queued and committing
// the lazy writes, and waits for it, so nothing is written after the store
// is closed.
func (c *committer) close() {
	c.closed.Do(func() { close(c.done) })
	<-c.stopped
}
