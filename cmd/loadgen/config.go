package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the load test as the flags describe it.
type config struct {
	server           string
	servers          []string // --server split at commas
	nodes            int
	publicURL        string
	operatorID       string
	operatorPassword string

	senders        int
	messages       int
	duration       time.Duration
	rate           float64
	concurrency    int
	thinkTime      time.Duration
	whatsappShare  float64
	duplicateShare float64
	burstSize      int
	burstShare     float64
	requestTimeout time.Duration
	seed           uint64

	fault429       float64
	fault5xx       float64
	faultTimeout   float64
	simLatency     time.Duration
	simAddr        string
	simHoldTimeout time.Duration
	callbacks      bool

	drainTimeout time.Duration
	settle       time.Duration

	jsonPath   string
	htmlPath   string
	quiet      bool
	noProgress bool

	spawn      bool
	serverBin  string
	serverEnv  listFlag
	serverLog  string
	dbDir      string
	serverPID  string
	serverPIDs []int // --server-pid split at commas
	cpuProfile string

	killNode  int
	killAfter time.Duration

	metricsURL   string
	metricsURLs  []string // --metrics-url split at commas
	metricsToken string
	dbCPUProcs   string
	dbCPURoot    int
	idleMeasure  time.Duration

	project    string
	stage      string
	provider   string
	apiKey     string
	authToken  string
	accountSID string
	number     string

	// values are every flag's value as text, secrets masked, for the report.
	values map[string]string

	// setupEach sets the line up on every --server, not only the first,
	// each with its own ids (the Twilio account is the same). Tests set it
	// to spread the load over independent single-node servers, each with
	// its own database; a cluster shares one database and is set up once.
	setupEach bool
}

// secretFlags are masked in reports.
var secretFlags = map[string]bool{"operator-password": true, "auth-token": true, "api-key": true, "metrics-token": true}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const usageHeader = `Usage: loadgen [flags]

Load tester for Switchboard. It sets up a line through the REST API (or
reuses the ids given), runs an embedded simulated Twilio that receives the
replies, and drives the webhook with signed deliveries from N simulated
senders, each sending its messages in order. It measures acknowledgement
latency (webhook sent → answer) and webhook-to-reply latency (webhook sent →
reply received by the simulated Twilio), throughput and status codes, and
checks the invariants: every accepted message answered exactly once, replies
in per-sender order, replayed duplicates not answered twice, nothing answered
that was not sent. Exit code 1 when an invariant breaks, 2 on a usage or
set-up error, 0 otherwise.

Example (one command, builds nothing; the server binary is started and stopped):
  go build -o /tmp/sb/switchboard ./cmd/switchboard
  go run ./cmd/loadgen --spawn --server-bin /tmp/sb/switchboard \
      --senders 200 --messages 20 --rate 2000 --html report.html

Server costs beyond latency (README: "Measuring the store, the database and
the idle server"): the store counters per answered message come from the
server's /metrics (found with --spawn, else --metrics-url); --db-cpu-procs
postgres adds PostgreSQL's own CPU per message (local processes, /proc);
--idle-measure 30s keeps the server idle after the run and reports its CPU
per second with the sessions still live, e.g. with 100,000 idle sessions:
  loadgen --spawn --server-bin /tmp/sb/switchboard --senders 100000 \
      --messages 1 --rate 2000 --idle-measure 30s

Several servers (README: "Several servers: a cluster"): --server takes a
comma-separated list and spreads the deliveries over it; --spawn --nodes 3
starts three nodes on a private PostgreSQL and reports each node's CPU per
message; --kill-node 2 --kill-after 5s kills one mid-run:
  loadgen --spawn --server-bin /tmp/sb/switchboard --nodes 3 --senders 300 \
      --messages 0 --duration 20s --rate 500 --kill-node 2 --kill-after 5s

Flags:
`

