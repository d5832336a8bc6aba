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
type committer struct {
	st      store.Store
	batch   store.BatchCommitter // nil: inbound and turns commit separately
	max     int
	linger  time.Duration
	inbound chan inboundReq
	turns   chan turnReq
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

type turnReq struct {
	t    *store.Turn
	resp chan error
}

var errCommitterClosed = errors.New("actors: committer closed")

func newCommitter(st store.Store, max int, linger time.Duration) *committer {
	c := &committer{st: st, max: max, linger: linger,
		inbound: make(chan inboundReq, 4*max), turns: make(chan turnReq, 4*max), done: make(chan struct{}), stopped: make(chan struct{})}
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

func (c *committer) loop() {
	defer close(c.stopped)
	ins := make([]inboundReq, 0, c.max)
	trs := make([]turnReq, 0, c.max)
	busy := false // the previous batch held more than one item: load is high
	for {
		ins, trs = ins[:0], trs[:0]
		select {
		case r := <-c.inbound:
			ins = append(ins, r)
		case r := <-c.turns:
			trs = append(trs, r)
		case <-c.done:
			c.drain()
			return
		}
		if busy && c.linger > 0 {
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
	}
}

// drain answers what is still queued at close.
func (c *committer) drain() {
	for {
		select {
		case r := <-c.inbound:
			c.commit([]inboundReq{r}, nil)
		case r := <-c.turns:
			c.commit(nil, []turnReq{r})
		default:
			return
		}
	}
}

func (c *committer) commit(ins []inboundReq, trs []turnReq) {
	if len(ins) == 0 && len(trs) == 0 {
		return
	}
	ctx := context.Background()
	msgs := make([]*store.InboundMessage, len(ins))
	for i, r := range ins {
		msgs[i] = r.m
	}
	turns := make([]*store.Turn, len(trs))
	for i, r := range trs {
		turns[i] = r.t
	}
	if c.batch != nil && len(msgs) > 0 && len(turns) > 0 {
		res, err := c.batch.CommitBatch(ctx, msgs, turns)
		if err == nil {
			for i, r := range ins {
				r.resp <- inboundResp{r: res[i]}
			}
			for _, r := range trs {
				r.resp <- nil
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
			for _, r := range trs {
				r.resp <- err
			}
			return
		}
		// One bad turn (say, its conversation was deleted) must not fail
		// the others: commit them one by one.
		for i, r := range trs {
			r.resp <- c.st.CommitTurns(ctx, turns[i:i+1])
		}
	}
}

// close stops the committer after answering what is queued, and waits
// for it, so nothing is written after the store is closed.
func (c *committer) close() {
	c.closed.Do(func() { close(c.done) })
	<-c.stopped
}
