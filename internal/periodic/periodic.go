// Package periodic runs housekeeping (purging expired tokens, old audit
// entries) at start and then at a fixed interval, and stops it cleanly
// before the store it uses is closed.
package periodic

import (
	"context"
	"time"
)

// Start runs fn now and then every interval until ctx ends or the
// returned stop is called. stop cancels the context fn receives and waits
// for a run in progress, so what fn uses may be closed after it.
func Start(ctx context.Context, every time.Duration, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
