// Package config turns the environment into a validated Config. There are
// no globals: Load reads a lookup function, so tests pass a map.
//
// Every option is a row in the options table below (name, default, help,
// parser). A bad value stops start-up with an error that names the variable;
// nothing silently falls back to a default.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/clientip"
	"switchboard/providers"
	"switchboard/store/sealed"
)

// Config is Switchboard's validated configuration.
type Config struct {
	Addr        string // SWITCHBOARD_ADDR
	DatabaseURL string // DATABASE_URL as given
	// Exactly one of SQLitePath and PostgresURL is set.
	SQLitePath  string
	PostgresURL string

	LogLevel  string // debug|info|warn|error
	LogFormat string // text|json

	SessionTimeout time.Duration // TWILIO_MESSAGING_SESSION_TIMEOUT_MS
	PublicBaseURL  string        // PUBLIC_BASE_URL, no trailing slash
	TrustProxy     bool          // TRUST_PROXY
	// TrustedProxies (TRUSTED_PROXIES) decides client addresses for rate
	// limits and logs; never nil after Load.
	TrustedProxies   *clientip.Resolver
	TwilioAPIBaseURL string // TWILIO_API_BASE_URL

	SendRatePerNumber  float64       // TWILIO_SEND_RATE_PER_NUMBER, messages/s per sender number, 0 = unlimited
	MaxConcurrentSends int           // TWILIO_MAX_CONCURRENT_SENDS
	SendMaxAttempts    int           // TWILIO_SEND_MAX_ATTEMPTS
	SendTimeout        time.Duration // TWILIO_SEND_TIMEOUT_MS
	Debounce           time.Duration // TWILIO_MESSAGING_DEBOUNCE_MS, 0 = off

	LLMErrorReply string // LLM_ERROR_REPLY, "" = send nothing on LLM failure

	MetricsAddr             string // METRICS_ADDR, "" = serve /metrics on Addr (needs MetricsToken)
	MetricsOff              bool   // METRICS_ADDR=off: /metrics is served nowhere
	MetricsToken            string // METRICS_TOKEN: bearer token /metrics requires, "" = none
	MetricsSessionSeriesMax int    // METRICS_SESSION_SERIES_MAX, 0 = off
	MaxConnections          int    // MAX_CONNECTIONS: open connections on SWITCHBOARD_ADDR
	// MaxConnectionsPerIP (MAX_CONNECTIONS_PER_IP) caps the connections one
	// client address (IPv6: /64) holds on SWITCHBOARD_ADDR, so one client
	// cannot take every MAX_CONNECTIONS slot; 0 = no cap.
	MaxConnectionsPerIP int

	WebhookFailureRate float64       // WEBHOOK_FAILURE_RATE_LIMIT: rejected webhooks/s per client IP before 429
	PprofAddr          string        // PPROF_ADDR, "" = off
	SQLiteSynchronous  string        // SQLITE_SYNCHRONOUS: FULL or NORMAL
	CommitLinger       time.Duration // COMMIT_LINGER_US
	SyncWait           time.Duration // COMMIT_SYNC_WAIT_US
	TurnWait           time.Duration // COMMIT_TURN_WAIT_US
	SecretKey          []byte        // SWITCHBOARD_SECRET_KEY: seals provider secrets at rest; nil = key file (SQLite) or none
	ShutdownTimeout    time.Duration

	AuthMaxFailuresPerAccount      int           // AUTH_MAX_FAILURES_PER_ACCOUNT (one id from one address)
	AuthMaxFailuresPerAccountTotal int           // AUTH_MAX_FAILURES_PER_ACCOUNT_TOTAL (one id from all addresses)
	AuthMaxFailuresPerIP           int           // AUTH_MAX_FAILURES_PER_IP
	AuthFailureWindow              time.Duration // AUTH_FAILURE_WINDOW_MS
	AuthHashConcurrency            int           // AUTH_HASH_CONCURRENCY, 0 = max(1, GOMAXPROCS/2)
	AuditSignatureFailureInterval  time.Duration // AUDIT_SIGNATURE_FAILURE_INTERVAL_MS
	AuditRetention                 time.Duration // AUDIT_RETENTION_DAYS, 0 = keep forever
	// NewSecretKey (SWITCHBOARD_NEW_SECRET_KEY) is the key
	// rotate-secret-key re-seals under; nil = generate one (SQLite).
	NewSecretKey []byte
	// AllowPlaintextSecrets (ALLOW_PLAINTEXT_SECRETS) lets provider secrets
	// be stored in clear when there is no key, instead of generating a key
	// file (SQLite) or refusing them (PostgreSQL).
	AllowPlaintextSecrets bool
	// Destinations (PROVIDER_URL_ALLOWLIST) restricts the hosts provider
	// base URLs may point at; never nil after Load.
	Destinations *providers.DestinationPolicy
	// MaxReplyParts (MAX_REPLY_PARTS) caps the messages one reply is sent
	// as.
	MaxReplyParts int
	// CORSAllowedOrigins (CORS_ALLOWED_ORIGINS) are the web origins whose
	// pages may call the operator API from a browser (Bonsai's admin
	// console on its own origin): nil = none, ["*"] = any, else origins as
	// browsers send them (https://console.example.com).
	CORSAllowedOrigins []string

	// Cluster mode (cluster.go). ClusterProvider "" is a single node; any
	// other value requires PostgreSQL and ClusterAddr.
	ClusterProvider       string        // CLUSTER_PROVIDER: "", automanaged, k8s, consul or etcd
	ClusterName           string        // CLUSTER_NAME: nodes with the same name form one cluster
	ClusterAddr           string        // CLUSTER_ADDR: host:port of the actor remote, bound and advertised
	ClusterMembershipAddr string        // CLUSTER_MEMBERSHIP_ADDR: this node's automanaged membership endpoint
	ClusterPeers          []string      // CLUSTER_PEERS: every automanaged membership endpoint, this one included
	ClusterLeaseTTL       time.Duration // CLUSTER_LEASE_TTL: a node's ownership lease in PostgreSQL
	ClusterConsulAddr     string        // CLUSTER_CONSUL_ADDR: consul only, "" = the local agent
	ClusterEtcdEndpoints  []string      // CLUSTER_ETCD_ENDPOINTS: etcd only

	// warnings are accepted values that are almost certainly a mistake
	// (see Warnings).
	warnings []Warning
}

