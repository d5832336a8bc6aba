package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/actors"
	"switchboard/api"
	"switchboard/config"
	"switchboard/providers"
	"switchboard/providers/llm"
	"switchboard/providers/twilio"
	"switchboard/store"
	"switchboard/webhook"
)

// Main is the whole program: tests can start and stop it in-process.
type Main struct {
	cfg    *config.Config
	stdout io.Writer
	log    *slog.Logger

	store   store.Store
	sender  *twilio.Sender
	engine  *actors.Engine
	http    *http.Server
	metrics *http.Server
	// hook is the Twilio webhook handler; Close flushes its aggregated
	// signature failures to the audit log.
	hook *webhook.Handler
	// stopAudit stops the audit retention sweep.
	stopAudit func()
	pprof     *http.Server
	pprofAddr string // the address pprof listens on, once serving
	// Addr is the address the server listens on, known after Run.
	Addr string
	// Demo makes Run set up the demo line (see demo.go) once listening.
	Demo bool

	stopPurge func() // stops the expired-token purge

	// listening, when set (tests), is called once the listeners serve and
	// before start-up has finished (the demo line is created after it).
	listening func()
}

// tokenPurgeInterval is how often expired operator tokens are deleted.
const tokenPurgeInterval = time.Hour

// NewMain returns a Main for cfg; logs go to stderr.
func NewMain(cfg *config.Config, stdout, stderr io.Writer) *Main {
	return &Main{cfg: cfg, stdout: stdout, log: newLogger(cfg, stderr)}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run opens the store, starts the engine, re-delivers unfinished work and
// starts listening, then (with Demo) creates the demo line. It returns once
// start-up is complete: only then does /readyz answer 200.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.cfg
	for _, w := range cfg.Warnings() {
		// Valid but almost certainly a unit mistake (seconds as ms).
		m.log.Warn(w.Message, "variable", w.Variable, "value", w.Value, "probably_meant", w.ProbablyMeant)
	}
	var err error
	if m.store, err = openStore(ctx, cfg, m.log); err != nil {
		return err
	}
	clusterOpts, err := clusterOptions(cfg, m.store)
	if err != nil {
		_ = m.store.Close()
		m.store = nil
		return err
	}
	// Provider secrets are sealed at rest by default (see sealStore).
	sealedStore, err := sealStore(ctx, cfg, m.store, m.log)
	if err != nil {
		_ = m.store.Close()
		m.store = nil
		return err
	}
	m.store = sealedStore

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.sender = twilio.NewSender(twilio.SenderOptions{
		DefaultBaseURL:      cfg.TwilioAPIBaseURL,
		Destinations:        cfg.Destinations,
		Timeout:             cfg.SendTimeout,
		MaxIdleConnsPerHost: cfg.MaxConcurrentSends,
	})
	if v := providers.ProxyVariable(); v != "" {
		m.log.Warn("provider requests go through the HTTP proxy set in the environment: the refusal of link-local and cloud metadata addresses then checks provider URLs but not the addresses their names resolve to, which only the proxy sees; make the proxy refuse them", "variable", v)
	}
	// One LLM client cache for the engine and the API's model listing, so
	// both share connections; every retry of a 429 or 5xx is counted.
	llmRetries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_llm_retries_total",
		Help: "Retries of LLM requests after a 429 or 5xx answer, by that answer's status.",
	}, []string{"status"})
	reg.MustRegister(llmRetries)
	llmCache := llm.NewCache(llm.Options{Destinations: cfg.Destinations, OnRetry: func(status int) {
		llmRetries.WithLabelValues(strconv.Itoa(status)).Inc()
	}})
	m.engine, err = actors.New(actors.Options{
		Store:              m.store,
		Sender:             twilioSender{m.sender},
		Classify:           classify,
		Split:              func(s string) []string { return twilio.Split(s, twilio.MaxBodyLength) },
		LLM:                llmCache,
		MaxReplyParts:      cfg.MaxReplyParts,
		Logger:             m.log,
		SessionTimeout:     cfg.SessionTimeout,
		Debounce:           cfg.Debounce,
		LLMErrorReply:      cfg.LLMErrorReply,
		PublicBaseURL:      cfg.PublicBaseURL,
		SendRatePerNumber:  cfg.SendRatePerNumber,
		MaxConcurrentSends: cfg.MaxConcurrentSends,
		SendMaxAttempts:    cfg.SendMaxAttempts,
		SendTimeout:        cfg.SendTimeout,
		Registerer:         reg,
		CommitLinger:       cfg.CommitLinger,
		SyncWait:           syncWait(cfg.SyncWait),
		TurnWait:           syncWait(cfg.TurnWait),
		Cluster:            clusterOpts,
	})
	if err != nil {
		return err
	}
	reg.MustRegister(m.engine.NewSessionCollector(cfg.MetricsSessionSeriesMax))
	in, out, err := m.engine.Recover(ctx)
	if err != nil {
		return err
	}
	if in > 0 || out > 0 {
		m.log.Info("recovered unfinished work", "inbound", in, "outbox", out)
	}

	r := mux.NewRouter()
	// The API server first: the webhook's send routes take its CORS.
	apiServer := api.New(m.store, m.log, api.Options{
		MaxFailuresPerAccount:      cfg.AuthMaxFailuresPerAccount,
		MaxFailuresPerAccountTotal: cfg.AuthMaxFailuresPerAccountTotal,
		MaxFailuresPerAddress:      cfg.AuthMaxFailuresPerIP,
		FailureWindow:              cfg.AuthFailureWindow,
		HashConcurrency:            cfg.AuthHashConcurrency,
		ClientIP:                   cfg.TrustedProxies.IP,
		Registerer:                 reg,
		Destinations:               cfg.Destinations,
		LLM:                        llmCache,
		CORSAllowedOrigins:         cfg.CORSAllowedOrigins,
		Version:                    version,
		GitCommit:                  gitCommit(),
		// /readyz answers 503 until the end of Run: ready means started.
		Starting: true,
	})
	m.hook = webhook.New(webhook.Options{
		Store:         m.store,
		Engine:        m.engine,
		Logger:        m.log,
		Metrics:       webhook.NewMetrics(reg),
		PublicBaseURL: cfg.PublicBaseURL,
		TrustProxy:    cfg.TrustProxy,
		ClientIP:      cfg.TrustedProxies.IP,
		FailureRate:   cfg.WebhookFailureRate,
		Audit:         m.store.AppendAudit,
		Starter:       m.engine,
		CORS:          apiServer.CORS,
		AuditInterval: cfg.AuditSignatureFailureInterval,
	})
	m.hook.Register(r)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if m.metricsOnMain() {
		r.Handle("/metrics", metricsAuth(cfg.MetricsToken, metricsHandler)).Methods(http.MethodGet)
	}
	apiServer.Register(r)
	m.stopPurge = apiServer.StartTokenPurge(ctx, tokenPurgeInterval)
	m.stopAudit = startAuditRetention(m.store, cfg.AuditRetention, m.log)

	// Listeners, their timeouts and connection caps: listeners.go.
	public := newForwardedCheck(r, cfg.TrustedProxies, m.log, reg)
	if err := m.startListeners(public, metricsHandler, reg); err != nil {
		return err
	}
	db := "sqlite"
	if cfg.PostgresURL != "" {
		db = "postgres"
	}
	if m.listening != nil {
		m.listening()
	}
	if m.Demo {
		// Before announcing the address and becoming ready, so a phone
		// started on either finds the demo line.
		if err := m.setupDemo(ctx); err != nil {
			return fmt.Errorf("demo setup: %w", err)
		}
	}
	apiServer.Started()
	m.log.Info("switchboard listening", "addr", m.Addr, "store", db, "session_timeout", cfg.SessionTimeout)
	fmt.Fprintf(m.stdout, "switchboard: listening on http://%s\n", m.Addr)
	return nil
}

