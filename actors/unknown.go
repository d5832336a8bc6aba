package actors

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/providers"
	"switchboard/store"
)

// Bounds of the lookup after a send of unknown outcome (see settleUnknown).
const (
	// unknownLookups is how many times Twilio is asked before a send of
	// unknown outcome is taken as not accepted: a message whose request
	// was still on its way when we gave up can appear in Twilio's list a
	// moment later.
	unknownLookups = 3
	// minUnknownGrace and maxUnknownGrace bound the wait before each
	// lookup, which is the send timeout otherwise.
	minUnknownGrace = time.Second
	maxUnknownGrace = 5 * time.Second
)

// Results of a lookup after a send of unknown outcome, the label of
// switchboard_outbound_outcome_lookups_total.
const (
	lookupFound    = "found"     // Twilio had accepted it: recorded as sent
	lookupNotFound = "not_found" // Twilio does not have it: sent again
	lookupError    = "error"     // Twilio could not be asked: recorded as failed
)

func newLookupCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	if reg == nil {
		return nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_outbound_outcome_lookups_total",
		Help: "Sends of unknown outcome (timed out after the request was written) looked up at Twilio, by result: found (recorded as sent), not_found (sent again), error (recorded as failed).",
	}, []string{"result"})
	reg.MustRegister(c)
	return c
}

// unknownGrace is how long to wait before asking Twilio about a send of
// unknown outcome: Options.UnknownOutcomeGrace, else the send timeout
// within [1 s, 5 s].
func (e *Engine) unknownGrace() time.Duration {
	if e.opts.UnknownOutcomeGrace > 0 {
		return e.opts.UnknownOutcomeGrace
	}
	return min(max(e.opts.SendTimeout, minUnknownGrace), maxUnknownGrace)
}

// settleUnknown asks Twilio whether a send whose outcome is unknown (the
// request was written, no answer read: a timeout) was accepted, as crash
// recovery does (findSent): Twilio's Messages API has no idempotency key,
// so asking is the only way to neither drop the reply nor text it twice.
// since is when the attempt started. It waits unknownGrace before each of
// up to unknownLookups lookups, since a request Twilio was still
// processing shows up late. asked is false when the Sender cannot look
// messages up or Twilio could not be asked; the outcome then stays
// unknown.
func (e *Engine) settleUnknown(ctx context.Context, cfg providers.TwilioConfig, r *store.OutboundMessage, since time.Time) (sid string, found, asked bool) {
	f, ok := e.opts.Sender.(Finder)
	if !ok || r.ContentSID != "" { // a template send cannot be looked up (findSent)
		return "", false, false
	}
	m := outMessage(r)
	grace := e.unknownGrace()
	for i := range unknownLookups {
		if !sleepCtx(ctx, grace) {
			return "", false, false
		}
		e.out.sem <- struct{}{}
		lctx, cancel := context.WithTimeout(ctx, e.opts.SendTimeout)
		sid, found, err := f.FindSent(lctx, cfg, m, since)
		cancel()
		<-e.out.sem
		switch {
		case err == nil && found:
			e.countLookup(lookupFound)
			return sid, true, true
		case err == nil:
			continue
		case !e.opts.Classify(err).Retryable || i == unknownLookups-1:
			e.countLookup(lookupError)
			e.log.Warn("send of unknown outcome: cannot ask Twilio", "conversation_id", r.ConversationID, "outbox_id", r.ID, "err", err)
			return "", false, false
		}
	}
	e.countLookup(lookupNotFound)
	return "", false, true
}

func (e *Engine) countLookup(result string) {
	if e.lookups != nil {
		e.lookups.WithLabelValues(result).Inc()
	}
}
