package actors

import (
	"context"
	"sync"
	"time"

	"switchboard/providers"
)

// WebhookBaser is implemented by a Sender that can ask Twilio where it
// posts inbound messages for a number, and so tell the public base URL of
// this Switchboard without a request to learn it from (see
// Engine.callbackBase).
type WebhookBaser interface {
	// WebhookBase returns the base URL ("https://host[/prefix]") of the
	// Switchboard the number's inbound webhook reaches, or "" when that
	// webhook is not a Switchboard's.
	WebhookBase(ctx context.Context, cfg providers.TwilioConfig, number string) (string, error)
}

// failedBaseLookupTTL is how long a failed WebhookBase lookup is
// remembered, so that the sessions a restart resumes together do not each
// ask Twilio again.
const failedBaseLookupTTL = time.Minute

// baseLookups caches WebhookBase answers per channel provider and number:
// one lookup serves every resumed session of a provider.
type baseLookups struct {
	mu sync.Mutex
	m  map[string]*baseLookup
}

type baseLookup struct {
	done   chan struct{}
	base   string
	failed time.Time // zero when the lookup succeeded
}

// rememberCallbackBase records base, the public base a webhook of channel
// provider providerID just arrived on, for sends this process makes
// without one (resumed sends; see callbackBase).
func (e *Engine) rememberCallbackBase(providerID, base string) {
	if base == "" {
		return
	}
	if v, ok := e.seenBases.Load(providerID); ok && v.(string) == base {
		return
	}
	e.seenBases.Store(providerID, base)
}

// callbackBase returns the base of the StatusCallback URL for a send of
// channel provider providerID from number, when no inbound webhook gave
// one: PUBLIC_BASE_URL; else the base the provider's webhooks last arrived
// on in this process; else, after a restart, where Twilio posts the
// number's inbound messages (WebhookBaser), which is how the webhooks that
// started these conversations reached us. "" means no callback, as before.
// Nothing is written: the answer lives in memory, one lookup per provider
// and number per process.
func (e *Engine) callbackBase(ctx context.Context, cfg *providers.TwilioConfig, providerID, number string) string {
	if e.opts.PublicBaseURL != "" {
		return e.opts.PublicBaseURL
	}
	if v, ok := e.seenBases.Load(providerID); ok {
		return v.(string)
	}
	wb, ok := e.opts.Sender.(WebhookBaser)
	if !ok || cfg == nil {
		return ""
	}
	key := providerID + "\x00" + number
	e.bases.mu.Lock()
	if e.bases.m == nil {
		e.bases.m = map[string]*baseLookup{}
	}
	l := e.bases.m[key]
	if l != nil {
		select {
		case <-l.done:
			if !l.failed.IsZero() && e.opts.Now().Sub(l.failed) > failedBaseLookupTTL {
				l = nil // ask again
			}
		default:
		}
	}
	owner := l == nil
	if owner {
		l = &baseLookup{done: make(chan struct{})}
		e.bases.m[key] = l
	}
	e.bases.mu.Unlock()
	if owner {
		lctx, cancel := context.WithTimeout(ctx, e.opts.SendTimeout)
		base, err := wb.WebhookBase(lctx, *cfg, number)
		cancel()
		if err != nil {
			e.log.Warn("resumed sends: cannot ask Twilio for the number's webhook; they carry no StatusCallback", "provider_id", providerID, "err", err)
			l.failed = e.opts.Now()
		} else if base == "" {
			e.log.Warn("resumed sends: the number's inbound webhook is not a Switchboard's and PUBLIC_BASE_URL is unset; they carry no StatusCallback", "provider_id", providerID)
		}
		l.base = base
		close(l.done)
	}
	select {
	case <-l.done:
		return l.base
	case <-ctx.Done():
		return ""
	}
}
