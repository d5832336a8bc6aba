package actors

import (
	"context"
	"errors"
	"sync"
)

// batcher is a group committer: callers hand it one item each and wait;
// one goroutine takes whatever has queued up (at most max) and commits it
// with a single call, so concurrent webhooks share one transaction and
// one fsync. At low load a batch is a single item and adds no delay.
type batcher[T, R any] struct {
	max    int
	fn     func(context.Context, []T) ([]R, error)
	reqs   chan batchReq[T, R]
	done   chan struct{}
	closed sync.Once
}

type batchReq[T, R any] struct {
	item T
	resp chan batchResp[R]
}

type batchResp[R any] struct {
	r   R
	err error
}

var errBatcherClosed = errors.New("actors: committer closed")

func newBatcher[T, R any](max int, fn func(context.Context, []T) ([]R, error)) *batcher[T, R] {
	b := &batcher[T, R]{max: max, fn: fn, reqs: make(chan batchReq[T, R], 4*max), done: make(chan struct{})}
	go b.loop()
	return b
}

// do commits item and returns its result. The commit itself is not
// cancelled by ctx once started (it may hold other callers' items).
func (b *batcher[T, R]) do(ctx context.Context, item T) (R, error) {
	req := batchReq[T, R]{item: item, resp: make(chan batchResp[R], 1)}
	var zero R
	select {
	case b.reqs <- req:
	case <-b.done:
		return zero, errBatcherClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	// Wait for the result even if ctx ends: the item may be committed, and
	// the caller must not report a failure for a committed item.
	resp := <-req.resp
	return resp.r, resp.err
}

func (b *batcher[T, R]) loop() {
	items := make([]T, 0, b.max)
	reqs := make([]batchReq[T, R], 0, b.max)
	for {
		var first batchReq[T, R]
		select {
		case first = <-b.reqs:
		case <-b.done:
			// Answer whatever is still queued.
			for {
				select {
				case r := <-b.reqs:
					b.commit([]T{r.item}, []batchReq[T, R]{r})
				default:
					return
				}
			}
		}
		items = append(items[:0], first.item)
		reqs = append(reqs[:0], first)
	fill:
		for len(items) < b.max {
			select {
			case r := <-b.reqs:
				items = append(items, r.item)
				reqs = append(reqs, r)
			default:
				break fill
			}
		}
		b.commit(items, reqs)
	}
}

func (b *batcher[T, R]) commit(items []T, reqs []batchReq[T, R]) {
	res, err := b.fn(context.Background(), items)
	for i, r := range reqs {
		var out batchResp[R]
		if err != nil {
			out.err = err
		} else if i < len(res) {
			out.r = res[i]
		}
		r.resp <- out
	}
}

func (b *batcher[T, R]) close() {
	b.closed.Do(func() { close(b.done) })
}