// option is one row of the options table.
type option struct {
	name   string
	def    string
	help   string
	secret bool
	set    func(c *Config, v string) error
	// warnBelow, for a millisecond (_MS) setting, is the value under which
	// a non-zero setting is almost certainly seconds typed as milliseconds
	// (0 = no check): it is accepted, and Warnings reports it.
	warnBelow int64
}

// options is the table of every environment variable Switchboard reads.
var options = []option{
	{name: "SWITCHBOARD_ADDR", def: ":3000", help: "address the HTTP server listens on", set: func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("must be host:port, got %q", v)
		}
		c.Addr = v
		return nil
	}},
	{name: "DATABASE_URL", def: "sqlite:./data/switchboard.db", help: "sqlite:PATH or postgres://user:pass@host/db", secret: true, set: setDatabase},
	{name: "SQLITE_SYNCHRONOUS", def: "FULL", help: "SQLite durability: FULL (every acknowledged message, and every turn before its reply is sent, is fsynced: survives power loss; one fsync per message, shared by concurrent messages) or NORMAL (WAL fsynced at checkpoints only; survives process crashes and kill -9, may lose the last commits on power loss)", set: func(c *Config, v string) error {
		return oneOf(&c.SQLiteSynchronous, strings.ToUpper(v), "FULL", "NORMAL")
	}},
	{name: "COMMIT_LINGER_US", def: "1000", help: "under load, how long (µs) the group committer waits for more work before a commit (0 = never): larger batches cost less CPU per message, at that much added latency", set: func(c *Config, v string) error { return micros(&c.CommitLinger, v, 100000) }},
	{name: "COMMIT_SYNC_WAIT_US", def: "2000", help: "how long (µs) a webhook's message, written but not yet flushed to disk, waits for its turn so that both share one fsync before the 200 (0 = flush at once: two fsyncs per message at low rates; a turn slower than this waits for the next webhook's flush, COMMIT_TURN_WAIT_US). With a slow LLM and sparse traffic, up to 10 s (below Twilio's 15 s webhook timeout) makes the 200 wait for the turn: one fsync per message at any rate", set: func(c *Config, v string) error { return micros(&c.SyncWait, v, 10000000) }},
	{name: "COMMIT_TURN_WAIT_US", def: "50000", help: "the longest (µs) a turn slower than COMMIT_SYNC_WAIT_US (a remote LLM), written but not yet flushed to disk, waits for the next webhook's fsync to cover it before its reply is sent, rather than fsyncing on its own; it waits at most a tenth of the time the turn took (0 = flush at once: two fsyncs per message with a slow LLM)", set: func(c *Config, v string) error { return micros(&c.TurnWait, v, 1000000) }},
	{name: "SWITCHBOARD_SECRET_KEY", def: "", secret: true, help: "32-byte key (64 hex digits or base64) that encrypts provider secrets (authToken, apiKey) at rest with AES-256-GCM; unset = on SQLite a key file DATABASE_PATH.key (mode 0600) is used, created on first start; on PostgreSQL secrets are refused unless ALLOW_PLAINTEXT_SECRETS=true", set: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		k, err := sealed.ParseKey(v)
		if err != nil {
			return &secretSafeError{err.Error()}
		}
		c.SecretKey = k
		return nil
	}},
	{name: "SWITCHBOARD_NEW_SECRET_KEY", def: "", secret: true, help: "only for `switchboard rotate-secret-key`: the key to re-seal every provider secret under (unset on SQLite = generate one and replace the key file)", set: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		k, err := sealed.ParseKey(v)
		if err != nil {
			return &secretSafeError{err.Error()}
		}
		c.NewSecretKey = k
		return nil
	}},
	{name: "ALLOW_PLAINTEXT_SECRETS", def: "false", help: "with no SWITCHBOARD_SECRET_KEY, store provider secrets in clear instead of generating a key file (SQLite) or refusing them (PostgreSQL); not recommended", set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", v)
		}
		c.AllowPlaintextSecrets = b
		return nil
	}},
	{name: "PROVIDER_URL_ALLOWLIST", def: "", help: "comma-separated hosts provider base URLs (apiBaseUrl, baseUrl) may point at: api.openai.com, *.example.com, 127.0.0.1:3001, 10.0.0.0/8 (empty = any host; link-local/metadata addresses such as 169.254.169.254 are refused unless listed)", set: func(c *Config, v string) error {
		p, err := providers.ParseAllowlist(v)
		if err != nil {
			return err
		}
		c.Destinations = p
		return nil
	}},
	{name: "MAX_REPLY_PARTS", def: "10", help: "most messages (parts of up to 1600 characters) one reply is sent as; a longer reply is cut and ends with \"…\" (1-100)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("must be an integer between 1 and 100, got %q", v)
		}
		c.MaxReplyParts = n
		return nil
	}},
	{name: "CORS_ALLOWED_ORIGINS", def: "", help: "comma-separated web origins (https://console.example.com) whose pages may call the operator API from a browser, such as Bonsai's admin console on its own origin; * = any origin (Bonsai's default); empty = none (same-origin only). Never the Twilio webhook; credentials (cookies) are never allowed", set: func(c *Config, v string) error {
		o, err := parseOrigins(v)
		if err != nil {
			return err
		}
		c.CORSAllowedOrigins = o
		return nil
	}},
	{name: "LOG_LEVEL", def: "info", help: "debug, info, warn or error", set: func(c *Config, v string) error {
		return oneOf(&c.LogLevel, strings.ToLower(v), "debug", "info", "warn", "error")
	}},
	{name: "LOG_FORMAT", def: "text", help: "text or json", set: func(c *Config, v string) error {
		return oneOf(&c.LogFormat, strings.ToLower(v), "text", "json")
	}},
	{name: "TWILIO_MESSAGING_SESSION_TIMEOUT_MS", def: "1800000", help: "idle time in ms after which a conversation ends", warnBelow: 60000, set: func(c *Config, v string) error {
		return positiveMillis(&c.SessionTimeout, v)
	}},
	{name: "PUBLIC_BASE_URL", def: "", help: "public scheme://host[:port][/prefix] Twilio posts to; used to check signatures (default: from the request)", set: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("must be an absolute http(s) URL without query, got %q", v)
		}
		c.PublicBaseURL = strings.TrimRight(v, "/")
		return nil
	}},
	{name: "TRUST_PROXY", def: "true", help: "honour X-Forwarded-Proto/Host when rebuilding the public URL webhook signatures are checked against (PUBLIC_BASE_URL wins); never decides the client address, see TRUSTED_PROXIES", set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", v)
		}
		c.TrustProxy = b
		return nil
	}},
	{name: "TRUSTED_PROXIES", def: "", help: "comma-separated IP addresses and CIDR prefixes of your reverse proxies; only a request from one of them has its X-Forwarded-For read for the client address (rate limits, logs). Empty = the connection's peer is the client", set: func(c *Config, v string) error {
		r, err := clientip.Parse(v)
		if err != nil {
			return fmt.Errorf("must be IP addresses and CIDR prefixes separated by commas: %w", err)
		}
		c.TrustedProxies = r
		return nil
	}},
	{name: "TWILIO_API_BASE_URL", def: "https://api.twilio.com", help: "Twilio REST base URL when a provider has no apiBaseUrl", set: func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("must be an absolute http(s) URL, got %q", v)
		}
		c.TwilioAPIBaseURL = strings.TrimRight(v, "/")
		return nil
	}},
	{name: "TWILIO_SEND_RATE_PER_NUMBER", def: "0", help: "max messages/s sent from one sender number (0 = unlimited; Twilio queues beyond its own limits)", set: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("must be a number >= 0, got %q", v)
		}
		c.SendRatePerNumber = f
		return nil
	}},
	{name: "TWILIO_MAX_CONCURRENT_SENDS", def: "64", help: "global cap on concurrent Twilio REST calls", set: func(c *Config, v string) error {
		return positiveInt(&c.MaxConcurrentSends, v)
	}},
	{name: "TWILIO_SEND_MAX_ATTEMPTS", def: "6", help: "attempts per outbound message for retryable failures (429, 5xx, connection refused)", set: func(c *Config, v string) error {
		return positiveInt(&c.SendMaxAttempts, v)
	}},
	// Under a second a REST call to Twilio times out often, and a timed-out
	// send has an unknown outcome, which is never retried.
	{name: "TWILIO_SEND_TIMEOUT_MS", def: "15000", help: "timeout of one Twilio REST call in ms", warnBelow: 1000, set: func(c *Config, v string) error {
		return positiveMillis(&c.SendTimeout, v)
	}},
	{name: "TWILIO_MESSAGING_DEBOUNCE_MS", def: "0", help: "merge texts arriving within this many ms into one turn (0 = off)", warnBelow: 100, set: func(c *Config, v string) error {
		return nonNegativeMillis(&c.Debounce, v)
	}},
	{name: "LLM_ERROR_REPLY", def: "Sorry, I couldn't answer that just now. Please try again in a moment.", help: "reply sent when the LLM fails or times out (empty = send nothing)", set: func(c *Config, v string) error {
		c.LLMErrorReply = v
		return nil
	}},
	{name: "METRICS_ADDR", def: "127.0.0.1:9464", help: "host:port of a separate listener for /metrics (loopback by default); off = no metrics endpoint; empty = served on SWITCHBOARD_ADDR, which requires METRICS_TOKEN", set: func(c *Config, v string) error {
		switch v {
		case "":
			c.MetricsAddr = ""
			return nil
		case "off":
			c.MetricsOff = true
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("must be host:port, off or empty, got %q", v)
		}
		c.MetricsAddr = v
		return nil
	}},
	{name: "METRICS_TOKEN", def: "", secret: true, help: "when set, /metrics requires the header Authorization: Bearer <token> (Prometheus: authorization.credentials); at least 16 characters", set: func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return &secretSafeError{"must be at least 16 characters"}
		}
		c.MetricsToken = v
		return nil
	}},
	{name: "METRICS_SESSION_SERIES_MAX", def: "1000", help: "max sessions exported as per-session series (0 = off)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("must be an integer >= 0, got %q", v)
		}
		c.MetricsSessionSeriesMax = n
		return nil
	}},
	{name: "WEBHOOK_FAILURE_RATE_LIMIT", def: "20", help: "rejected webhook requests/s allowed per client IP before answering 429 (valid Twilio traffic is never limited)", set: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("must be a number > 0, got %q", v)
		}
		c.WebhookFailureRate = f
		return nil
	}},
	{name: "AUDIT_SIGNATURE_FAILURE_INTERVAL_MS", def: "60000", help: "webhook signature failures are written to the audit log as one entry per channel provider and this many ms", warnBelow: 1000, set: func(c *Config, v string) error {
		return positiveMillis(&c.AuditSignatureFailureInterval, v)
	}},
	{name: "AUDIT_RETENTION_DAYS", def: "0", help: "audit log entries older than this many days are deleted (checked at start-up and hourly; 0 = keep forever)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return fmt.Errorf("must be an integer between 0 and 36500 (days), got %q", v)
		}
		c.AuditRetention = time.Duration(n) * 24 * time.Hour
		return nil
	}},
	{name: "MAX_CONNECTIONS", def: "4096", help: "open connections accepted on SWITCHBOARD_ADDR; further clients wait for a free slot (keep below the process's file descriptor limit)", set: func(c *Config, v string) error {
		return positiveInt(&c.MaxConnections, v)
	}},
	{name: "MAX_CONNECTIONS_PER_IP", def: "512", help: "open connections one client address (IPv6: its /64) may hold on SWITCHBOARD_ADDR; a further one is closed at once, so one client cannot take every MAX_CONNECTIONS slot (0 = no cap; peers in TRUSTED_PROXIES are exempt)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("must be an integer >= 0, got %q", v)
		}
		c.MaxConnectionsPerIP = n
		return nil
	}},
	{name: "PPROF_ADDR", def: "", help: "host:port serving net/http/pprof for profiling (unset = off; never expose it publicly)", set: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("must be host:port, got %q", v)
		}
		c.PprofAddr = v
		return nil
	}},
	{name: "SHUTDOWN_TIMEOUT_MS", def: "25000", help: "on SIGTERM, how long to finish in-flight turns and sends", warnBelow: 100, set: func(c *Config, v string) error {
		return positiveMillis(&c.ShutdownTimeout, v)
	}},
	{name: "AUTH_MAX_FAILURES_PER_ACCOUNT", def: "5", help: "failed logins of one operator id from one client address within AUTH_FAILURE_WINDOW_MS before further logins of that id from there (even correct ones) answer 429; other addresses are not affected", set: func(c *Config, v string) error {
		return positiveInt(&c.AuthMaxFailuresPerAccount, v)
	}},
	{name: "AUTH_MAX_FAILURES_PER_ACCOUNT_TOTAL", def: "50", help: "failed logins of one operator id from all addresses together within AUTH_FAILURE_WINDOW_MS before every login of that id answers 429 (bounds a guesser spread over many addresses)", set: func(c *Config, v string) error {
		return positiveInt(&c.AuthMaxFailuresPerAccountTotal, v)
	}},
	{name: "AUTH_MAX_FAILURES_PER_IP", def: "20", help: "failed logins, token refreshes and setups per client address (IPv6: per /64) within AUTH_FAILURE_WINDOW_MS before that address gets 429", set: func(c *Config, v string) error {
		return positiveInt(&c.AuthMaxFailuresPerIP, v)
	}},
	{name: "AUTH_FAILURE_WINDOW_MS", def: "900000", help: "window in ms in which failed credential checks are counted; a throttled id or address is free again when its window ends", warnBelow: 1000, set: func(c *Config, v string) error {
		return positiveMillis(&c.AuthFailureWindow, v)
	}},
	{name: "AUTH_HASH_CONCURRENCY", def: "0", help: "password hashes (bcrypt) that may run at once; more wait up to 2 s, then get 503 (0 = half the CPUs, at least 1)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1024 {
			return fmt.Errorf("must be an integer between 0 and 1024, got %q", v)
		}
		c.AuthHashConcurrency = n
		return nil
	}},
	// Cluster mode (cluster.go checks the rows against each other).
	{name: "CLUSTER_PROVIDER", def: "", help: "how nodes find each other: empty = a single node; automanaged (CLUSTER_PEERS lists the nodes), k8s (the pods of this Deployment; the pod's service account needs RBAC to get, list, watch and patch pods), consul, etcd. Any value needs DATABASE_URL=postgres://… and CLUSTER_ADDR", set: setClusterProvider},
	{name: "CLUSTER_NAME", def: "switchboard", help: "the cluster's name: nodes with the same name (and provider) form one cluster; lower-case letters, digits and '-', at most 63", set: setClusterName},
	{name: "CLUSTER_ADDR", def: "", help: "host:port of this node's actor remote (cluster traffic between nodes): bound, and advertised to the other nodes, so the host must be one they reach (not 0.0.0.0); required with CLUSTER_PROVIDER", set: func(c *Config, v string) error {
		return setNodeAddr(&c.ClusterAddr, v)
	}},
	{name: "CLUSTER_MEMBERSHIP_ADDR", def: "", help: "automanaged only, required there: host:port of this node's membership endpoint, as listed in CLUSTER_PEERS: an HTTP listener the peers poll, on that port on every interface; a port of its own", set: func(c *Config, v string) error {
		return setNodeAddr(&c.ClusterMembershipAddr, v)
	}},
	{name: "CLUSTER_PEERS", def: "", help: "automanaged only, required there: comma-separated CLUSTER_MEMBERSHIP_ADDR of every node, this one included (the same list on every node)", set: setClusterPeers},
	{name: "CLUSTER_CONSUL_ADDR", def: "", help: "consul only: the Consul agent's HTTP API, host:port or http(s)://host:port (unset = the local agent, 127.0.0.1:8500)", set: setConsulAddr},
	{name: "CLUSTER_ETCD_ENDPOINTS", def: "", help: "etcd only, required there: comma-separated etcd client endpoints, host:port or http(s)://host:port", set: setEtcdEndpoints},
	{name: "CLUSTER_LEASE_TTL", def: "3s", help: "a node's ownership lease in PostgreSQL (1s-60s): a dead node's senders move to the survivors after at most this long; a node that cannot renew it in time stops committing turns", set: setLeaseTTL},
}

