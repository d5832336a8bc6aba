package main

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/clientip"
)

// perIPListener caps the connections one client address holds open at
// once. MAX_CONNECTIONS alone lets a single client take every slot with
// idle keep-alive connections (one request each, then silence), and
// Twilio's webhooks then wait in the kernel's queue until Twilio gives up
// after 15 s. A connection over its address's share is accepted and
// closed at once, so it neither waits nor takes a slot.
type perIPListener struct {
	net.Listener
	max int
	// exempt reports peers not counted: trusted proxies, behind which
	// every client shares one address.
	exempt  func(netip.Addr) bool
	refused prometheus.Counter
	log     *slog.Logger
	// quietUntil is the time (Unix ns) before which no refusal is logged
	// again: a flood is one line a minute, the counter has the rest.
	quietUntil atomic.Int64

	mu   sync.Mutex
	open map[netip.Prefix]int
}

// limitPerIP wraps ln so that at most max connections from one client
// address (IPv6: one /64) are open at once; exempt peers are not counted
// and refused connections are counted in refused and logged to log (at
// most once a minute).
func limitPerIP(ln net.Listener, max int, exempt func(netip.Addr) bool, refused prometheus.Counter, log *slog.Logger) net.Listener {
	return &perIPListener{Listener: ln, max: max, exempt: exempt, refused: refused, log: log, open: map[netip.Prefix]int{}}
}

// refusedLogEvery is how often at most a refused connection is logged.
const refusedLogEvery = time.Minute

// connKey returns the peer address of a connection and the budget it draws
// on: an IPv4 address alone, an IPv6 address by its /64 (one subscriber
// commonly holds a whole /64, so single addresses would be free to
// rotate), as the login throttle and the webhook limiter count them.
func connKey(a net.Addr) (netip.Addr, netip.Prefix, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, netip.Prefix{}, false
	}
	ip := tcp.AddrPort().Addr().Unmap().WithZone("")
	p := clientip.Block(ip)
	return ip, p, p.IsValid()
}

// Accept returns the next connection whose address is within its share;
// connections over it are closed here and never reach the server.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, key, ok := connKey(c.RemoteAddr())
		if !ok || l.exempt(ip) {
			return c, nil
		}
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			// Counted before the close, so that whoever sees the
			// connection closed finds it counted.
			l.refused.Inc()
			l.logRefusal(ip)
			_ = c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &perIPConn{Conn: c, l: l, key: key}, nil
	}
}

// logRefusal logs a refused connection unless one was logged within the
// last minute. A reverse proxy not listed in TRUSTED_PROXIES carries
// every client over one address and reaches the cap under load, hence
// the hint.
func (l *perIPListener) logRefusal(ip netip.Addr) {
	now := time.Now().UnixNano()
	quiet := l.quietUntil.Load()
	if l.log == nil || now < quiet || !l.quietUntil.CompareAndSwap(quiet, now+int64(refusedLogEvery)) {
		return
	}
	l.log.Warn("closed a connection: the client address already holds MAX_CONNECTIONS_PER_IP connections (if it is your reverse proxy, list it in TRUSTED_PROXIES); further refusals are counted in switchboard_connections_refused_total",
		"client_ip", ip.String(), "max_connections_per_ip", l.max)
}

// release gives a closed connection's place back to its address.
func (l *perIPListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] <= 1 {
		delete(l.open, key)
		return
	}
	l.open[key]--
}

// perIPConn is a counted connection; closing it (once or more) frees its
// place.
type perIPConn struct {
	net.Conn
	l    *perIPListener
	key  netip.Prefix
	once sync.Once
}

func (c *perIPConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
