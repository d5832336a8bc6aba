package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/providers"
	"switchboard/store"
)

// baserSender is a fakeSender that answers WebhookBase lookups.
type baserSender struct {
	*fakeSender
	calls atomic.Int64
	base  string
	err   error
	gate  chan struct{} // when set, lookups wait for it
}

func (b *baserSender) WebhookBase(ctx context.Context, cfg providers.TwilioConfig, number string) (string, error) {
	b.calls.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	return b.base, b.err
}

// TestCallbackBaseAfterRestart: sends without a webhook's base (after a
// restart) get the base Twilio knows for the number; the sessions resumed
// together share one lookup; a base a webhook arrived on in this process
// wins; PUBLIC_BASE_URL wins over both; a failed lookup gives no callback
// and is not repeated at once.
func TestCallbackBaseAfterRestart(t *testing.T) {
	cfg := &providers.TwilioConfig{AccountSID: "AC00000000000000000000000000000000", AuthToken: "tok", FromNumber: ourNumber}
	bs := &baserSender{fakeSender: &fakeSender{}, base: "https://sb.example.com", gate: make(chan struct{})}
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, func(o *Options) { o.Sender = bs })
	e := f.eng

	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Go(func() { got[i] = e.callbackBase(context.Background(), cfg, "prov_a", ourNumber) })
	}
	close(bs.gate)
	wg.Wait()
	for i, g := range got {
		if g != "https://sb.example.com" {
			t.Fatalf("lookup %d: %q", i, g)
		}
	}
	if n := bs.calls.Load(); n != 1 {
		t.Fatalf("%d lookups for 20 resumed sessions, want 1", n)
	}

	e.rememberCallbackBase("prov_a", "https://seen.example.com")
	if g := e.callbackBase(context.Background(), cfg, "prov_a", ourNumber); g != "https://seen.example.com" {
		t.Fatalf("with a webhook's base seen: %q", g)
	}

	bs.err, bs.base = errors.New("twilio down"), ""
	for range 3 {
		if g := e.callbackBase(context.Background(), cfg, "prov_b", ourNumber); g != "" {
			t.Fatalf("failed lookup gave %q", g)
		}
	}
	if n := bs.calls.Load(); n != 2 {
		t.Fatalf("%d lookups after a failure, want it remembered (2 in all)", n)
	}

	e.opts.PublicBaseURL = "https://public.example.com"
	if g := e.callbackBase(context.Background(), cfg, "prov_a", ourNumber); g != "https://public.example.com" {
		t.Fatalf("with PUBLIC_BASE_URL: %q", g)
	}
}