// parseFlags parses args (without the program name).
func parseFlags(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.server, "server", "http://127.0.0.1:3000", "base URL of the Switchboard server, or a comma-separated list of the nodes of a cluster: each delivery goes to the next node in turn, the line is set up through the first (ignored with --spawn)")
	fs.IntVar(&c.nodes, "nodes", 1, "with --spawn, start this many server processes; more than 1 share a PostgreSQL (a private one unless --server-env DATABASE_URL=postgres://… is given) and run as a cluster (CLUSTER_PROVIDER=automanaged)")
	fs.StringVar(&c.publicURL, "public-url", "", "the public base URL the servers were given as PUBLIC_BASE_URL (what Twilio posts to, e.g. the load balancer's): signatures are computed over it while each delivery is posted to a node's own address; default: each node's own URL, or with --spawn --nodes >1 a round-robin proxy loadgen runs over the nodes")
	fs.StringVar(&c.operatorID, "operator-id", "admin", "operator id: created as the initial operator if the server has none, else logged in")
	fs.StringVar(&c.operatorPassword, "operator-password", "correct horse battery", "operator password (8 to 72 bytes)")

	fs.IntVar(&c.senders, "senders", 20, "number of simulated senders (distinct From addresses)")
	fs.IntVar(&c.messages, "messages", 10, "messages per sender (0 = unlimited, then --duration bounds the run)")
	fs.DurationVar(&c.duration, "duration", 0, "stop starting new messages after this long (0 = no limit; --messages bounds the run)")
	fs.Float64Var(&c.rate, "rate", 0, "target webhook deliveries per second, all senders together (0 = as fast as --concurrency allows)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "maximum webhook requests in flight")
	fs.DurationVar(&c.thinkTime, "think-time", 0, "pause of each sender between acknowledged messages (uniformly 0.5x to 1.5x)")
	fs.Float64Var(&c.whatsappShare, "whatsapp-share", 0, "fraction of senders using whatsapp: addresses (they text whatsapp:<number>)")
	fs.Float64Var(&c.duplicateShare, "duplicate-share", 0, "fraction of deliveries replayed with the same MessageSid after their answer, as Twilio retries")
	fs.IntVar(&c.burstSize, "burst-size", 3, "messages in one per-sender burst (sent concurrently, no think time)")
	fs.Float64Var(&c.burstShare, "burst-share", 0, "fraction of a sender's sends that start a burst of --burst-size messages")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 10*time.Second, "timeout of one webhook request")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the random choices (0 = random)")

	fs.Float64Var(&c.fault429, "fault-429", 0, "fraction of the server's sends the simulated Twilio answers 429 (code 20429)")
	fs.Float64Var(&c.fault5xx, "fault-5xx", 0, "fraction of the server's sends the simulated Twilio answers 500/502/503")
	fs.Float64Var(&c.faultTimeout, "fault-timeout", 0, "fraction of the server's sends the simulated Twilio holds unanswered (see --sim-hold-timeout)")
	fs.DurationVar(&c.simLatency, "sim-latency", 0, "latency the simulated Twilio adds to each send")
	fs.StringVar(&c.simAddr, "sim-addr", "127.0.0.1:0", "listen address of the embedded simulated Twilio; must be reachable from the server")
	fs.DurationVar(&c.simHoldTimeout, "sim-hold-timeout", 5*time.Second, "how long a timeout fault holds a send before answering 504")
	fs.BoolVar(&c.callbacks, "callbacks", false, "the simulated Twilio posts status callbacks (sent, delivered) to the server")

	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "after the last send, how long to wait for outstanding replies")
	fs.DurationVar(&c.settle, "settle", 500*time.Millisecond, "after the last reply, how long to keep listening for duplicate replies")

	fs.StringVar(&c.jsonPath, "json", "", "write the JSON report (with per-second time series) to this file")
	fs.StringVar(&c.htmlPath, "html", "", "write the self-contained HTML report (charts) to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress and no summary table, only broken invariants and errors")
	fs.BoolVar(&c.noProgress, "no-progress", false, "no progress bar (it is also off when stderr is not a terminal)")

	fs.BoolVar(&c.spawn, "spawn", false, "start --server-bin with a temporary SQLite database on a free loopback port, measure its RSS and CPU, stop it with SIGTERM at the end")
	fs.StringVar(&c.serverBin, "server-bin", "", "switchboard binary for --spawn")
	fs.Var(&c.serverEnv, "server-env", "extra KEY=VALUE environment for the spawned server (repeatable), e.g. TWILIO_SEND_TIMEOUT_MS=2000")
	fs.StringVar(&c.serverLog, "server-log", "", "with --spawn, write the server's log to this file (default: a temporary file, shown on failure)")
	fs.StringVar(&c.dbDir, "db-dir", "", "with --spawn, create the temporary database under this directory (default: the system temp dir; /dev/shm takes the disk's fsync out of the figures)")
	fs.StringVar(&c.serverPID, "server-pid", "", "without --spawn, pid of a local server to sample RSS and CPU from /proc; with several --server URLs, their pids in the same order, comma-separated")
	fs.IntVar(&c.killNode, "kill-node", 0, "with --spawn --nodes 2 or more, send SIGKILL to this node (1-based) --kill-after into the load; the report gives the time from the kill to the first reply a survivor sent")
	fs.DurationVar(&c.killAfter, "kill-after", 0, "when --kill-node is killed, counted from the start of the load")

	fs.StringVar(&c.metricsURL, "metrics-url", "", "the server's /metrics URL, to report its store counters (commits, syncs, statements per answered message) and, with --idle-measure, its live sessions; with several --server URLs, one per server in the same order, comma-separated; with --spawn found from the server's start-up output")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "bearer token for --metrics-url (the server's METRICS_TOKEN; with --spawn taken from --server-env METRICS_TOKEN=…)")
	fs.StringVar(&c.dbCPUProcs, "db-cpu-procs", "", "comma-separated names (comm or executable base name) of the local database's processes whose CPU to report per message, e.g. postgres (with DATABASE_URL=postgres://… in --server-env)")
	fs.IntVar(&c.dbCPURoot, "db-cpu-root", 0, "count only this process and its descendants as the database (e.g. the postmaster's pid, the first line of $PGDATA/postmaster.pid), so other PostgreSQL servers on the host are left out")
	fs.DurationVar(&c.idleMeasure, "idle-measure", 0, "after the run (every message answered), keep the server idle this long and report its CPU per second (and the database's), with the live session count; needs --spawn or --server-pid")

	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write loadgen's own CPU profile (pprof) to this file, to see what the load generator costs")
	fs.StringVar(&c.project, "project", "", "reuse this project id instead of creating one")
	fs.StringVar(&c.stage, "stage", "", "reuse this stage id (its LLM provider should be scripted with defaultReply \"R{{.Turn}}: {{.Text}}\")")
	fs.StringVar(&c.provider, "provider", "", "reuse this Twilio channel provider id (its apiBaseUrl must point at --sim-addr; needs --auth-token, --account-sid, --number)")
	fs.StringVar(&c.apiKey, "api-key", "", "reuse this API key value")
	fs.StringVar(&c.authToken, "auth-token", "", "Twilio auth token of the provider (default: generated)")
	fs.StringVar(&c.accountSID, "account-sid", "", "Twilio account SID of the provider (default: generated)")
	fs.StringVar(&c.number, "number", "+15550001000", "the provider's fromNumber (E.164); WhatsApp senders text whatsapp:<number>")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.values = make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if secretFlags[f.Name] && v != "" {
			v = "(set)"
		}
		c.values[f.Name] = v
	})
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("loadgen: unexpected arguments %q", fs.Args())
	}
	c.servers = splitList(c.server)
	c.metricsURLs = splitList(c.metricsURL)
	return c, c.validate()
}

