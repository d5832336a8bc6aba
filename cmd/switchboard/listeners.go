package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
)

// Limits of the three listeners. Every listener has read, write and idle
// timeouts and a header size cap, so a slow or idle client cannot hold a
// connection (and its goroutine and file descriptor) forever.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 120 * time.Second

	// The main listener: webhook bodies are small; replies are sent
	// asynchronously, so no handler writes for long.
	mainReadTimeout = 15 * time.Second
	// mainIdleTimeout is short because an idle keep-alive connection holds
	// one of the MAX_CONNECTIONS slots: Twilio abandons a webhook after
	// 15 s, so keeping a silent connection longer only serves a client
	// hoarding slots, while a client that comes back later pays one
	// handshake.
	mainIdleTimeout    = 15 * time.Second
	mainWriteTimeout   = 30 * time.Second
	mainMaxHeaderBytes = 32 << 10
	// fdReserve is the file descriptors kept free beside MAX_CONNECTIONS
	// for the database, outbound sends and the other listeners.
	fdReserve = 256

	// The metrics listener: a scrape is one small GET, its answer at most a
	// few MB (METRICS_SESSION_SERIES_MAX bounds the per-session series).
	metricsReadTimeout    = 10 * time.Second
	metricsWriteTimeout   = 30 * time.Second
	metricsMaxHeaderBytes = 16 << 10
	metricsMaxConnections = 64

	// The pprof listener: /debug/pprof/profile and /trace stream for the
	// requested ?seconds= (30 by default); net/http/pprof extends the write
	// deadline by that duration, and this timeout bounds the rest (heap
	// and goroutine dumps of a large process take a while to write).
	pprofReadTimeout    = 10 * time.Second
	pprofWriteTimeout   = 2 * time.Minute
	pprofMaxHeaderBytes = 16 << 10
	pprofMaxConnections = 16
)

// newHTTPServer returns a server for h with the given timeouts; its
// internal errors (TLS handshakes, malformed requests, accept errors) go
// to the log at warn level.
func (m *Main) newHTTPServer(h http.Handler, read, write time.Duration, maxHeader int) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       read,
		WriteTimeout:      write,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
}

// listen opens addr with at most maxConns connections open at once: the
// next client waits in the kernel's accept queue until one closes, so a
// flood of (idle or slow) connections cannot exhaust file descriptors.
func listen(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(ln, maxConns), nil
}

// serve runs srv on ln until it is shut down; a failure of the main
// listener stops the process (it would otherwise run deaf).
func (m *Main) serve(name string, srv *http.Server, ln net.Listener, fatal bool) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.log.Error("http server", "listener", name, "err", err)
		if fatal {
			os.Exit(1)
		}
	}
}

// startListeners opens the main, metrics and pprof listeners, and only
// when all are open serves them: a taken METRICS_ADDR or PPROF_ADDR (the
// default METRICS_ADDR is a fixed port, which a second server on the host
// finds taken) stops start-up before the public address has accepted a
// webhook that the exiting process would drop. reg receives the
// connection-refusal counter.
func (m *Main) startListeners(h, metrics http.Handler, reg prometheus.Registerer) error {
	mainLn, err := m.listenMain(reg)
	if err != nil {
		return err
	}
	metricsLn, err := m.listenMetrics()
	if err != nil {
		_ = mainLn.Close()
		return err
	}
	pprofLn, err := m.listenPprof()
	if err != nil {
		_ = mainLn.Close()
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return err
	}
	m.serveMain(h, mainLn)
	if metricsLn != nil {
		m.serveMetrics(metrics, metricsLn)
	}
	if pprofLn != nil {
		m.servePprof(pprofLn)
	}
	return nil
}

// listenMain opens the main listener (webhook, API, health) on
// SWITCHBOARD_ADDR, capped at MAX_CONNECTIONS open connections, and at
// MAX_CONNECTIONS_PER_IP from one client address.
func (m *Main) listenMain(reg prometheus.Registerer) (net.Listener, error) {
	tcp, err := net.Listen("tcp", m.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", m.cfg.Addr, err)
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_connections_refused_total",
		Help: "Connections to SWITCHBOARD_ADDR closed on accept, by reason (per_ip: the client address already held MAX_CONNECTIONS_PER_IP).",
	}, []string{"reason"})
	if reg != nil {
		reg.MustRegister(refused)
	}
	perIP := refused.WithLabelValues("per_ip")
	var ln net.Listener = tcp
	if m.cfg.MaxConnectionsPerIP > 0 {
		// Inside the MAX_CONNECTIONS cap, so a refused connection never
		// takes one of its slots.
		ln = limitPerIP(ln, m.cfg.MaxConnectionsPerIP, m.cfg.TrustedProxies.TrustsPeer, perIP, m.log)
	}
	if limit, ok := openFileLimit(); ok && uint64(m.cfg.MaxConnections)+fdReserve > limit {
		// Past the descriptor limit, accept fails before the cap is reached,
		// and so do the database's and the sender's own files and sockets.
		m.log.Warn("MAX_CONNECTIONS is close to the open file limit; lower it or raise the limit (ulimit -n)",
			"max_connections", m.cfg.MaxConnections, "open_file_limit", limit)
	}
	return netutil.LimitListener(ln, m.cfg.MaxConnections), nil
}

