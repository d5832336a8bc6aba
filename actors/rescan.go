package actors

import (
	"context"
	"time"

	"switchboard/store"
)

// Rescan: a message can be committed and yet not handed to a session — its
// commit succeeded but reported an error (PostgreSQL's connection lost on
// the way back; the webhook's retry is then a duplicate), or, in a
// cluster, every hand-off to its owner failed. It is pending in the store,
// and the engine's rescan finds it: every Options.RescanInterval, the
// pending messages older than half of it (of keys this
// node owns) go to their sessions, marked with the time of the read, and
// a session skips one it already holds (session.holds). Starts left
// pending that long are handed over again too (a start already running in
// this process is not: startRuns).
// rescanStartAge is longer: a start's turn may be waiting for the LLM.
const rescanStartAge = 30 * time.Second

func (e *Engine) rescanLoop() {
	t := time.NewTicker(e.opts.RescanInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stopRescan:
			return
		case <-t.C:
		}
		if e.closing.Load() {
			return
		}
		n, err := e.rescan(context.Background())
		if err != nil {
			e.log.Warn("rescan of pending messages failed", "err", err)
		} else if n > 0 {
			e.log.Warn("rescan: pending messages handed to their sessions again", "messages", n)
		}
	}
}

// rescan hands old pending work to its sessions and returns how much.
func (e *Engine) rescan(ctx context.Context) (int, error) {
	read := time.Now()
	msgs, err := e.opts.Store.PendingInbound(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		if read.Sub(m.ReceivedAt) < e.opts.RescanInterval/2 || !e.mine(m.Key()) {
			continue
		}
		n++
		e.redeliver(m, read)
	}
	starts, err := e.opts.Store.PendingStarts(ctx)
	if err != nil {
		return n, err
	}
	for _, s := range starts {
		if s.JobID != "" || read.Sub(s.CreatedAt) < rescanStartAge || !e.mine(s.Key()) {
			continue
		}
		if done, err := e.startLocal(s); err == nil && done != nil {
			n++
		}
	}
	return n, nil
}

// redeliver hands a message the store had pending at read to its session
// again; the session skips it if it holds it already (session.holds).
func (e *Engine) redeliver(m *store.InboundMessage, read time.Time) {
	e.pending.Add(1)
	e.system.Root.Send(e.shardFor(m.Key()), &deliver{msg: m, check: read})
}

// mine reports whether this node runs the sessions of key: always on a
// single node.
func (e *Engine) mine(key store.SessionKey) bool {
	return e.cl == nil || e.cl.owns(key)
}