// Load reads and validates the configuration through lookup (os.LookupEnv
// in production). For every variable NAME, NAME_FILE names a file whose
// trimmed content is used instead (for secrets). All problems are reported
// together, each naming its variable.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	var errs []error
	for _, o := range options {
		v, ok := lookup(o.name)
		if path, fok := lookup(o.name + "_FILE"); fok && path != "" {
			if ok {
				errs = append(errs, fmt.Errorf("config: %s and %s_FILE are both set", o.name, o.name))
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("config: %s_FILE: %w", o.name, err))
				continue
			}
			v, ok = strings.TrimSpace(string(b)), true
		}
		if !ok {
			v = o.def
		}
		if err := o.set(c, strings.TrimSpace(v)); err == nil {
			c.checkPlausible(o, strings.TrimSpace(v))
		} else {
			shown := err.Error()
			if o.secret {
				shown = "invalid value (not shown)"
				if e := new(secretSafeError); errors.As(err, &e) {
					shown = e.msg
				}
			}
			errs = append(errs, fmt.Errorf("config: %s %s", o.name, shown))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.checkCluster(); err != nil {
		return nil, err
	}
	if !c.MetricsOff && c.MetricsAddr == "" && c.MetricsToken == "" {
		// Served beside the webhook, the ids in the metrics would be public.
		return nil, errors.New("config: METRICS_ADDR is empty (serve /metrics on SWITCHBOARD_ADDR) but METRICS_TOKEN is unset: set METRICS_TOKEN, give METRICS_ADDR a separate host:port, or set METRICS_ADDR=off")
	}
	return c, nil
}

