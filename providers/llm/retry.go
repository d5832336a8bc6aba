package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry policy of every network LLM call (all vendors, SDK or not): a 429
// or a 5xx answer is retried, after the delay the answer's Retry-After
// (or retry-after-ms, which OpenAI and Anthropic send) asks for, else
// after an exponential backoff with jitter; no other status is retried.
// A retry happens only while the call's context (the stage's
// llmSettings.timeout) leaves room for the wait: when it does not, the
// rate-limit or server error is returned at once rather than a timeout
// later. The vendors' SDKs have their own retries switched off, so this is
// the one policy.
const (
	// MaxAttempts bounds the requests of one call, the first included.
	MaxAttempts = 4
	// retryBase is the first backoff delay; it doubles per attempt.
	retryBase = 500 * time.Millisecond
	// retryMaxBackoff caps the computed backoff (not a Retry-After).
	retryMaxBackoff = 8 * time.Second
	// retryMaxWait is the longest Retry-After honoured when the context
	// has no deadline; a longer one ends the call with the error.
	retryMaxWait = time.Minute
)

// retryable reports whether an answer with this status may be retried.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status <= 599
}

// retryAfter returns the delay an answer asks for before a retry:
// retry-after-ms, else Retry-After in seconds or as an HTTP date; false
// when it names none.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// backoff is the delay before retry number attempt+1 when the answer names
// none: retryBase·2^attempt, capped, less up to a quarter of jitter so that
// sessions rate-limited together do not retry together.
func backoff(attempt int) time.Duration {
	d := retryMaxBackoff
	if attempt < 10 {
		d = min(retryBase<<attempt, retryMaxBackoff)
	}
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

// llmTransport is the RoundTripper of every LLM client: it applies the
// retry policy and caps the body of every answer it returns.
type llmTransport struct {
	base     http.RoundTripper
	maxBytes int64
	// onRetry, when set, is told of each retry (metrics).
	onRetry func(status int)
}

// wrapHTTPClient returns a copy of c whose transport applies the retry
// policy and the response cap; a client already wrapped is returned as it
// is. Redirect policy, jar and timeout are kept.
func wrapHTTPClient(c *http.Client, maxBytes int64, onRetry func(int)) *http.Client {
	if _, ok := c.Transport.(*llmTransport); ok {
		return c
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	w := *c
	w.Transport = &llmTransport{base: base, maxBytes: maxBytes, onRetry: onRetry}
	return &w
}

// RoundTrip sends req, retrying under the policy above.
func (t *llmTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(ctx)
			if req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("llm: rewind request body for a retry: %w", err)
				}
				r.Body = body
			}
		}
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if !retryable(resp.StatusCode) || attempt+1 >= MaxAttempts ||
			(req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			resp.Body = &cappedBody{rc: resp.Body, left: t.maxBytes}
			return resp, nil
		}
		delay, named := retryAfter(resp.Header, time.Now())
		if !named {
			delay = backoff(attempt)
		}
		if !t.canWait(ctx, delay) {
			resp.Body = &cappedBody{rc: resp.Body, left: t.maxBytes}
			return resp, nil
		}
		// Read a little of the discarded answer so the connection can be
		// reused, then drop it.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
		if t.onRetry != nil {
			t.onRetry(resp.StatusCode)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// canWait reports whether a retry after delay fits in the call: before the
// context's deadline (leaving the retry some time to run), or within
// retryMaxWait when there is no deadline.
func (t *llmTransport) canWait(ctx context.Context, delay time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return delay <= retryMaxWait
	}
	return time.Until(deadline) > delay+delay/10+100*time.Millisecond
}

// ErrResponseTooLarge is returned (wrapped) when an answer's body exceeds
// Options.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("llm: response too large")

// cappedBody fails a read past its limit instead of buffering an
// unbounded answer.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return b.rc.Read(p)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
