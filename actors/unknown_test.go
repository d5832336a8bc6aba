package actors

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/providers"
	"switchboard/store"
)

// finderSender is a fakeSender that can look sends up: find decides each
// lookup's answer.
type finderSender struct {
	*fakeSender
	lookups atomic.Int64
	find    func(n int64, m OutMessage) (string, bool, error)
}

func (f *finderSender) FindSent(ctx context.Context, cfg providers.TwilioConfig, m OutMessage, since time.Time) (string, bool, error) {
	n := f.lookups.Add(1)
	if time.Since(since) < 0 {
		return "", false, errors.New("since is in the future")
	}
	return f.find(n, m)
}

var errTimedOut = &sendErr{SendFailure{Unknown: true, Message: "timeout awaiting response headers"}}

// TestUnknownOutcomeSettledByLookup: a send that timed out after its
// request was written is not marked failed before Twilio is asked. Found:
// sent, with Twilio's SID, and not sent again. Not found: sent again.
// Twilio cannot be asked: failed, as before. No Finder: failed.
func TestUnknownOutcomeSettledByLookup(t *testing.T) {
	for _, tc := range []struct {
		name        string
		finder      bool
		find        func(n int64, m OutMessage) (string, bool, error)
		state       string
		sid         string
		attempts    int
		sends       int64
		wantLookups int64
	}{
		{"found", true, func(n int64, m OutMessage) (string, bool, error) { return "SMlate", true, nil }, store.OutboxSent, "SMlate", 1, 1, 1},
		{"found on a later lookup", true, func(n int64, m OutMessage) (string, bool, error) { return "SMlate", n == 2, nil }, store.OutboxSent, "SMlate", 1, 1, 2},
		{"not found", true, func(n int64, m OutMessage) (string, bool, error) { return "", false, nil }, store.OutboxSent, "SM00000000000000000000000000000002", 2, 2, unknownLookups},
		{"cannot ask", true, func(n int64, m OutMessage) (string, bool, error) { return "", false, errors.New("lookup refused") }, store.OutboxFailed, "", 1, 1, 1},
		{"no finder", false, nil, store.OutboxFailed, "", 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &finderSender{fakeSender: &fakeSender{}, find: tc.find}
			fs.fn = func(n int64, m OutMessage) error {
				if n == 1 {
					return errTimedOut
				}
				return nil
			}
			f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"pong"}`, func(o *Options) {
				o.UnknownOutcomeGrace = time.Millisecond
				if tc.finder {
					o.Sender = fs
				} else {
					o.Sender = fs.fakeSender
				}
			})
			f.text("+15558880201", "ping")
			row := f.onlyOutbox(t)
			if row.State != tc.state || row.TwilioSID != tc.sid || row.Attempts != tc.attempts {
				t.Fatalf("outbox %+v; want state %s, sid %q, %d attempts", row, tc.state, tc.sid, tc.attempts)
			}
			if got := fs.n.Load(); got != tc.sends {
				t.Fatalf("%d send calls, want %d", got, tc.sends)
			}
			if got := fs.lookups.Load(); got != tc.wantLookups {
				t.Fatalf("%d lookups, want %d", got, tc.wantLookups)
			}
		})
	}
}