// Warning is a setting that was accepted but is almost certainly a unit
// mistake, such as TWILIO_MESSAGING_SESSION_TIMEOUT_MS=1800 (seconds typed
// as milliseconds: 1.8 s). It is not an error, since the value is valid;
// the server logs it at start-up so the mistake does not go unnoticed.
type Warning struct {
	Variable string // the variable, e.g. TWILIO_MESSAGING_SESSION_TIMEOUT_MS
	Value    string // the value as given
	// ProbablyMeant is the value that was probably intended (the value
	// read as seconds, written in milliseconds).
	ProbablyMeant string
	// Message explains the warning in a sentence naming all of the above.
	Message string
}

// Warnings returns the accepted settings that are almost certainly a
// mistake, in the order of the options table.
func (c *Config) Warnings() []Warning { return c.warnings }

// checkPlausible records a Warning when o has a warnBelow threshold and v
// (already accepted by o.set) is non-zero and under it.
func (c *Config) checkPlausible(o option, v string) {
	if o.warnBelow == 0 {
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n >= o.warnBelow {
		return
	}
	meant := strconv.FormatInt(n*1000, 10)
	c.warnings = append(c.warnings, Warning{
		Variable:      o.name,
		Value:         v,
		ProbablyMeant: meant,
		Message: fmt.Sprintf("%s=%s is %v, implausibly short (under %v): the unit is milliseconds; if %s seconds was meant, set %s=%s",
			o.name, v, time.Duration(n)*time.Millisecond, time.Duration(o.warnBelow)*time.Millisecond, v, o.name, meant),
	})
}

// Help returns the table of variables for --help output.
func Help() string {
	var b strings.Builder
	for _, o := range options {
		def := o.def
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(&b, "  %-36s %s\n  %-36s default: %s\n", o.name, o.help, "", def)
	}
	b.WriteString("  Any NAME may instead be read from a file named by NAME_FILE.\n")
	return b.String()
}

// Names lists every variable Switchboard reads (for documentation tests).
func Names() []string {
	out := make([]string, len(options))
	for i, o := range options {
		out[i] = o.name
	}
	return out
}

// secretSafeError is an error whose message is safe to print for a secret
// variable (it does not contain the value).
type secretSafeError struct{ msg string }

func (e *secretSafeError) Error() string { return e.msg }

func setDatabase(c *Config, v string) error {
	c.DatabaseURL = v
	switch {
	case strings.HasPrefix(v, "sqlite:"):
		p := strings.TrimPrefix(v, "sqlite:")
		p = strings.TrimPrefix(p, "//")
		if p == "" {
			return &secretSafeError{"must name a file: sqlite:PATH"}
		}
		c.SQLitePath = filepath.Clean(p)
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return &secretSafeError{"must be a valid postgres://user:pass@host[:port]/db URL"}
		}
		c.PostgresURL = v
	default:
		return &secretSafeError{"must start with sqlite: or postgres://"}
	}
	return nil
}