// validate checks the flags together; its errors name the flag.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("loadgen: "+format, args...)) }
	if c.senders < 1 {
		bad("--senders must be at least 1, got %d", c.senders)
	}
	if c.messages < 0 {
		bad("--messages must not be negative, got %d", c.messages)
	}
	if c.messages == 0 && c.duration <= 0 {
		bad("the run must be bounded: give --messages or --duration")
	}
	if c.concurrency < 1 {
		bad("--concurrency must be at least 1, got %d", c.concurrency)
	}
	if c.rate < 0 {
		bad("--rate must not be negative, got %v", c.rate)
	}
	if c.burstSize < 1 {
		bad("--burst-size must be at least 1, got %d", c.burstSize)
	}
	if c.stage != "" && c.apiKey == "" && c.project == "" {
		bad("--stage without --api-key needs --project (the key must belong to the stage's project)")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"--whatsapp-share", c.whatsappShare}, {"--duplicate-share", c.duplicateShare}, {"--burst-share", c.burstShare},
		{"--fault-429", c.fault429}, {"--fault-5xx", c.fault5xx}, {"--fault-timeout", c.faultTimeout}} {
		if f.v < 0 || f.v > 1 {
			bad("%s must be a fraction in [0, 1], got %v", f.name, f.v)
		}
	}
	if c.drainTimeout <= 0 || c.requestTimeout <= 0 {
		bad("--drain-timeout and --request-timeout must be positive")
	}
	if c.spawn && c.serverBin == "" {
		bad("--spawn needs --server-bin")
	}
	if c.provider != "" && (c.authToken == "" || c.accountSID == "") {
		bad("--provider needs --auth-token and --account-sid")
	}
	if c.apiKey != "" && (c.project == "" && c.stage == "") {
		bad("--api-key needs --stage (or --project) of the key's project")
	}
	if c.idleMeasure < 0 {
		bad("--idle-measure must not be negative, got %s", c.idleMeasure)
	}
	c.serverPIDs = nil
	for _, f := range splitList(c.serverPID) {
		if f == "0" && c.serverPID == "0" {
			break // what the flag meant when it took one pid: none
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			bad("--server-pid wants process ids, got %q", c.serverPID)
			break
		}
		c.serverPIDs = append(c.serverPIDs, pid)
	}
	if c.idleMeasure > 0 && !c.spawn && len(c.serverPIDs) == 0 {
		bad("--idle-measure needs --spawn or --server-pid (the server's CPU is read from /proc)")
	}
	errs = append(errs, c.validateNodes()...)
	if c.dbCPURoot < 0 {
		bad("--db-cpu-root must be a pid, got %d", c.dbCPURoot)
	}
	if c.dbCPUProcs != "" && len(parseNames(c.dbCPUProcs)) == 0 {
		bad("--db-cpu-procs wants process names, got %q", c.dbCPUProcs)
	}
	for _, m := range c.metricsURLs {
		if !httpURL(m) {
			bad("--metrics-url wants an http(s) URL such as http://127.0.0.1:9464/metrics, got %q", m)
		}
	}
	for _, kv := range c.serverEnv {
		if !strings.Contains(kv, "=") {
			bad("--server-env wants KEY=VALUE, got %q", kv)
		}
	}
	return errors.Join(errs...)
}

