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
// share one transaction. At low load a batch is a single item and adds no
// delay.
//
// Durability is deferred (store.DeferredCommitter; actors/doc.go,
// "Durability"): a batch is written as soon as it is formed, without
// waiting for the disk, and its writers learn at once what it stored (an
// inbound message's id, whether it is a duplicate), so the webhook can
// hand its message to the session before the flush. What must be durable
// — the inbound message before the webhook's 200, the turn before its
// send — waits for the next flush, which covers everything written before
// it. An inbound message gives its turn up to syncWait to come along; a
// scripted or otherwise quick turn does, so the message and its turn share
// one flush: a turn that finds an inbound message waiting is committed
// durably at once (one flush for it and every write before). A turn that
// finds no one waiting (its LLM took longer than syncWait, and the flush
// its message had alone is past) waits for company in turn, as long as
// its caller allows (Engine.turnPatience: a tenth of the time the turn
// took, at most TurnWait): the next webhook's flush covers it, so at a
// steady rate a message costs one fsync however slow the LLM.
//
// Send results are lazy: nobody waits for them, they ride along with the
// next commit (or are written after lazyDelay) and need no flush of their
// own. A crash can lose the last of them; recovery then asks Twilio before
// re-sending the row, so nothing is sent twice. Lazy writes are committed
// before anything queued after them, in the same transaction, so a
// conversation's events stay in order (a delivery event never lands after
// a later conversation_end).
type committer struct {
	st       store.Store
	batch    store.BatchCommitter    // nil: inbound and turns commit separately
	deferred store.DeferredCommitter // nil: every commit is durable when it returns
	max      int
	linger   time.Duration
	// syncWait is how long a written inbound message waits for company
	// (its turn) before it is flushed on its own.
	syncWait time.Duration
	inbound  chan inboundReq
	turns    chan turnReq
	lazy     chan lazyWrite
	// lazyDelay bounds how long a lazy write waits for company.
	lazyDelay time.Duration
	lazyBuf   []lazyWrite
	// waiting are the writers whose writes are committed but not yet
	// durable; syncBy is when the least patient of them must be flushed
	// (now, for a turn that finds an inbound message waiting). inWaiting
	// counts the inbound messages among them.
	waiting   []func(error)
	syncBy    time.Time
	inWaiting int
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
	// durable receives nil once the message is durable, or the error
	// that left its durability unknown.
	durable chan error
	// now: no turn of this process will share the message's flush (in a
	// cluster, another node owns its sender), so its batch is committed
	// durably at once rather than written and flushed a moment later.
	now bool
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

// turnReq is a turn to commit; resp receives nil once it is durable, or
// the error. patience is how long its flush may wait for company; eager
// makes it flush at once when an inbound message waits for a flush (a
// turn, about to send: the flush is due for that message anyway, and its
// webhook is waiting).
type turnReq struct {
	t        *store.Turn
	resp     chan error
	patience time.Duration
	eager    bool
}

var errCommitterClosed = errors.New("actors: committer closed")

// newCommitter starts a committer; logErr and observe (either may be nil)
// receive failed lazy writes and each transaction's size and duration.
func newCommitter(st store.Store, max int, linger, syncWait time.Duration, logErr func(msg string, err error), observe func(items int, d time.Duration)) *committer {
	if logErr == nil {
		logErr = func(string, error) {}
	}
	if observe == nil {
		observe = func(int, time.Duration) {}
	}
	c := &committer{st: st, max: max, linger: linger, syncWait: syncWait,
		inbound: make(chan inboundReq, 4*max), turns: make(chan turnReq, 4*max), lazy: make(chan lazyWrite, 16*max),
		lazyDelay: 20 * time.Millisecond, logErr: logErr, observe: observe,
		done: make(chan struct{}), stopped: make(chan struct{})}
	c.batch, _ = st.(store.BatchCommitter)
	c.deferred, _ = st.(store.DeferredCommitter)
	go c.loop()
	return c
}

// commitInbound writes one inbound message and returns what was stored,
// and a channel that receives nil once the message is durable (or the
// error that left that unknown). Once handed over, the commit is not
// cancelled by ctx: the caller waits for the outcome, because a committed
// message must not be reported as failed.
func (c *committer) commitInbound(ctx context.Context, m *store.InboundMessage, now bool) (store.InboundResult, <-chan error, error) {
	req := inboundReq{m: m, resp: make(chan inboundResp, 1), durable: make(chan error, 1), now: now}
	select {
	case c.inbound <- req:
	case <-c.done:
		return store.InboundResult{}, nil, errCommitterClosed
	case <-ctx.Done():
		return store.InboundResult{}, nil, ctx.Err()
	}
	select {
	case r := <-req.resp:
		return r.r, req.durable, r.err
	case <-c.stopped:
		// The loop answered everything it read before stopping; a request
		// that landed after that is refused.
		select {
		case r := <-req.resp:
			return r.r, req.durable, r.err
		default:
			return store.InboundResult{}, nil, errCommitterClosed
		}
	}
}

// commitTurn commits one turn and returns once it is durable, or its
// error. Its flush is at once if an inbound message waits for one, else
// within patience.
func (c *committer) commitTurn(ctx context.Context, t *store.Turn, patience time.Duration) error {
	return c.commitReq(ctx, turnReq{t: t, patience: patience, eager: true})
}

// commitPatient commits t like commitTurn, but lets its flush wait up to
// patience for other writes to share it, whoever waits.
func (c *committer) commitPatient(ctx context.Context, t *store.Turn, patience time.Duration) error {
	return c.commitReq(ctx, turnReq{t: t, patience: patience})
}

// commitReq queues req and waits for its answer.
func (c *committer) commitReq(ctx context.Context, req turnReq) error {
	req.resp = make(chan error, 1)
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
	syncTimer := time.NewTimer(time.Hour)
	syncTimer.Stop()
	for {
		if c.syncDue() && len(c.inbound) == 0 && len(c.turns) == 0 {
			c.sync()
			continue
		}
		var syncC <-chan time.Time
		if len(c.waiting) > 0 {
			syncTimer.Reset(time.Until(c.syncBy))
			syncC = syncTimer.C
		}
		ins, trs = ins[:0], trs[:0]
		select {
		case r := <-c.inbound:
			ins = append(ins, r)
		case r := <-c.turns:
			trs = append(trs, r)
		case t := <-c.lazy:
			c.lazyBuf = append(c.lazyBuf, t)
			if len(c.lazyBuf) < c.max && !c.syncDue() {
				if !armed {
					timer.Reset(c.lazyDelay)
					armed = true
				}
				stopTimer(syncTimer, syncC)
				continue // wait for company
			}
		case <-timer.C:
			armed = false
		case <-syncC:
			syncC = nil
			c.sync()
			continue
		case <-c.done:
			stopTimer(syncTimer, syncC)
			c.drain()
			return
		}
		stopTimer(syncTimer, syncC)
		if busy && c.linger > 0 && len(ins)+len(trs) > 0 {
			// Under load, wait a moment for more work: every commit rewrites
			// the hot index pages and flushes, so fewer, larger commits cost
			// much less CPU per message.
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

// stopTimer stops t if c is its armed channel, draining a tick that fired
// meanwhile, so the next Reset starts clean.
func stopTimer(t *time.Timer, c <-chan time.Time) {
	if c != nil && !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// syncDue reports whether writes wait for a flush that must happen now: a
// writer has waited as long as it would.
func (c *committer) syncDue() bool {
	return len(c.waiting) > 0 && !time.Now().Before(c.syncBy)
}

// wait records a writer whose write is committed but not yet durable and
// whose flush may wait up to patience (zero: flush now); inbound says it
// is an inbound message's.
func (c *committer) wait(patience time.Duration, inbound bool, notify func(error)) {
	if inbound {
		c.inWaiting++
	}
	by := time.Now().Add(max(patience, 0))
	if len(c.waiting) == 0 || by.Before(c.syncBy) {
		c.syncBy = by
	}
	c.waiting = append(c.waiting, notify)
}

// sync flushes every write so far and tells the writers waiting for it.
// A flush that fails while the store still works (a lost connection) is
// tried again, with backoff, until it succeeds or the committer closes:
// the writes are in, and a turn told that its commit failed would write
// itself a second time. A store that cannot tell what reached the disk
// refuses for good (EUNAVAILABLE); its error goes to the writers.
func (c *committer) sync() {
	var err error
	if c.deferred != nil {
		for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
			err = c.deferred.Sync(context.Background())
			if err == nil || store.ErrorCode(err) == store.EUNAVAILABLE {
				break
			}
			c.logErr("flush commits to disk; retrying", err)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				continue
			case <-c.done:
				t.Stop()
				err = errCommitterClosed
			}
			break
		}
		if err != nil {
			c.logErr("flush commits to disk", err)
		}
	}
	c.synced(err)
}

// synced tells every waiting writer that its write is durable (err nil)
// or that its durability is unknown.
func (c *committer) synced(err error) {
	for _, w := range c.waiting {
		w(err)
	}
	clear(c.waiting)
	c.waiting = c.waiting[:0]
	c.inWaiting = 0
}

// drain answers what is still queued at close, commits the lazy writes
// and flushes.
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
				if len(c.waiting) > 0 {
					c.sync()
				}
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
// request. The transaction is durable when a flush is due anyway, when it
// carries a write without patience, or a turn while an inbound message
// written before waits for a flush; its flush then covers every write
// before it. Otherwise it is deferred and its writers wait for a later
// flush.
func (c *committer) commit(ins []inboundReq, trs []turnReq) {
	lazy := c.takeLazy()
	if len(ins) == 0 && len(trs) == 0 && len(lazy) == 0 {
		return
	}
	durable := c.deferred == nil || c.syncDue()
	for _, r := range trs {
		durable = durable || r.patience <= 0 || r.eager && c.inWaiting > 0
	}
	for _, r := range ins {
		durable = durable || r.now
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
	// flushed is set once a durable transaction has committed: its flush
	// covered every write before it.
	flushed := false
	batch := func(msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
		if durable || c.deferred == nil {
			res, err := c.batch.CommitBatch(ctx, msgs, turns)
			flushed = flushed || err == nil
			return res, err
		}
		return c.deferred.CommitBatchDeferred(ctx, msgs, turns)
	}
	answerInbound := func(i int, res store.InboundResult, err error) {
		r := ins[i]
		r.resp <- inboundResp{r: res, err: err}
		if err == nil {
			c.wait(c.syncWait, true, func(err error) { r.durable <- err })
		}
	}
	answerTurn := func(i int, err error) {
		if i < nl {
			if err != nil {
				c.logErr("record send result", err)
			}
			if done := lazy[i].done; done != nil {
				done()
			}
			return
		}
		r := trs[i-nl]
		if err != nil {
			r.resp <- err
			return
		}
		c.wait(r.patience, false, func(err error) { r.resp <- err })
	}
	defer func() {
		if flushed && durable {
			c.synced(nil)
		}
	}()
	if c.batch == nil {
		// A store without batches commits each durably on its own.
		if len(msgs) > 0 {
			res, err := c.st.CommitInbound(ctx, msgs)
			for i := range ins {
				var r store.InboundResult
				if err == nil {
					r = res[i]
				}
				answerInbound(i, r, err)
			}
		}
		for i := range turns {
			answerTurn(i, c.st.CommitTurns(ctx, turns[i:i+1]))
		}
		c.synced(nil)
		return
	}
	if len(msgs) > 0 && len(turns) > 0 {
		res, err := batch(msgs, turns)
		if err == nil {
			for i := range ins {
				answerInbound(i, res[i], nil)
			}
			for i := range turns {
				answerTurn(i, nil)
			}
			return
		}
		// Fall through: commit separately, so that one bad turn does not
		// fail the webhooks that shared its transaction.
	}
	if len(msgs) > 0 {
		res, err := batch(msgs, nil)
		for i := range ins {
			var r store.InboundResult
			if err == nil {
				r = res[i]
			}
			answerInbound(i, r, err)
		}
	}
	if len(turns) > 0 {
		_, err := batch(nil, turns)
		if err == nil || len(turns) == 1 {
			for i := range turns {
				answerTurn(i, err)
			}
			return
		}
		// One bad turn (say, its conversation was deleted) must not fail
		// the others: commit them one by one, in order.
		for i := range turns {
			_, err := batch(nil, turns[i:i+1])
			answerTurn(i, err)
		}
	}
}

// close stops the committer after answering what is queued, committing
// the lazy writes and flushing, and waits for it, so nothing is written
// after the store is closed.
func (c *committer) close() {
	c.closed.Do(func() { close(c.done) })
	<-c.stopped
}
