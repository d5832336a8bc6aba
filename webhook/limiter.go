package webhook

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientIP is the address failures are counted against: behind a trusted
// proxy, the nearest address the proxy saw (the last X-Forwarded-For
// entry, which a client cannot forge), else the connection's peer.
func (h *Handler) clientIP(r *http.Request) string {
	if h.opts.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipLimiter limits rejected requests per client IP. Only failures consume
// tokens, so a busy but valid Twilio number is never throttled.
type ipLimiter struct {
	rate  float64
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	reset time.Time
}

// maxTrackedIPs bounds the limiter's memory under an address-rotating
// attack.
const maxTrackedIPs = 100_000

func newIPLimiter(r float64) *ipLimiter {
	return &ipLimiter{rate: r, m: map[string]*rate.Limiter{}, reset: time.Now().Add(10 * time.Minute)}
}

func (l *ipLimiter) get(ip string, create bool) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Now().After(l.reset) || len(l.m) >= maxTrackedIPs {
		// Forgetting budgets early only lets an abuser start over; it
		// never refuses a valid request.
		clear(l.m)
		l.reset = time.Now().Add(10 * time.Minute)
	}
	lim := l.m[ip]
	if lim == nil && create {
		lim = rate.NewLimiter(rate.Limit(l.rate), int(2*l.rate)+1)
		l.m[ip] = lim
	}
	return lim
}

// allow reports whether ip still has failure budget left.
func (l *ipLimiter) allow(ip string) bool {
	lim := l.get(ip, false)
	return lim == nil || lim.Tokens() >= 1
}

func (l *ipLimiter) fail(ip string) {
	l.get(ip, true).Allow()
}
