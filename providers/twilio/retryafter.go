package twilio

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads an HTTP Retry-After value (RFC 9110 §10.2.3): a
// number of seconds, or an HTTP date, taken relative to now. It returns 0
// for an empty, malformed, negative or past value, which leaves the wait
// to the caller's own backoff. Twilio sends it with 429 (and may with 503)
// answers; a client that retries sooner is only refused again.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// A huge value saturates instead of overflowing; callers cap it.
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// maxRetryAfter bounds what ParseRetryAfter returns (a day): far beyond any
// wait a caller honours, small enough never to overflow.
const maxRetryAfter = 24 * time.Hour