func oneOf(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

func positiveInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("must be a positive integer, got %q", v)
	}
	*dst = n
	return nil
}

func positiveMillis(dst *time.Duration, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > int64(365*24*time.Hour/time.Millisecond) {
		return fmt.Errorf("must be a positive integer (milliseconds), got %q", v)
	}
	*dst = time.Duration(n) * time.Millisecond
	return nil
}

// micros sets dst from a whole number of microseconds between 0 and max.
func micros(dst *time.Duration, v string, max int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return fmt.Errorf("must be an integer between 0 and %d (microseconds), got %q", max, v)
	}
	*dst = time.Duration(n) * time.Microsecond
	return nil
}

func nonNegativeMillis(dst *time.Duration, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > int64(24*time.Hour/time.Millisecond) {
		return fmt.Errorf("must be an integer >= 0 (milliseconds), got %q", v)
	}
	*dst = time.Duration(n) * time.Millisecond
	return nil
}

// Secret reports whether the variable name (or its NAME_FILE twin) holds a
// secret: its value is never printed, and deployment files must take it
// from a secret store rather than spell it out.
func Secret(name string) bool {
	name = strings.TrimSuffix(name, "_FILE")
	for _, o := range options {
		if o.name == name {
			return o.secret
		}
	}
	return false
}
