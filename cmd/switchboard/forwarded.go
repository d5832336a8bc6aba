package main

import (
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/clientip"
)

// untrustedForwardedWarnEvery is how often at most the warning about
// forwarded requests from an untrusted proxy is logged again.
const untrustedForwardedWarnEvery = time.Hour

// forwardedCheck wraps the main listener's handler and notices the
// documented reverse-proxy setup without TRUSTED_PROXIES: requests that
// carry X-Forwarded-For from a loopback or private peer that is not a
// trusted proxy. Every client behind such a proxy shares its address, so
// login throttling and the webhook's failure limit count them all
// together; the operator gets a warning naming TRUSTED_PROXIES (the first
// time, then at most once an hour) and a counter. A request without the
// header (Twilio posting directly) costs one header lookup.
type forwardedCheck struct {
	next    http.Handler
	trusted *clientip.Resolver
	log     *slog.Logger
	count   prometheus.Counter
	now     func() time.Time
	// quietUntil is the time (Unix ns) before which no warning is logged
	// again; 0 until the first.
	quietUntil atomic.Int64
}

// newForwardedCheck returns next wrapped in a forwardedCheck whose counter
// switchboard_untrusted_forwarded_requests_total is registered on reg.
func newForwardedCheck(next http.Handler, trusted *clientip.Resolver, log *slog.Logger, reg prometheus.Registerer) *forwardedCheck {
	count := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_untrusted_forwarded_requests_total",
		Help: "Requests carrying X-Forwarded-For from a loopback or private peer not in TRUSTED_PROXIES (a proxy whose clients all share its address).",
	})
	if reg != nil {
		reg.MustRegister(count)
	}
	return &forwardedCheck{next: next, trusted: trusted, log: log, count: count, now: time.Now}
}

func (f *forwardedCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header["X-Forwarded-For"]; ok {
		f.check(r)
	}
	f.next.ServeHTTP(w, r)
}

// check counts a forwarded request from an untrusted private peer and
// warns when the last warning is an hour old. A public peer that writes
// X-Forwarded-For is a client speaking for itself, not a misconfiguration.
func (f *forwardedCheck) check(r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return
	}
	peer := ap.Addr().Unmap()
	if !peer.IsLoopback() && !peer.IsPrivate() || f.trusted.TrustsPeer(peer) {
		return
	}
	f.count.Inc()
	now := f.now().UnixNano()
	quiet := f.quietUntil.Load()
	if now < quiet || !f.quietUntil.CompareAndSwap(quiet, now+int64(untrustedForwardedWarnEvery)) {
		return
	}
	f.log.Warn("requests with X-Forwarded-For arrive from a proxy not in TRUSTED_PROXIES: every client behind it shares its address for login throttling and the webhook's failure limit; set TRUSTED_PROXIES to the proxy's address",
		"peer", peer.String())
}