// serveMain serves h on the main listener.
func (m *Main) serveMain(h http.Handler, ln net.Listener) {
	m.Addr = ln.Addr().String()
	m.http = m.newHTTPServer(h, mainReadTimeout, mainWriteTimeout, mainMaxHeaderBytes)
	m.http.IdleTimeout = mainIdleTimeout
	go m.serve("main", m.http, ln, true)
}

// metricsOnMain reports whether /metrics is served on the main listener
// (METRICS_ADDR explicitly empty; config requires METRICS_TOKEN then).
func (m *Main) metricsOnMain() bool { return !m.cfg.MetricsOff && m.cfg.MetricsAddr == "" }

// metricsAuth wraps the /metrics handler: with METRICS_TOKEN set, a scrape
// must carry "Authorization: Bearer <token>"; anything else gets 401.
func metricsAuth(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	// Comparing digests keeps the comparison constant-time even in the
	// token's length.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: a valid bearer token is required (METRICS_TOKEN)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listenMetrics opens the separate /metrics listener on METRICS_ADDR;
// nil when metrics are off or served on the main listener.
func (m *Main) listenMetrics() (net.Listener, error) {
	if m.cfg.MetricsOff || m.cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := listen(m.cfg.MetricsAddr, metricsMaxConnections)
	if err != nil {
		return nil, fmt.Errorf("listen on METRICS_ADDR %s (a second server on this host needs its own METRICS_ADDR): %w", m.cfg.MetricsAddr, err)
	}
	return ln, nil
}

// serveMetrics serves h as /metrics on ln and prints its URL, so tools
// that start the server on an ephemeral port can find it.
func (m *Main) serveMetrics(h http.Handler, ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsAuth(m.cfg.MetricsToken, h))
	m.metrics = m.newHTTPServer(mux, metricsReadTimeout, metricsWriteTimeout, metricsMaxHeaderBytes)
	go m.serve("metrics", m.metrics, ln, false)
	addr := ln.Addr().String()
	m.log.Info("metrics listening", "addr", addr, "token", m.cfg.MetricsToken != "")
	if m.cfg.MetricsToken == "" && !isLoopback(ln.Addr()) {
		m.log.Warn("metrics are served beyond loopback without METRICS_TOKEN; they carry project, provider and session ids: set METRICS_TOKEN or firewall METRICS_ADDR", "addr", addr)
	}
	fmt.Fprintf(m.stdout, "switchboard: metrics on http://%s/metrics\n", addr)
}

// listenPprof opens PPROF_ADDR; nil when it is unset.
func (m *Main) listenPprof() (net.Listener, error) {
	if m.cfg.PprofAddr == "" {
		return nil, nil
	}
	ln, err := listen(m.cfg.PprofAddr, pprofMaxConnections)
	if err != nil {
		return nil, fmt.Errorf("listen on PPROF_ADDR %s: %w", m.cfg.PprofAddr, err)
	}
	return ln, nil
}

// servePprof serves net/http/pprof on ln.
func (m *Main) servePprof(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.pprof = m.newHTTPServer(mux, pprofReadTimeout, pprofWriteTimeout, pprofMaxHeaderBytes)
	go m.serve("pprof", m.pprof, ln, false)
	m.pprofAddr = ln.Addr().String()
	m.log.Info("pprof listening", "addr", m.pprofAddr)
	if !isLoopback(ln.Addr()) {
		// Heap dumps hold whatever is in memory (provider secrets, message
		// bodies) and a CPU profile costs the server while it runs.
		m.log.Warn("PPROF_ADDR is not a loopback address: anyone who reaches it can read heap dumps (secrets, messages) and load the server; bind it to 127.0.0.1 or firewall it", "addr", m.pprofAddr)
	}
}

// isLoopback reports whether a listener's address is a loopback address
// (not a wildcard such as 0.0.0.0 or [::]).
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
