// Package webhook is Switchboard's Twilio-facing HTTP surface: the inbound
// messaging webhook and the delivery status callback. Handlers are thin:
// parse, check in the order DESIGN §2 fixes, hand the message to the
// engine, answer.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/time/rate"

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
	// sid to be stored, if one is on its way, and reports whether it was.
	AwaitSendResult(ctx context.Context, sid string) bool
}

// Options configure the Handler.
type Options struct {
	Store         store.Store
	Engine        Engine
	Logger        *slog.Logger
	Metrics       *Metrics // nil: not counted
	PublicBaseURL string   // wins over the request's host when set
	TrustProxy    bool     // honour X-Forwarded-Proto/Host
	// FailureRate is how many rejected requests per second one client IP
	// may make before getting 429 (valid Twilio traffic is never limited).
	FailureRate float64
	CacheTTL    time.Duration // lookups of providers, keys and stages (default 1s)
	// Audit, when set, receives one SIGNATURE_FAILURES entry per provider
	// and AuditInterval (default 1 min) that saw failed signature checks.
	Audit         func(context.Context, *store.AuditEntry) error
	AuditInterval time.Duration
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
func (h *Handler) Register(r *mux.Router) {
	r.HandleFunc("/api/twilio/messaging/webhook", h.inbound).Methods(http.MethodPost)
	r.HandleFunc("/api/twilio/messaging/status", h.status).Methods(http.MethodPost)
}

// reject answers a failed check with a short plain reason and counts it.
//
// A client that keeps failing gets 429 instead, until its failure budget
// refills. Only failures are limited: a validly signed request from the
// same address (Twilio's, say, behind the same proxy) is never refused.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, outcome, reason string) {
	ip := h.clientIP(r)
	if !h.fails.allow(ip) {
		h.m.webhook("rate_limited")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many rejected requests", http.StatusTooManyRequests)
		return
	}
	h.fails.fail(ip)
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
			return nil, errors.New("body too large")
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

// bodyBufs recycles the buffers webhook bodies are read into.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// inbound is POST /api/twilio/messaging/webhook.
func (h *Handler) inbound(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	q := r.URL.Query()
	apiKey, stageID, providerID, agentID := q.Get("apiKey"), q.Get("stageId"), q.Get("channelProviderId"), q.Get("agentId")

	// 1. Query parameters.
	if apiKey == "" || stageID == "" || providerID == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "apiKey, stageId and channelProviderId query parameters are required")
		return
	}
	// 2. Channel provider.
	prov, cfg, err := h.channelProvider(ctx, providerID)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown channel provider or not a twilio_messaging channel")
		return
	}
	form, err := parseForm(w, r)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	// 3. Signature, before the API key: no oracle for key validity.
	publicURL := twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy)
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		h.signatureFailure(prov.ID, "missing")
		h.log.Warn("webhook signature missing", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "missing X-Twilio-Signature")
		return
	}
	if !twilio.ValidSignature(cfg.AuthToken, publicURL, form, sig) {
		h.signatureFailure(prov.ID, "mismatch")
		h.log.Warn("webhook signature mismatch", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "invalid X-Twilio-Signature")
		return
	}
	// 4. API key.
	key, err := h.apiKey(ctx, apiKey)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusUnauthorized, "unauthorized", "invalid API key")
		return
	}
	if !key.IsActive || key.ProjectID == "" {
		h.reject(w, r, http.StatusUnauthorized, "unauthorized", "invalid API key")
		return
	}
	if key.AllowedChannels != nil && !slices.Contains(key.AllowedChannels, store.APITypeTwilioMessaging) {
		h.reject(w, r, http.StatusForbidden, "forbidden", "API key does not allow the twilio_messaging channel")
		return
	}
	if key.AllowedFeatures != nil && (!slices.Contains(key.AllowedFeatures, "conversation_control") || !slices.Contains(key.AllowedFeatures, "text_input")) {
		h.reject(w, r, http.StatusForbidden, "forbidden", "API key does not allow conversation_control and text_input")
		return
	}
	// 5. Stage (and agent) in the key's project.
	if _, err := h.stage(ctx, key.ProjectID, stageID); err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "stageId is not a stage of the API key's project")
		return
	}
	if agentID != "" {
		if _, err := h.agent(ctx, key.ProjectID, agentID); err != nil {
			if transient(err) {
				h.unavailable(w, err)
				return
			}
			h.reject(w, r, http.StatusBadRequest, "bad_request", "agentId is not an agent of the API key's project")
			return
		}
	}
	// 6. Message content.
	m, reason := inboundFromForm(form)
	if reason != "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", reason)
		return
	}
	m.ProviderID, m.ProjectID, m.StageID, m.AgentID = prov.ID, key.ProjectID, stageID, agentID
	m.IdempotencyToken = r.Header.Get("I-Twilio-Idempotency-Token")
	m.CallbackBase = baseOf(publicURL)
	if m.To == "" {
		m.To = cfg.FromNumber
	}
	// 7 and 8. Commit (dedupe is atomic in the store), hand to the session.
	res, err := h.opts.Engine.Accept(ctx, m)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if res.Duplicate {
		h.m.webhook("duplicate")
		h.log.Debug("webhook duplicate", "message_sid", m.MessageSID, "from", twilio.MaskNumber(m.From))
		twiml(w)
		return
	}
	h.m.webhook("accepted")
	h.m.ack(time.Since(start))
	h.log.Debug("webhook accepted", "message_sid", m.MessageSID, "from", twilio.MaskNumber(m.From),
		"provider_id", prov.ID, "stage_id", stageID)
	twiml(w)
}

