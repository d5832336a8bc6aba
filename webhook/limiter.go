package webhook

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"switchboard/internal/clientip"
)

// clientIP is the address failures are counted against and logged:
// Options.ClientIP's answer, by default the connection's peer. It is never
// an address the client wrote itself unless the operator trusts the proxy
// that forwarded it (TRUSTED_PROXIES).
func (h *Handler) clientIP(r *http.Request) string {
	return h.opts.ClientIP(r)
}

// limitKey is the failure budget an address draws on: the address itself,
// or for IPv6 its /64, which one subscriber typically holds whole and
// could otherwise rotate through for fresh budgets.
func limitKey(ip string) string {
	if strings.IndexByte(ip, ':') < 0 {
		return ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	return clientip.Block(a).String()
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
