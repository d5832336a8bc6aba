package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/cmd/loadgen/internal/report"
	"switchboard/internal/pgtemp"
)

// webhookPath is where Twilio posts inbound messages.
const webhookPath = "/api/twilio/messaging/webhook"

// node is one server the load is spread over.
type node struct {
	index      int    // 1-based, as --kill-node counts
	url        string // its own base URL: deliveries are posted here
	pid        int    // sampled from /proc when > 0
	metricsURL string
	srv        *spawned // nil unless loadgen started it
	// line is the line set up on this node (its own ids only with
	// config.setupEach; otherwise the fleet's one line).
	line *line
	// post is the webhook URL deliveries are posted to, sign the one their
	// signature is computed over (the public URL's, when there is one).
	post, sign string

	dead       atomic.Bool  // killed: no more deliveries
	deliveries atomic.Int64 // webhook deliveries posted to it
	accepted   atomic.Int64 // of them answered 200
	replies    atomic.Int64 // sends the simulated Twilio accepted on this node's address
}

// fleet is the set of servers a run drives: one, a list of running ones
// (--server a,b,c), or nodes loadgen spawned (--spawn --nodes N) with,
// when more than one, their shared PostgreSQL and a balancer.
type fleet struct {
	nodes []*node
	// public is the PUBLIC_BASE_URL the servers were given ("" = none:
	// each verifies signatures against its own URL).
	public string
	// pg is the private PostgreSQL loadgen started (nil when none).
	pg *pgtemp.Server
	// lb is the round-robin proxy whose URL is public when loadgen chose
	// it: Twilio's status callbacks reach the nodes through it.
	lb *http.Server
	// deliver and balance are the round-robin positions of deliveries
	// and of the balancer's requests.
	deliver, balance atomic.Uint64
	// attributed tells whether replies are counted per node (every node
	// reaches the simulated Twilio on its own address).
	attributed bool
}

// pick returns the next live node in turn (round-robin on the counter c,
// which passes dead nodes by, so the survivors share evenly); when every
// node is dead, the next one anyway (its post fails).
func (f *fleet) pick(c *atomic.Uint64) *node {
	n := uint64(len(f.nodes))
	var nd *node
	for range n {
		if nd = f.nodes[(c.Add(1)-1)%n]; !nd.dead.Load() {
			break
		}
	}
	return nd
}

// urls returns the nodes' base URLs.
func (f *fleet) urls() []string {
	out := make([]string, len(f.nodes))
	for i, n := range f.nodes {
		out[i] = n.url
	}
	return out
}

// pids returns the pids of the nodes that are sampled (all or none).
func (f *fleet) pids() []int {
	var out []int
	for _, n := range f.nodes {
		if n.pid <= 0 {
			return nil
		}
		out = append(out, n.pid)
	}
	return out
}

// setLine records the line the load drives: the webhook each node is
// posted (and the signature computed over) for l, or for the node's own
// line when it has one.
func (f *fleet) setLine(l *line) {
	for _, n := range f.nodes {
		if n.line == nil {
			n.line = l
		}
		pathQuery := webhookPath + "?" + n.line.WebhookQuery
		n.post = strings.TrimRight(n.url, "/") + pathQuery
		n.sign = n.post
		if f.public != "" {
			// The server rebuilds the URL as PUBLIC_BASE_URL followed by
			// the request's path and query (twilio.PublicURL).
			n.sign = strings.TrimRight(f.public, "/") + pathQuery
		}
	}
}

// kill sends SIGKILL to node i (1-based), after taking it out of the
// rotation as a load balancer's health check would.
func (f *fleet) kill(i int) *node {
	n := f.nodes[i-1]
	n.dead.Store(true)
	n.srv.kill()
	return n
}

