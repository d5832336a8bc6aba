// Package webhook is Switchboard's Twilio-facing HTTP surface: the inbound
// messaging webhook and the delivery status callback. Handlers are thin:
// parse, check in the order docs/architecture.md §2 fixes, hand the
// message to the engine, answer.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"switchboard/internal/clientip"
	"switchboard/internal/ttlcache"
	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// Engine takes committed-once inbound messages.
type Engine interface {
	// Accept commits m durably and hands it to its session; a duplicate is
	// reported and not processed again.
	Accept(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error)
	// AwaitSendResult waits for the result of the send Twilio accepted as
	// sid for channel provider providerID to be stored, if one is on its
	// way, and reports whether it was.
	AwaitSendResult(ctx context.Context, providerID, sid string) bool
	// RecordDeliveryStatus records a status callback durably for the
	// message d.ProviderID sent as d.TwilioSID (the outbox row
	// d.OutboundID, when the callback's URL names it), reporting whether
	// there is one.
	RecordDeliveryStatus(ctx context.Context, d store.DeliveryUpdate) (bool, error)
}

// Options configure the Handler.
type Options struct {
	Store         store.Store
	Engine        Engine
	Logger        *slog.Logger
	Metrics       *Metrics // nil: not counted
	PublicBaseURL string   // wins over the request's host when set
	TrustProxy    bool     // honour X-Forwarded-Proto/Host in the public URL
	// ClientIP returns the address a request comes from, for the failure
	// limiter and logs (see clientip.Resolver.IP); nil: the connection's
	// peer, ignoring X-Forwarded-For, which any client can write.
	ClientIP func(*http.Request) string
	// FailureRate is how many rejected requests per second one client IP
	// may make before getting 429 (valid Twilio traffic is never limited).
	FailureRate float64
	CacheTTL    time.Duration // lookups of providers, keys, projects and stages (default 1s)
	// Audit, when set, receives one SIGNATURE_FAILURES entry per provider
	// and AuditInterval (default 1 min) that saw failed signature checks.
	Audit         func(context.Context, *store.AuditEntry) error
	AuditInterval time.Duration
	// Starter runs conversations started from the API (start.go); nil:
	// the send routes answer 404.
	Starter Starter
	// CORS, when set, wraps the send routes (which a web page, Bonsai's
	// console, calls) in the operator API's CORS; allow is a route's
	// Allow for a plain OPTIONS. The Twilio routes are never wrapped.
	CORS func(h http.Handler, allow string) http.Handler
}

// Handler serves the Twilio webhooks.
type Handler struct {
	opts  Options
	log   *slog.Logger
	m     *Metrics
	cache *ttlcache.Cache
	fails *ipLimiter
	audit *sigAudit
}

// MaxBodyBytes bounds a webhook body; Twilio's are a few KB.
const MaxBodyBytes = 64 << 10

// emptyTwiML is the answer to every accepted (or duplicate) message: the
// reply goes out later through the REST API.
const emptyTwiML = "<Response/>"

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Second
	}
	if opts.ClientIP == nil {
		opts.ClientIP = (*clientip.Resolver)(nil).IP
	}
	if opts.FailureRate <= 0 {
		opts.FailureRate = 20
	}
	return &Handler{
		opts: opts,
		log:  opts.Logger.With("component", "webhook"),
		m:    opts.Metrics,
		cache: ttlcache.New(opts.CacheTTL, func(err error) bool {
			return store.ErrorCode(err) == store.ENOTFOUND // unknown ids are cached too
		}),
		fails: newIPLimiter(opts.FailureRate),
		audit: newSigAudit(opts, opts.Logger.With("component", "webhook")),
	}
}

// Register mounts the webhook routes on r.
//
// The routes match every method and answer a wrong one themselves (405
// with Allow): a route restricted with Methods leaves the mismatch to the
// rest of the router, where the API's /api catch-all excludes /api/twilio.
func (h *Handler) Register(r *mux.Router) {
	r.HandleFunc("/api/twilio/messaging/webhook", h.postOnly(h.inbound))
	r.HandleFunc("/api/twilio/messaging/status", h.postOnly(h.status))
	cors := h.opts.CORS
	if cors == nil {
		cors = func(h http.Handler, _ string) http.Handler { return h }
	}
	r.Handle("/api/twilio/messaging/send", cors(h.startRoute(h.send), "POST, OPTIONS"))
	r.Handle("/api/twilio/messaging/send/bulk", cors(h.startRoute(h.bulk), "POST, OPTIONS"))
	r.Handle("/api/twilio/messaging/send/jobs/{jobId}", cors(http.HandlerFunc(h.job), "GET, OPTIONS"))
}

