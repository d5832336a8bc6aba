package periodic

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
)

// TestStart: fn runs at once and again each interval; stop cancels fn's
// context and returns only once the loop has ended.
func TestStart(t *testing.T) {
	var runs atomic.Int64
	var last atomic.Pointer[context.Context]
	stop := Start(context.Background(), 2*time.Millisecond, func(ctx context.Context) {
		last.Store(&ctx)
		runs.Add(1)
	})
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := runs.Load(); n < 3 {
			return fmt.Errorf("%d runs", n)
		}
		return nil
	})
	stop()
	if (*last.Load()).Err() == nil {
		t.Fatal("fn's context not cancelled by stop")
	}
}

// TestStartRunsAtOnce: the first run does not wait for the interval.
func TestStartRunsAtOnce(t *testing.T) {
	ran := make(chan struct{}, 1)
	stop := Start(context.Background(), time.Hour, func(context.Context) {
		select {
		case ran <- struct{}{}:
		default:
		}
	})
	defer stop()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("fn did not run at start")
	}
}