// inboundFromForm builds the message from Twilio's parameters, or says
// what is wrong with them.
func inboundFromForm(f url.Values) (*store.InboundMessage, string) {
	m := &store.InboundMessage{
		MessageSID:  f.Get("MessageSid"),
		From:        strings.TrimSpace(f.Get("From")),
		To:          strings.TrimSpace(f.Get("To")),
		Body:        f.Get("Body"),
		ProfileName: f.Get("ProfileName"),
	}
	if m.MessageSID == "" {
		m.MessageSID = f.Get("SmsMessageSid")
	}
	if m.MessageSID == "" {
		return nil, "MessageSid is required"
	}
	if len(m.MessageSID) > 64 {
		return nil, "MessageSid is too long"
	}
	if m.From == "" {
		return nil, "From is required"
	}
	if len(m.From) > 64 || len(m.To) > 64 {
		return nil, "From or To is too long"
	}
	if n := f.Get("NumMedia"); n != "" {
		num, err := strconv.Atoi(n)
		if err != nil || num < 0 || num > 20 {
			return nil, "NumMedia must be an integer between 0 and 20"
		}
		for i := 0; i < num; i++ {
			u := f.Get("MediaUrl" + strconv.Itoa(i))
			if u == "" {
				return nil, "MediaUrl" + strconv.Itoa(i) + " is missing"
			}
			m.MediaURLs = append(m.MediaURLs, u)
		}
	}
	if m.Body == "" && len(m.MediaURLs) == 0 {
		return nil, "Body or media is required"
	}
	return m, ""
}

// status is POST /api/twilio/messaging/status, Twilio's StatusCallback.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	providerID := r.URL.Query().Get("channelProviderId")
	if providerID == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "channelProviderId query parameter is required")
		return
	}
	prov, cfg, err := h.channelProvider(ctx, providerID)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown channel provider")
		return
	}
	form, err := parseForm(w, r)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	publicURL := twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy)
	if sig := r.Header.Get("X-Twilio-Signature"); sig == "" || !twilio.ValidSignature(cfg.AuthToken, publicURL, form, sig) {
		h.signatureFailure(prov.ID, "status_callback")
		h.log.Warn("status callback signature invalid", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "invalid X-Twilio-Signature")
		return
	}
	sid, st := form.Get("MessageSid"), strings.ToLower(form.Get("MessageStatus"))
	if sid == "" || st == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "MessageSid and MessageStatus are required")
		return
	}
	if !knownStatuses[st] {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown MessageStatus")
		return
	}
	code := 0
	if c := form.Get("ErrorCode"); c != "" {
		code, err = strconv.Atoi(c)
		if err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad_request", "ErrorCode must be an integer")
			return
		}
	}
	// The send's SID is stored lazily, a few milliseconds after Twilio
	// accepted it; a very fast callback waits for it once: for the engine's
	// queued result, or a moment for a send answered but not yet handed
	// to the engine. A SID still unknown then is not ours, or already
	// pruned: it is acknowledged and dropped.
	_, err = h.opts.Store.SetDeliveryStatus(ctx, sid, st, code)
	if store.ErrorCode(err) == store.ENOTFOUND {
		if !h.opts.Engine.AwaitSendResult(ctx, sid) {
			select {
			case <-time.After(unknownSIDGrace):
			case <-ctx.Done():
				return
			}
			h.opts.Engine.AwaitSendResult(ctx, sid)
		}
		_, err = h.opts.Store.SetDeliveryStatus(ctx, sid, st, code)
		if store.ErrorCode(err) == store.ENOTFOUND {
			h.log.Debug("status callback for an unknown message", "message_sid", sid)
			err = nil
		}
	}
	if err != nil {
		h.unavailable(w, err)
		return
	}
	h.m.deliveryStatus(st)
	w.WriteHeader(http.StatusNoContent)
}

// unknownSIDGrace is how long a status callback for a SID the engine does
// not know yet waits before its last try.
const unknownSIDGrace = 50 * time.Millisecond

var knownStatuses = map[string]bool{
	"accepted": true, "scheduled": true, "queued": true, "sending": true, "sent": true,
	"delivered": true, "undelivered": true, "failed": true, "read": true, "canceled": true,
	"receiving": true, "received": true,
}

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