// close stops the spawned servers (SIGTERM), the balancer and the private
// PostgreSQL, and returns what went wrong.
func (f *fleet) close(timeout time.Duration) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		if n.srv == nil {
			continue
		}
		srv := n.srv
		n.srv = nil
		wg.Go(func() {
			if err := srv.stop(timeout); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if f.lb != nil {
		_ = f.lb.Close()
		f.lb = nil
	}
	if f.pg != nil {
		f.pg.Stop()
		f.pg = nil
	}
	return errs
}

// newFleet returns the servers of cfg: the --server list, or the server(s)
// it spawns. simURLs are the simulated Twilio's addresses: one per node
// with --spawn --nodes N > 1 (one Twilio on N listeners), else one.
func newFleet(cfg *config, simURLs []string) (*fleet, error) {
	if !cfg.spawn {
		f := &fleet{public: cfg.publicURL}
		for i, u := range cfg.servers {
			n := &node{index: i + 1, url: strings.TrimRight(u, "/")}
			if i < len(cfg.serverPIDs) {
				n.pid = cfg.serverPIDs[i]
			}
			if i < len(cfg.metricsURLs) {
				n.metricsURL = cfg.metricsURLs[i]
			}
			f.nodes = append(f.nodes, n)
		}
		return f, nil
	}
	if cfg.nodes == 1 {
		env := append([]string{"TWILIO_API_BASE_URL=" + simURLs[0]}, cfg.serverEnv...)
		srv, err := spawnServer(cfg.serverBin, env, cfg.serverLog, cfg.dbDir)
		if err != nil {
			return nil, err
		}
		public := cfg.publicURL
		if public == "" {
			public = envValue(cfg.serverEnv, "PUBLIC_BASE_URL")
		}
		return &fleet{public: public, nodes: []*node{{index: 1, url: srv.URL, pid: srv.PID(), srv: srv,
			metricsURL: spawnedMetricsURL(srv.MetricsURL, srv.URL, cfg.serverEnv)}}}, nil
	}
	return spawnCluster(cfg, simURLs)
}

// spawnCluster starts cfg.nodes servers as one cluster: a shared
// PostgreSQL (a private one unless --server-env names one), the same
// PUBLIC_BASE_URL on each, cluster membership on free loopback ports,
// and each its own address of the simulated Twilio.
func spawnCluster(cfg *config, simURLs []string) (_ *fleet, err error) {
	f := &fleet{attributed: true}
	defer func() {
		if err != nil {
			f.close(10 * time.Second)
		}
	}()
	var env []string
	if envValue(cfg.serverEnv, "DATABASE_URL") == "" {
		bin := pgtemp.FindBin()
		if bin == "" {
			return nil, fmt.Errorf("loadgen: --nodes %d needs PostgreSQL: no initdb and postgres found (on PATH or in %s); install PostgreSQL or give --server-env DATABASE_URL=postgres://…", cfg.nodes, pgtemp.DebianBinGlob)
		}
		if f.pg, err = pgtemp.Start(bin, pgtemp.Options{Parent: cfg.dbDir, Durable: true}); err != nil {
			return nil, fmt.Errorf("loadgen: private PostgreSQL: %w", err)
		}
		// A throwaway database: the simulated Twilio's auth token may be
		// stored in clear.
		env = append(env, "DATABASE_URL="+f.pg.URL, "ALLOW_PLAINTEXT_SECRETS=true")
	}
	f.public = cfg.publicURL
	if f.public == "" {
		f.public = envValue(cfg.serverEnv, "PUBLIC_BASE_URL")
	}
	var lbListener net.Listener
	if f.public == "" {
		if lbListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("loadgen: balancer: %w", err)
		}
		f.public = "http://" + lbListener.Addr().String()
	}
	env = append(env, "PUBLIC_BASE_URL="+f.public, "CLUSTER_PROVIDER=automanaged", "CLUSTER_NAME=loadgen")
	env = append(env, cfg.serverEnv...)
	remote, members := make([]string, cfg.nodes), make([]string, cfg.nodes)
	for i := range cfg.nodes {
		if remote[i], err = freeAddr(); err == nil {
			members[i], err = freeAddr()
		}
		if err != nil {
			return nil, fmt.Errorf("loadgen: cluster ports: %w", err)
		}
	}
	// In parallel: a node may wait for its peers before it reports its
	// address.
	f.nodes = make([]*node, cfg.nodes)
	errs := make([]error, cfg.nodes)
	var wg sync.WaitGroup
	for i := range cfg.nodes {
		nodeEnv := append(append([]string(nil), env...),
			"TWILIO_API_BASE_URL="+simURLs[i],
			"CLUSTER_ADDR="+remote[i],
			"CLUSTER_MEMBERSHIP_ADDR="+members[i],
			"CLUSTER_PEERS="+strings.Join(members, ","))
		logPath := ""
		if cfg.serverLog != "" {
			logPath = cfg.serverLog + "." + strconv.Itoa(i+1)
		}
		wg.Go(func() {
			srv, err := spawnServer(cfg.serverBin, nodeEnv, logPath, cfg.dbDir)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i+1, err)
				return
			}
			f.nodes[i] = &node{index: i + 1, url: srv.URL, pid: srv.PID(), srv: srv,
				metricsURL: spawnedMetricsURL(srv.MetricsURL, srv.URL, nodeEnv)}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		started := f.nodes[:0]
		for _, n := range f.nodes {
			if n != nil {
				started = append(started, n)
			}
		}
		f.nodes = started
		return nil, err
	}
	if lbListener != nil {
		f.lb = f.balancer()
		go func() { _ = f.lb.Serve(lbListener) }()
	}
	return f, nil
}