// Close drains: it stops accepting requests, lets in-flight webhooks
// finish, waits for in-flight turns and sends (bounded by
// SHUTDOWN_TIMEOUT_MS), then closes the store.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if m.http != nil {
		errs = append(errs, m.http.Shutdown(ctx))
	}
	for _, srv := range []*http.Server{m.metrics, m.pprof} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	if m.hook != nil {
		m.hook.Close()
	}
	if m.stopAudit != nil {
		m.stopAudit()
	}
	if m.engine != nil {
		errs = append(errs, m.engine.Close(ctx))
	}
	if m.stopPurge != nil {
		m.stopPurge()
	}
	if m.sender != nil {
		m.sender.Close()
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	err := errors.Join(errs...)
	if err == nil {
		m.log.Info("switchboard stopped cleanly")
	}
	return err
}

// twilioSender adapts twilio.Sender to the engine's Sender.
type twilioSender struct{ s *twilio.Sender }

func (t twilioSender) Send(ctx context.Context, cfg providers.TwilioConfig, m actors.OutMessage) (string, error) {
	res, err := t.s.Send(ctx, cfg, twilio.Message{From: m.From, To: m.To, Body: m.Body, StatusCallback: m.StatusCallback,
		MediaURLs: m.MediaURLs, ContentSID: m.ContentSID, ContentVariables: m.ContentVariables})
	return res.SID, err
}

