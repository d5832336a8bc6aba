package llm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/store"
)

// sequenceServer answers the i-th request with answers[i] (the last one
// repeating) and counts requests.
func sequenceServer(t *testing.T, path string, answers []fakeAnswer) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestRetryPolicyEveryVendor: for every network apiType, a 429 with
// Retry-After: 1 is retried and the retry's answer returned; a 400 is
// sent once. Counts of requests are asserted, not timings.
func TestRetryPolicyEveryVendor(t *testing.T) {
	for _, vc := range vendorCases() {
		t.Run(vc.apiType, func(t *testing.T) {
			t.Parallel() // each waits the Retry-After second
			srv, n := sequenceServer(t, vc.chatPath, []fakeAnswer{
				{status: 429, body: vc.unauthorized, header: map[string]string{"Retry-After": "1"}},
				{status: 200, body: vc.ok},
			})
			var retried []int
			c, err := New(vc.provider(srv.URL), Options{HTTPClient: srv.Client(), OnRetry: func(s int) { retried = append(retried, s) }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := c.Complete(ctx, turnRequest())
			if err != nil || got.Text != "We open at 9." {
				t.Fatalf("Complete after a 429 = %q, %v; want the retry's reply", got.Text, err)
			}
			if n.Load() != 2 || len(retried) != 1 || retried[0] != 429 {
				t.Fatalf("requests = %d, retries reported %v; want 2 requests, one retry of a 429", n.Load(), retried)
			}

			bad := vc.unauthorized
			if vc.apiType == store.APITypeGemini { // genai takes the status from the body
				bad = `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`
			}
			srv400, n400 := sequenceServer(t, vc.chatPath, []fakeAnswer{{status: 400, body: bad, header: map[string]string{"Retry-After": "0"}}})
			c, err = New(vc.provider(srv400.URL), Options{HTTPClient: srv400.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Complete(ctx, turnRequest())
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != 400 || n400.Load() != 1 {
				t.Fatalf("after a 400: err %v, %d requests; want a StatusError 400 after one request", err, n400.Load())
			}
		})
	}
}

// TestRetryServerErrors: 5xx answers are retried up to MaxAttempts
// requests in all; the last answer's error is returned.
func TestRetryServerErrors(t *testing.T) {
	now := map[string]string{"Retry-After": "0"}
	srv, n := sequenceServer(t, "/chat/completions", []fakeAnswer{
		{status: 500, body: `{"error":{"message":"boom"}}`, header: now},
		{status: 503, body: `{"error":{"message":"overloaded"}}`, header: now},
		{status: 200, body: chatOK},
	})
	c, err := New(llmProvider(store.APITypeGroq, map[string]string{"apiKey": "k", "baseUrl": srv.URL}), Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Complete(context.Background(), turnRequest()); err != nil || got.Text != "We open at 9." || n.Load() != 3 {
		t.Fatalf("Complete = %q, %v after %d requests; want the third's reply", got.Text, err, n.Load())
	}

	srv, n = sequenceServer(t, "/chat/completions", []fakeAnswer{{status: 502, body: `{"error":{"message":"bad gateway"}}`, header: now}})
	c, err = New(llmProvider(store.APITypeGroq, map[string]string{"apiKey": "k", "baseUrl": srv.URL}), Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(context.Background(), turnRequest())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 502 || n.Load() != MaxAttempts {
		t.Fatalf("err %v after %d requests; want the 502 after %d", err, n.Load(), MaxAttempts)
	}
}

// TestRetryNotBeyondTimeout: a Retry-After longer than what is left of the
// call's context is not waited for: the 429 is returned at once, after one
// request, and is not a deadline error.
func TestRetryNotBeyondTimeout(t *testing.T) {
	srv, n := sequenceServer(t, "/chat/completions", []fakeAnswer{
		{status: 429, body: `{"error":{"message":"Rate limit reached"}}`, header: map[string]string{"Retry-After": "30"}},
		{status: 200, body: chatOK},
	})
	c, err := New(llmProvider(store.APITypeDeepSeek, map[string]string{"apiKey": "k", "baseUrl": srv.URL}), Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Complete(ctx, turnRequest())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || n.Load() != 1 || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v after %d requests; want the 429 after one", err, n.Load())
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{"Retry-After": {"1"}}, time.Second, true},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond, true},
		{http.Header{"Retry-After": {now.Add(3 * time.Second).Format(http.TimeFormat)}}, 3 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0, true},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond, true},
		{http.Header{"Retry-After": {"soon"}}, 0, false},
		{http.Header{"Retry-After": {"-1"}}, 0, false},
		{http.Header{}, 0, false},
	} {
		if got, ok := retryAfter(tt.h, now); got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%v) = %v, %v; want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
	for attempt := range 12 {
		if d := backoff(attempt); d <= 0 || d > retryMaxBackoff {
			t.Errorf("backoff(%d) = %v", attempt, d)
		}
	}
}
