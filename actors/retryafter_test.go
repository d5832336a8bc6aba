package actors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
)

// attemptTimes records when each send attempt was made.
type attemptTimes struct {
	mu sync.Mutex
	at []time.Time
}

func (a *attemptTimes) add() {
	a.mu.Lock()
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
}

func (a *attemptTimes) get() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...)
}

// onlyOutbox waits until the fixture's single conversation has one outbox
// row in a final state and returns it.
func (f *fixture) onlyOutbox(t *testing.T) *store.OutboundMessage {
	t.Helper()
	var row *store.OutboundMessage
	testutil.CheckFor(t, 10*time.Second, func() error {
		cs := f.conversations()
		if len(cs) != 1 {
			return fmt.Errorf("%d conversations", len(cs))
		}
		rows, _, err := f.st.ListOutbound(context.Background(), cs[0].ID, store.ListOptions{})
		if err != nil || len(rows) != 1 || rows[0].State == store.OutboxPending {
			return fmt.Errorf("outbox %+v %v", rows, err)
		}
		row = rows[0]
		return nil
	})
	return row
}

// TestRetryAfterHonoured: a 429 asking for a wait longer than the backoff
// (1-5 ms here) is retried no sooner than asked.
func TestRetryAfterHonoured(t *testing.T) {
	const asked = 300 * time.Millisecond
	var times attemptTimes
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	f.sender.fn = func(n int64, m OutMessage) error {
		times.add()
		if n == 1 {
			return &sendErr{SendFailure{Retryable: true, Code: 20429, Message: "too many", RetryAfter: asked}}
		}
		return nil
	}
	f.text("+15558880101", "hi")
	row := f.onlyOutbox(t)
	if row.State != store.OutboxSent || row.Attempts != 2 {
		t.Fatalf("outbox %+v", row)
	}
	at := times.get()
	if gap := at[1].Sub(at[0]); gap < asked {
		t.Fatalf("retried %v after a 429 asking for %v", gap, asked)
	}
}

// TestRetryAfterBeyondCapFails: a Retry-After longer than RetryAfterMax,
// or ending beyond the send's budget, fails the send at once, with the
// reason recorded, instead of retrying early or holding the conversation.
func TestRetryAfterBeyondCapFails(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		opts       func(*Options)
		reason     string
	}{
		{"cap", time.Hour, nil, "more than the 1m0s a reply waits"},
		{"budget", 2 * time.Second, func(o *Options) { o.SendBudget = time.Second }, "beyond the send's budget of 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, tc.opts)
			f.sender.fn = func(n int64, m OutMessage) error {
				return &sendErr{SendFailure{Retryable: true, Code: 20429, Message: "too many", RetryAfter: tc.retryAfter}}
			}
			f.text("+15558880102", "hi")
			row := f.onlyOutbox(t)
			if row.State != store.OutboxFailed || row.Attempts != 1 || f.sender.n.Load() != 1 {
				t.Fatalf("outbox %+v after %d attempts", row, f.sender.n.Load())
			}
			if !strings.Contains(row.ErrorMessage, tc.reason) || row.ErrorCode != 20429 {
				t.Fatalf("error %q (code %d), want it to say %q", row.ErrorMessage, row.ErrorCode, tc.reason)
			}
		})
	}
}