// validateNodes checks the flags of several servers: the --server list
// and what must match it, --nodes, --public-url and the kill hook.
func (c *config) validateNodes() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("loadgen: "+format, args...)) }
	if !c.spawn {
		if len(c.servers) == 0 {
			bad("--server wants a base URL such as http://127.0.0.1:3000, got %q", c.server)
		}
		for _, s := range c.servers {
			if !httpURL(s) {
				bad("--server wants http(s) base URLs such as http://127.0.0.1:3000, got %q", s)
			}
		}
		if n := len(c.serverPIDs); n > 0 && len(c.servers) > 1 && n != len(c.servers) {
			bad("--server-pid lists %d pids for %d --server URLs: give one per server, in the same order", n, len(c.servers))
		}
		if n := len(c.metricsURLs); n > 0 && n != len(c.servers) {
			bad("--metrics-url lists %d URLs for %d --server URLs: give one per server, in the same order", n, len(c.servers))
		}
	}
	if c.nodes < 1 {
		bad("--nodes must be at least 1, got %d", c.nodes)
	}
	if c.nodes > 1 && !c.spawn {
		bad("--nodes needs --spawn (for servers loadgen did not start, list them in --server)")
	}
	if c.nodes > 1 && c.spawn {
		if db := envValue(c.serverEnv, "DATABASE_URL"); db != "" && !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
			bad("--nodes %d needs a database the nodes share: DATABASE_URL in --server-env must be postgres://…, got %q (leave it out for a private PostgreSQL)", c.nodes, db)
		}
		if len(c.metricsURLs) > 0 {
			bad("--metrics-url with --spawn --nodes %d: each node's metrics URL is taken from its start-up output", c.nodes)
		}
	}
	if c.publicURL != "" {
		if u, err := url.Parse(c.publicURL); err != nil || !httpURL(c.publicURL) || u.RawQuery != "" || u.Fragment != "" {
			bad("--public-url wants an http(s) base URL without query, such as https://sms.example.com, got %q", c.publicURL)
		}
		if env := envValue(c.serverEnv, "PUBLIC_BASE_URL"); env != "" && strings.TrimRight(env, "/") != strings.TrimRight(c.publicURL, "/") {
			bad("--public-url %q differs from --server-env PUBLIC_BASE_URL=%s: the signatures would not verify", c.publicURL, env)
		}
	}
	switch {
	case c.killNode < 0:
		bad("--kill-node must be a node number from 1, got %d", c.killNode)
	case c.killNode > 0 && (!c.spawn || c.nodes < 2):
		bad("--kill-node needs --spawn and --nodes 2 or more (a survivor must take over)")
	case c.killNode > c.nodes:
		bad("--kill-node %d: there are only %d nodes", c.killNode, c.nodes)
	case c.killNode > 0 && c.killAfter <= 0:
		bad("--kill-node needs --kill-after, a positive duration such as 5s")
	case c.killNode == 0 && c.killAfter != 0:
		bad("--kill-after needs --kill-node")
	}
	return errs
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// httpURL reports whether s is an absolute http(s) URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