// balancer is the load balancer in front of the spawned nodes, whose URL
// they were given as PUBLIC_BASE_URL: each request goes to the next live
// node. Deliveries do not pass through it (loadgen posts to each node
// itself, to count per node); the status callbacks of the simulated Twilio
// do.
func (f *fleet) balancer() *http.Server {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u, _ := url.Parse(f.pick(&f.balance).url)
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "loadgen balancer: "+err.Error(), http.StatusBadGateway)
		},
	}
	return &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// killWatch measures the kill test: when node was killed, and the time
// from then to the first reply a survivor sent to a message delivered
// after the kill. With replies attributed to nodes it also measures the
// time to the first reply a survivor sent to a sender the killed node
// answered last before the kill: that sender's session moved.
type killWatch struct {
	node       int
	attributed bool

	mu         sync.Mutex
	at         time.Time
	pid        int
	first      time.Time
	firstMoved time.Time
	moved      int            // senders the killed node answered last
	lastBy     map[string]int // sender → node of its latest reply before the kill
}

// killed records the kill of node pid at at.
func (k *killWatch) killed(at time.Time, pid int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.at, k.pid = at, pid
	for _, n := range k.lastBy {
		if n == k.node {
			k.moved++
		}
	}
}

// reply records a reply to sender `to` received at now, sent by node (0
// when not known), answering a message first delivered at sentAt.
func (k *killWatch) reply(to string, node int, sentAt, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.at.IsZero() {
		if k.attributed {
			if k.lastBy == nil {
				k.lastBy = make(map[string]int)
			}
			k.lastBy[to] = node
		}
		return
	}
	if node == k.node || now.Before(k.at) {
		return // sent by the dead node before it died
	}
	if !sentAt.IsZero() && sentAt.After(k.at) && (k.first.IsZero() || now.Before(k.first)) {
		k.first = now
	}
	if k.attributed && k.lastBy[to] == k.node && (k.firstMoved.IsZero() || now.Before(k.firstMoved)) {
		k.firstMoved = now
	}
}

// run kills node k.node of f d after start, unless ctx ends first.
func (k *killWatch) run(ctx context.Context, f *fleet, start time.Time, d time.Duration) {
	t := time.NewTimer(time.Until(start.Add(d)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return
	}
	// Recorded first: a reply the dying node sends meanwhile is its own.
	k.killed(time.Now(), f.nodes[k.node-1].pid)
	f.kill(k.node)
}

// stats returns the kill's figures relative to start (nil when the node
// was not killed).
func (k *killWatch) stats(start time.Time) *report.KillStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := &report.KillStats{Node: k.node, PID: k.pid}
	if k.at.IsZero() {
		return st
	}
	st.Killed = true
	st.AtSeconds = k.at.Sub(start).Seconds()
	if !k.first.IsZero() {
		v := k.first.Sub(k.at).Seconds()
		st.KillToFirstReplySeconds = &v
	}
	if k.attributed {
		moved := k.moved
		st.MovedSenders = &moved
		if !k.firstMoved.IsZero() {
			v := k.firstMoved.Sub(k.at).Seconds()
			st.KillToFirstMovedReplySeconds = &v
		}
	}
	return st
}