// FindSent implements actors.Finder.
func (t twilioSender) FindSent(ctx context.Context, cfg providers.TwilioConfig, m actors.OutMessage, since time.Time) (string, bool, error) {
	res, found, err := t.s.FindSent(ctx, cfg, twilio.Message{From: m.From, To: m.To, Body: m.Body}, since)
	return res.SID, found, err
}

// WebhookBase implements actors.WebhookBaser.
func (t twilioSender) WebhookBase(ctx context.Context, cfg providers.TwilioConfig, number string) (string, error) {
	return t.s.WebhookBase(ctx, cfg, number)
}

// classify explains a send failure to the engine. Failures of unknown
// outcome (the request was written but no answer read) are not retried
// blindly: Twilio may have accepted the message, so the engine asks Twilio
// (FindSent) first and sends again only when Twilio does not have it.
func classify(err error) actors.SendFailure {
	var se *twilio.SendError
	if errors.As(err, &se) {
		return actors.SendFailure{
			Retryable:  se.Class == twilio.ClassRetryable,
			Unknown:    se.Class == twilio.ClassUnknown,
			Code:       se.Code,
			OptedOut:   se.OptedOut(),
			Message:    se.Reason(), // 63016 says the window is closed
			RetryAfter: se.RetryAfter,
		}
	}
	c := twilio.Classify(err)
	return actors.SendFailure{Retryable: c == twilio.ClassRetryable, Unknown: c == twilio.ClassUnknown, Message: err.Error()}
}

// syncWait maps COMMIT_SYNC_WAIT_US or COMMIT_TURN_WAIT_US to the
// engine's option, where zero means the default and a negative value no
// wait.
func syncWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// clusterOptions are the engine's cluster settings: nil on a single node.
// The store must hold the cluster's ownership (PostgreSQL; config already
// refuses a cluster on SQLite).
func clusterOptions(cfg *config.Config, st store.Store) (*actors.ClusterOptions, error) {
	if cfg.ClusterProvider == "" {
		return nil, nil
	}
	cs, ok := st.(store.ClusterStore)
	if !ok {
		return nil, fmt.Errorf("CLUSTER_PROVIDER=%s needs DATABASE_URL=postgres://…", cfg.ClusterProvider)
	}
	return &actors.ClusterOptions{
		Provider:       cfg.ClusterProvider,
		Name:           cfg.ClusterName,
		Addr:           cfg.ClusterAddr,
		MembershipAddr: cfg.ClusterMembershipAddr,
		Peers:          cfg.ClusterPeers,
		ConsulAddr:     cfg.ClusterConsulAddr,
		EtcdEndpoints:  cfg.ClusterEtcdEndpoints,
		LeaseTTL:       cfg.ClusterLeaseTTL,
		Store:          cs,
		LeaseLost: func() {
			// Fenced already: nothing of this process can commit or send.
			fmt.Fprintln(os.Stderr, "switchboard: this node lost its place in the cluster (its lease expired: paused, or cut off from PostgreSQL; or the other nodes no longer see it); exiting so that the supervisor starts a new member")
			os.Exit(exitLeaseLost)
		},
	}, nil
}

// exitLeaseLost is the exit status of a cluster member whose lease expired,
// or that the other members no longer see.
const exitLeaseLost = 3
