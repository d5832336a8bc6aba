package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// outbound sends outbox rows through Twilio: retries what is safe to retry
// with exponential backoff and jitter, honours a per-sender-number rate
// limit and a global cap on concurrent REST calls, and records every
// send's final state on the row and in the conversation's events.
type outbound struct {
	e   *Engine
	sem chan struct{}

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newOutbound(e *Engine) *outbound {
	return &outbound{e: e, sem: make(chan struct{}, e.opts.MaxConcurrentSends), limiters: map[string]*rate.Limiter{}}
}

func (o *outbound) limiter(from string) *rate.Limiter {
	if o.e.opts.SendRatePerNumber <= 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.limiters[from]
	if l == nil {
		burst := max(1, int(o.e.opts.SendRatePerNumber))
		l = rate.NewLimiter(rate.Limit(o.e.opts.SendRatePerNumber), burst)
		o.limiters[from] = l
	}
	return l
}

// sendRows sends a turn's outbox rows in order and returns how many were
// accepted by Twilio. After an opt-out error the remaining parts are
// skipped.
func (e *Engine) sendRows(ctx context.Context, cfg *providers.TwilioConfig, rows []*store.OutboundMessage, cbBase string, received time.Time) int {
	sent := 0
	optedOut := false
	for _, r := range rows {
		if r.State != store.OutboxPending {
			continue
		}
		if cfg == nil {
			e.finishRow(ctx, r, store.OutboxUpdate{ID: r.ID, State: store.OutboxFailed, ErrorMessage: "channel provider unavailable"})
			continue
		}
		if optedOut {
			e.finishRow(ctx, r, store.OutboxUpdate{ID: r.ID, State: store.OutboxSkipped, ErrorMessage: "recipient opted out"})
			continue
		}
		if e.cl != nil && !e.cl.maySend(outboxKey(r)) {
			// The key's slot left this node, or its lease may be about to:
			// the part stays pending, and the next owner sends it once.
			e.log.Warn("send: not the key's owner now; left to the next owner", "conversation_id", r.ConversationID, "outbox_id", r.ID)
			break
		}
		upd, out := e.out.send(ctx, *cfg, r, statusCallback(cbBase, r.ProviderID, r.ID))
		if out {
			optedOut = true
			e.m.optOut()
			e.setOptOut(ctx, r.ProviderID, r.To, true)
		}
		if upd.State == store.OutboxSent {
			if sent == 0 && !received.IsZero() {
				e.m.reply(e.opts.Now().Sub(received))
			}
			sent++
		}
		e.finishRow(ctx, r, upd)
	}
	return sent
}

// resumeSends sends outbox rows a previous run left pending. A row may
// have been accepted by Twilio just before the crash: when the Sender can
// look messages up, such rows are recorded as sent instead of sent again.
func (e *Engine) resumeSends(rows []*store.OutboundMessage) {
	ctx := context.Background()
	cfg, err := e.cfg.twilio(ctx, rows[0].ProviderID)
	if err != nil {
		e.log.Error("resume sends: channel provider", "err", err)
		cfg = nil
	}
	if f, ok := e.opts.Sender.(Finder); ok && cfg != nil {
		for _, r := range rows {
			if r.State != store.OutboxPending {
				continue
			}
			if sid, found := e.findSent(ctx, f, *cfg, r); found {
				e.log.Info("resume sends: already accepted by Twilio before the restart", "conversation_id", r.ConversationID, "outbox_id", r.ID)
				e.finishRow(ctx, r, store.OutboxUpdate{ID: r.ID, State: store.OutboxSent, Attempts: r.Attempts, TwilioSID: sid})
			}
		}
	}
	cbBase := ""
	if cfg != nil {
		cbBase = e.callbackBase(ctx, cfg, rows[0].ProviderID, rows[0].From)
	}
	e.sendRows(ctx, cfg, rows, cbBase, time.Time{})
}

// findSent asks Twilio whether r was already accepted, retrying a failing
// lookup like a send. If Twilio cannot be asked, the row is sent: a rare
// double text beats a silently dropped reply.
func (e *Engine) findSent(ctx context.Context, f Finder, cfg providers.TwilioConfig, r *store.OutboundMessage) (string, bool) {
	if r.ContentSID != "" {
		// Twilio stores a template send with the template's text, which
		// the row does not know: it cannot be looked up, so it is sent.
		return "", false
	}
	m := outMessage(r)
	for attempt := 1; ; attempt++ {
		sid, found, err := f.FindSent(ctx, cfg, m, r.CreatedAt)
		if err == nil {
			return sid, found
		}
		c := e.opts.Classify(err)
		if !c.Retryable || attempt >= e.opts.SendMaxAttempts || c.RetryAfter > e.opts.RetryAfterMax {
			e.log.Warn("resume sends: cannot tell whether Twilio has the message; sending it", "outbox_id", r.ID, "err", err)
			return "", false
		}
		if !sleepCtx(ctx, max(e.out.backoff(attempt), c.RetryAfter)) {
			return "", false
		}
	}
}

// outMessage is the message an outbox row sends.
func outMessage(r *store.OutboundMessage) OutMessage {
	return OutMessage{From: r.From, To: r.To, Body: r.Body, MediaURLs: r.MediaURLs,
		ContentSID: r.ContentSID, ContentVariables: r.ContentVariables}
}

// sendKind is the kind of a row's message for
// switchboard_outbound_sends_by_kind_total: template, media or text.
func sendKind(r *store.OutboundMessage) string {
	switch {
	case r.ContentSID != "":
		return "template"
	case len(r.MediaURLs) > 0:
		return "media"
	}
	return "text"
}

// deliveryPatience is how long a status callback's write waits for a flush
// it can share: Twilio waits up to 15 s for the answer, so at any rate of
// traffic above one message a second a callback costs no flush of its own.
const deliveryPatience = time.Second

// RecordDeliveryStatus records a status callback for the message channel
// provider u.ProviderID sent as u.TwilioSID (like store.SetDeliveryStatus) through
// the group committer, and returns once it is durable, reporting whether
// such a message was found. A callback is written at once but its flush
// rides the commits around it (deliveryPatience).
func (e *Engine) RecordDeliveryStatus(ctx context.Context, u store.DeliveryUpdate) (bool, error) {
	d := &u
	start := time.Now()
	err := e.commits.commitPatient(ctx, &store.Turn{Delivery: d}, max(deliveryPatience, e.opts.SyncWait))
	e.m.storeOp("delivery_status", start)
	return d.Found, err
}

// sentKey names a send by its channel provider and Twilio SID: a status
// callback is scoped to the provider whose token signed it, so it never
// waits on (or learns about) another provider's send.
type sentKey struct{ providerID, sid string }

// AwaitSendResult waits, until ctx ends, for the result of the send that
// Twilio accepted as sid for channel provider providerID to be committed,
// and reports whether this engine had such a result queued. A status
// callback that arrives before the send's SID is stored waits here instead
// of polling the store.
func (e *Engine) AwaitSendResult(ctx context.Context, providerID, sid string) bool {
	v, ok := e.unrecorded.Load(sentKey{providerID, sid})
	if !ok {
		return false
	}
	select {
	case <-v.(chan struct{}):
	case <-ctx.Done():
	}
	return true
}

// finishRow stores a send's final state on its row, with the delivery
// event that records it in the conversation's history.
func (e *Engine) finishRow(ctx context.Context, r *store.OutboundMessage, u store.OutboxUpdate) {
	r.State, r.Attempts, r.ErrorCode, r.TwilioSID = u.State, u.Attempts, u.ErrorCode, u.TwilioSID
	e.m.send(u.State, u.ErrorCode)
	e.m.sendKind(sendKind(r), u.State)
	data := map[string]any{"outboxId": r.ID, "state": u.State, "attempts": u.Attempts, "part": r.Part, "parts": r.Parts}
	if u.TwilioSID != "" {
		data["messageSid"] = u.TwilioSID
	}
	if u.ErrorCode != 0 {
		data["errorCode"] = u.ErrorCode
	}
	if u.ErrorMessage != "" {
		data["error"] = u.ErrorMessage
	}
	// The row's new state and its delivery event are committed together,
	// lazily, with the next commit (see committer). Until then a status
	// callback for the SID can wait for it (AwaitSendResult).
	var done func()
	if sid := u.TwilioSID; sid != "" {
		ch := make(chan struct{})
		key := sentKey{r.ProviderID, sid}
		e.unrecorded.Store(key, ch)
		done = func() {
			e.unrecorded.Delete(key)
			close(ch)
		}
	}
	if b, err := json.Marshal(data); err == nil {
		u.Event, u.EventAt = b, e.opts.Now().UTC()
	}
	e.commits.commitLazy(&store.Turn{OutboxUpdates: []store.OutboxUpdate{u}}, done)
	if u.State == store.OutboxFailed {
		e.log.Warn("send failed", "conversation_id", r.ConversationID, "to", twilio.MaskNumber(r.To),
			"error_code", u.ErrorCode, "attempts", u.Attempts, "err", u.ErrorMessage)
	}
}

// send delivers one row, retrying retryable failures. It reports whether
// the recipient turned out to be opted out.
func (o *outbound) send(ctx context.Context, cfg providers.TwilioConfig, r *store.OutboundMessage, callback string) (store.OutboxUpdate, bool) {
	e := o.e
	upd := store.OutboxUpdate{ID: r.ID, Attempts: r.Attempts}
	msg := outMessage(r)
	msg.StatusCallback = callback
	start := time.Now()
	for {
		if l := o.limiter(r.From); l != nil {
			if err := l.Wait(ctx); err != nil {
				upd.State, upd.ErrorMessage = store.OutboxFailed, "rate limiter: "+err.Error()
				return upd, false
			}
		}
		o.sem <- struct{}{}
		sctx, cancel := context.WithTimeout(ctx, e.opts.SendTimeout)
		upd.Attempts++
		attempted := time.Now()
		sid, err := e.opts.Sender.Send(sctx, cfg, msg)
		cancel()
		<-o.sem
		if err == nil {
			upd.State, upd.TwilioSID, upd.ErrorCode, upd.ErrorMessage = store.OutboxSent, sid, 0, ""
			return upd, false
		}
		f := e.opts.Classify(err)
		if f.Unknown && !f.Retryable {
			// Twilio may have accepted it: ask before deciding.
			sid, found, asked := e.settleUnknown(ctx, cfg, r, attempted)
			switch {
			case found:
				e.log.Info("send of unknown outcome: accepted by Twilio", "conversation_id", r.ConversationID, "outbox_id", r.ID)
				upd.State, upd.TwilioSID, upd.ErrorCode, upd.ErrorMessage = store.OutboxSent, sid, 0, ""
				return upd, false
			case asked:
				// Twilio does not have it: sending again cannot double it.
				f.Retryable, f.Message = true, f.Message+" (not accepted by Twilio)"
			}
		}
		upd.ErrorCode, upd.ErrorMessage = f.Code, f.Message
		if !f.Retryable || upd.Attempts >= e.opts.SendMaxAttempts {
			upd.State = store.OutboxFailed
			return upd, f.OptedOut
		}
		wait := o.backoff(upd.Attempts)
		if f.RetryAfter > 0 {
			if reason := o.refuseWait(f.RetryAfter, time.Since(start)); reason != "" {
				upd.State, upd.ErrorMessage = store.OutboxFailed, f.Message+": "+reason
				return upd, false
			}
			wait = max(wait, f.RetryAfter)
		}
		e.m.retry()
		e.log.Debug("send retry", "conversation_id", r.ConversationID, "attempt", upd.Attempts, "error_code", f.Code, "err", f.Message, "wait", wait)
		if !sleepCtx(ctx, wait) {
			upd.State = store.OutboxFailed
			return upd, false
		}
	}
}

// refuseWait says why a send does not wait the retryAfter Twilio asked
// for, elapsed into it: longer than RetryAfterMax, or ending beyond the
// SendBudget. "" means wait.
func (o *outbound) refuseWait(retryAfter, elapsed time.Duration) string {
	switch {
	case retryAfter > o.e.opts.RetryAfterMax:
		return fmt.Sprintf("Twilio asked to retry after %s, more than the %s a reply waits", retryAfter, o.e.opts.RetryAfterMax)
	case elapsed+retryAfter > o.e.opts.SendBudget:
		return fmt.Sprintf("Twilio asked to retry after %s, beyond the send's budget of %s", retryAfter, o.e.opts.SendBudget)
	}
	return ""
}

// backoff is exponential with full jitter: a random delay in
// [base·2^(n-1)/2, base·2^(n-1)], capped.
func (o *outbound) backoff(attempt int) time.Duration {
	d := o.e.opts.RetryBaseDelay << min(attempt-1, 20)
	if d > o.e.opts.RetryMaxDelay || d <= 0 {
		d = o.e.opts.RetryMaxDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// outboxKey is the session key of the conversation an outbox row belongs
// to: our number is the row's From, the sender its To.
func outboxKey(r *store.OutboundMessage) store.SessionKey {
	return store.SessionKey{ProjectID: r.ProjectID, ChannelProviderID: r.ProviderID, To: r.From, From: r.To}
}