// postOnly refuses what Twilio never sends before next parses anything:
// another method than POST (405), or a body declared larger than
// MaxBodyBytes (413; a chunked body is cut off at the limit by parseForm).
func (h *Handler) postOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			h.reject(w, r, http.StatusMethodNotAllowed, "bad_request", "method "+r.Method+" not allowed; Twilio posts")
			return
		}
		if r.ContentLength > MaxBodyBytes {
			h.reject(w, r, http.StatusRequestEntityTooLarge, "bad_request", errBodyTooLarge.Error())
			return
		}
		next(w, r)
	}
}

// reject answers a failed check with a short plain reason and counts it.
//
// A client that keeps failing gets 429 instead, until its failure budget
// refills. Only failures are limited: a validly signed request from the
// same address (Twilio's, say, behind the same proxy) is never refused.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, outcome, reason string) {
	ip := h.clientIP(r)
	key := limitKey(ip)
	if !h.fails.allow(key) {
		h.m.webhook("rate_limited")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many rejected requests", http.StatusTooManyRequests)
		return
	}
	h.fails.fail(key)
	h.m.webhook(outcome)
	h.log.Warn("webhook rejected", "status", status, "outcome", outcome, "reason", reason, "client_ip", ip,
		"message_sid", r.PostForm.Get("MessageSid"), "from", twilio.MaskNumber(r.PostForm.Get("From")))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(reason + "\n"))
}

func twiml(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(emptyTwiML))
}

// parseForm reads the body strictly: form-encoded, bounded. It parses the
// body alone (r.ParseForm would also parse the query and copy both into
// r.Form) and leaves the values in r.PostForm for reject's log line.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded")
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			bodyBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, errors.New("unreadable body")
	}
	vs, err := url.ParseQuery(buf.String())
	if err != nil {
		return nil, errors.New("malformed form body")
	}
	r.PostForm = vs
	return vs, nil
}

// errBodyTooLarge is parseForm's error for a body over MaxBodyBytes.
var errBodyTooLarge = errors.New("body too large (limit " + strconv.Itoa(MaxBodyBytes>>10) + " KiB)")

// formStatus is the HTTP status of a parseForm error: 413 for a body
// over the limit, else 400.
func formStatus(err error) int {
	if err == errBodyTooLarge {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// bodyBufs recycles the buffers webhook bodies are read into.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *Handler) unavailable(w http.ResponseWriter, err error) {
	h.log.Error("webhook failed", "err", err)
	h.m.webhook("unavailable")
	w.Header().Set("Retry-After", "1")
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

// channelProvider returns a twilio_messaging channel provider and its
// config; ENOTFOUND if it is missing or of another kind.
func (h *Handler) channelProvider(ctx context.Context, id string) (*store.Provider, *providers.TwilioConfig, error) {
	type entry struct {
		p   *store.Provider
		cfg *providers.TwilioConfig
	}
	v, err := h.cache.Get("p\x00"+id, func() (any, error) {
		p, err := h.opts.Store.GetProvider(ctx, id)
		if err != nil {
			return nil, err
		}
		if p.ProviderType != store.ProviderTypeChannel || p.APIType != store.APITypeTwilioMessaging {
			return nil, store.Errorf(store.ENOTFOUND, "not a twilio_messaging channel")
		}
		cfg, err := providers.ParseTwilio(p.Config)
		if err != nil {
			return nil, store.Errorf(store.ENOTFOUND, "bad twilio config")
		}
		return entry{p, cfg}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	e := v.(entry)
	return e.p, e.cfg, nil
}

func (h *Handler) apiKey(ctx context.Context, key string) (*store.APIKey, error) {
	hash := store.HashKey(key)
	v, err := h.cache.Get("k\x00"+hash, func() (any, error) { return h.opts.Store.GetAPIKeyByHash(ctx, hash) })
	if err != nil {
		return nil, err
	}
	return v.(*store.APIKey), nil
}

func (h *Handler) project(ctx context.Context, id string) (*store.Project, error) {
	v, err := h.cache.Get("j\x00"+id, func() (any, error) { return h.opts.Store.GetProject(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Project), nil
}

func (h *Handler) stage(ctx context.Context, projectID, id string) (*store.Stage, error) {
	v, err := h.cache.Get("s\x00"+projectID+"\x00"+id, func() (any, error) { return h.opts.Store.GetStage(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Stage), nil
}

func (h *Handler) agent(ctx context.Context, projectID, id string) (*store.Agent, error) {
	v, err := h.cache.Get("a\x00"+projectID+"\x00"+id, func() (any, error) { return h.opts.Store.GetAgent(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Agent), nil
}

// baseOf returns scheme://host of a URL.
func baseOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// redactURL drops the query (it carries the API key) from a URL for logs.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// transient reports whether a lookup failed for a reason other than the
// record's absence: the database, not the client, is at fault.
func transient(err error) bool {
	c := store.ErrorCode(err)
	return c == store.EUNAVAILABLE || c == store.EINTERNAL
}
