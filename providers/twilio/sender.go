package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"switchboard/providers"
)

// DefaultAPIBaseURL is Twilio's REST API.
const DefaultAPIBaseURL = "https://api.twilio.com"

// Defaults of SenderOptions.
const (
	DefaultSendTimeout         = 10 * time.Second // twilio-go's own default
	DefaultDialTimeout         = 5 * time.Second
	DefaultMaxIdleConnsPerHost = 64
	DefaultIdleConnTimeout     = 90 * time.Second
)

// maxCachedClients bounds the client cache; rotating credentials must not
// make it grow without end.
const maxCachedClients = 4096

// SenderOptions configures a Sender. Zero values take the defaults above.
type SenderOptions struct {
	// DefaultBaseURL is TWILIO_API_BASE_URL: where requests go for
	// providers without an apiBaseUrl. Empty means DefaultAPIBaseURL.
	DefaultBaseURL string
	// Timeout bounds one REST call, from dialing to the decoded answer.
	Timeout time.Duration
	// DialTimeout bounds establishing a connection.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost is how many keep-alive connections are pooled per
	// host; set it near the number of concurrent sends.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps connections per host (0: no cap); the global cap
	// on concurrent REST calls belongs to the caller.
	MaxConnsPerHost int
	// IdleConnTimeout closes pooled connections idle for this long.
	IdleConnTimeout time.Duration
	// Transport replaces the Sender's own pooled transport when set (for
	// example to add instrumentation). The Sender still redirects hosts and
	// binds contexts on top of it, but dial-time destination checks are
	// then the Transport's business.
	Transport http.RoundTripper
	// Destinations decides which provider apiBaseUrls may receive requests
	// (and so the account's credentials): a provider whose apiBaseUrl the
	// policy refuses gets a permanent SendError, and the owned transport
	// refuses to connect to link-local and cloud metadata addresses the
	// policy does not allow (through an HTTP(S)_PROXY it sees only the
	// proxy's address: see providers.ProxyVariable).
	// DefaultBaseURL is operator configuration and always trusted. Nil is
	// the default policy.
	Destinations *providers.DestinationPolicy
}

// Message is one outbound SMS or WhatsApp message.
type Message struct {
	From           string // empty: the provider's fromNumber
	To             string
	Body           string
	StatusCallback string // where Twilio posts delivery status updates
	// MediaURLs are sent as MediaUrl (MMS, WhatsApp media), at most
	// MaxMedia. Twilio fetches them; a destination that cannot receive MMS
	// gets them as links, as Twilio decides.
	MediaURLs []string
	// ContentSID sends a Content template ("HX…") instead of Body and
	// MediaURLs, which Twilio ignores then; ContentVariables is its JSON
	// object of placeholder values ("" for none).
	ContentSID       string
	ContentVariables string
}

// MaxMedia is how many MediaUrl values Twilio accepts on one message.
const MaxMedia = 10

// Result is Twilio's answer to an accepted message.
type Result struct {
	SID         string // "SM…"
	Status      string // usually "queued"
	NumSegments int    // 0 when Twilio did not say
}

// Sender sends messages through Twilio's REST API with twilio-go. It owns one
// pooled HTTP transport shared by every provider, and keeps one twilio-go
// client per (account SID, credentials, base URL). It is safe for concurrent
// use.
//
// twilio-go has neither a base-URL option nor a context parameter: its client
// builds every request against https://api.twilio.com with
// context.Background(). The Sender therefore gives twilio-go, for each call,
// an http.Client whose RoundTripper rewrites the scheme and host (and
// prepends the path of the base URL) and replaces the request's context with
// the caller's, bounded by Timeout. Cancelling the caller's context aborts
// the call at any stage. The RoundTripper also reads error answers into
// memory and releases their connection, which twilio-go itself never does
// (it does not close the body of an error answer), and records whether the
// request was written, which is what makes a transport failure safe to retry.
type Sender struct {
	opts        SenderOptions
	defaultBase string
	rt          http.RoundTripper
	owned       *http.Transport // nil when opts.Transport was given

	mu      sync.RWMutex
	clients map[clientKey]*clientEntry
}

// clientKey identifies a cached client. explicit is whether the base URL
// came from the provider (API input, checked against the destination
// policy) rather than from TWILIO_API_BASE_URL (trusted).
type clientKey struct {
	accountSID, authToken, baseURL string
	apiKeySID, apiKeySecret        string
	explicit                       bool
}

// clientEntry is the cached twilio-go client of one key. tmpl carries the
// credentials and account; each call copies it and binds its own
// http.Client.
type clientEntry struct {
	tmpl twclient.Client
	base *url.URL // nil: Twilio's own API, no rewriting
	err  error    // an invalid base URL, reported by every Send
}

// NewSender returns a Sender with its own pooled transport.
func NewSender(opts SenderOptions) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultSendTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = DefaultIdleConnTimeout
	}
	s := &Sender{
		opts:        opts,
		defaultBase: strings.TrimRight(opts.DefaultBaseURL, "/"),
		clients:     make(map[clientKey]*clientEntry),
	}
	if s.defaultBase == "" {
		s.defaultBase = DefaultAPIBaseURL
	}
	if opts.Transport != nil {
		s.rt = opts.Transport
	} else {
		s.owned = &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   opts.DialTimeout,
				KeepAlive: 30 * time.Second,
				Control:   opts.Destinations.Trust(s.defaultBase).Control,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          max(100, 4*opts.MaxIdleConnsPerHost),
			MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
			MaxConnsPerHost:       opts.MaxConnsPerHost,
			IdleConnTimeout:       opts.IdleConnTimeout,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
		s.rt = s.owned
	}
	return s
}

// Close releases the pooled connections. Sends may still be made afterwards;
// they open new connections.
func (s *Sender) Close() {
	if s.owned != nil {
		s.owned.CloseIdleConnections()
	}
}

// ValidateBaseURL checks a Twilio API base URL (apiBaseUrl,
// TWILIO_API_BASE_URL): absolute http or https, with a host, and no query or
// fragment.
func ValidateBaseURL(s string) error {
	_, err := parseBaseURL(s)
	return err
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("twilio: invalid API base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("twilio: API base URL %q must be http(s)://host[:port][/path]", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("twilio: API base URL %q must not carry credentials, a query or a fragment", s)
	}
	return u, nil
}

// baseURLFor applies the precedence: the provider's apiBaseUrl, else
// TWILIO_API_BASE_URL, else Twilio's.
func (s *Sender) baseURLFor(cfg providers.TwilioConfig) string {
	if cfg.APIBaseURL != "" {
		return strings.TrimRight(cfg.APIBaseURL, "/")
	}
	return s.defaultBase
}

// client returns the cached client entry of a provider configuration.
func (s *Sender) client(cfg providers.TwilioConfig) *clientEntry {
	key := clientKey{accountSID: cfg.AccountSID, authToken: cfg.AuthToken, baseURL: s.baseURLFor(cfg),
		apiKeySID: cfg.APIKeySID, apiKeySecret: cfg.APIKeySecret, explicit: cfg.APIBaseURL != ""}
	s.mu.RLock()
	e := s.clients[key]
	s.mu.RUnlock()
	if e != nil {
		return e
	}

	e = &clientEntry{tmpl: twclient.Client{Credentials: restCredentials(cfg)}}
	e.tmpl.SetAccountSid(cfg.AccountSID)
	if key.baseURL != DefaultAPIBaseURL {
		e.base, e.err = parseBaseURL(key.baseURL)
	}
	if e.err == nil && key.explicit {
		// API input, unlike TWILIO_API_BASE_URL: checked on every client
		// built, so a provider saved before PROVIDER_URL_ALLOWLIST was
		// tightened cannot send its token to a host now refused.
		if err := s.opts.Destinations.CheckURL(cfg.APIBaseURL); err != nil {
			e.err = fmt.Errorf("twilio: provider apiBaseUrl refused: %w", err)
		}
	}
	s.mu.Lock()
	if prev := s.clients[key]; prev != nil {
		e = prev
	} else {
		if len(s.clients) >= maxCachedClients {
			clear(s.clients)
		}
		s.clients[key] = e
	}
	s.mu.Unlock()
	return e
}

// restCredentials are the Basic-auth credentials of a provider's REST
// calls: its API key when it has one (user name the key SID, password the
// secret; the account stays in the URL, as twilio-go's ClientParams do it),
// else the account SID and auth token.
func restCredentials(cfg providers.TwilioConfig) *twclient.Credentials {
	if cfg.APIKeySID != "" && cfg.APIKeySecret != "" {
		return twclient.NewCredentials(cfg.APIKeySID, cfg.APIKeySecret)
	}
	return twclient.NewCredentials(cfg.AccountSID, cfg.AuthToken)
}

// Send sends msg with the provider cfg and returns Twilio's answer. Every
// failure is a *SendError whose Class says whether a retry is safe. ctx
// bounds and cancels the call; the Sender's Timeout applies on top.
func (s *Sender) Send(ctx context.Context, cfg providers.TwilioConfig, msg Message) (Result, error) {
	from, serr := addresses(cfg, msg)
	if serr != nil {
		return Result{}, serr
	}
	switch {
	case msg.ContentSID != "":
	case msg.ContentVariables != "":
		return Result{}, &SendError{Code: CodeContentSIDRequired, Class: ClassPermanent, Message: "ContentVariables need a ContentSid"}
	case msg.Body == "" && len(msg.MediaURLs) == 0:
		return Result{}, &SendError{Code: CodeBodyRequired, Class: ClassPermanent, Message: "a body or media is required"}
	case len(msg.MediaURLs) > MaxMedia:
		return Result{}, &SendError{Class: ClassPermanent, Message: fmt.Sprintf("at most %d media URLs per message", MaxMedia)}
	}
	api, bt, cancel, serr := s.begin(ctx, cfg)
	if serr != nil {
		return Result{}, serr
	}
	defer cancel()

	params := &openapi.CreateMessageParams{}
	params.SetPathAccountSid(cfg.AccountSID)
	params.SetTo(msg.To)
	if from != "" {
		params.SetFrom(from)
	}
	if cfg.MessagingServiceSID != "" {
		// With From, Twilio sends from that number and applies the
		// service; without, the service picks the sender.
		params.SetMessagingServiceSid(cfg.MessagingServiceSID)
	}
	if msg.ContentSID != "" {
		// A template is the whole message: Twilio refuses a Body next to
		// it on WhatsApp outside the window, so none is sent.
		params.SetContentSid(msg.ContentSID)
		if msg.ContentVariables != "" {
			params.SetContentVariables(msg.ContentVariables)
		}
	} else {
		if msg.Body != "" {
			params.SetBody(msg.Body)
		}
		if len(msg.MediaURLs) > 0 {
			params.SetMediaUrl(msg.MediaURLs)
		}
	}
	if msg.StatusCallback != "" {
		params.SetStatusCallback(msg.StatusCallback)
	}

	m, err := api.CreateMessage(params)
	if err != nil {
		return Result{}, sendError(err, bt)
	}
	res := resultOf(m)
	if res.SID == "" {
		return res, &SendError{Status: bt.status, Class: ClassUnknown, Message: "answer carries no message sid"}
	}
	return res, nil
}

// begin prepares one REST call with the provider cfg: a twilio-go API
// service whose http.Client is bound, through a fresh boundTransport, to ctx
// bounded by the Sender's Timeout. The caller must call cancel when the call
// is over, and reads the transport's status when classifying errors. The
// transport is per call so that its status and written flag describe this
// call alone.
func (s *Sender) begin(ctx context.Context, cfg providers.TwilioConfig) (*openapi.ApiService, *boundTransport, context.CancelFunc, *SendError) {
	h, bt, cancel, serr := s.beginHandler(ctx, cfg)
	if serr != nil {
		return nil, nil, nil, serr
	}
	return openapi.NewApiService(h), bt, cancel, nil
}

// beginHandler is begin for any of twilio-go's API services: the request
// handler they are built on.
func (s *Sender) beginHandler(ctx context.Context, cfg providers.TwilioConfig) (*twclient.RequestHandler, *boundTransport, context.CancelFunc, *SendError) {
	e := s.client(cfg)
	if e.err != nil {
		return nil, nil, nil, &SendError{Class: ClassPermanent, Message: e.err.Error(), Err: e.err}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, &SendError{Class: ClassRetryable, Message: "not sent: " + err.Error(), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	bt := &boundTransport{ctx: ctx, base: e.base, next: s.rt}
	c := e.tmpl // a copy: credentials shared, http.Client per call
	c.HTTPClient = &http.Client{Transport: bt, CheckRedirect: noRedirect}
	return &twclient.RequestHandler{Client: &c}, bt, cancel, nil
}

// sendError turns what twilio-go returned into a *SendError, with the
// answer's Retry-After when it had one.
func sendError(err error, bt *boundTransport) *SendError {
	se := sendErrorOf(err, bt)
	if bt.retryAfter != "" {
		se.RetryAfter = ParseRetryAfter(bt.retryAfter, time.Now())
	}
	return se
}

func sendErrorOf(err error, bt *boundTransport) *SendError {
	bt.nameCalled(err)
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		status := rest.Status
		if status == 0 {
			status = bt.status
		}
		return &SendError{Status: status, Code: rest.Code, Message: rest.Message, Class: ClassifyStatus(status, rest.Code), Err: err}
	}
	var v1 *twclient.RestErrorV1
	if errors.As(err, &v1) {
		status := v1.HttpStatusCode
		if status == 0 {
			status = bt.status
		}
		return &SendError{Status: status, Code: v1.Code, Message: v1.Message, Class: ClassifyStatus(status, v1.Code), Err: err}
	}
	if bt.status != 0 {
		// An answer arrived but could not be decoded: an error page from a
		// proxy, or a garbled success.
		class := ClassUnknown
		if bt.status >= 400 {
			class = ClassifyStatus(bt.status, 0)
		}
		return &SendError{Status: bt.status, Class: class, Message: "unreadable answer: " + err.Error(), Err: err}
	}
	return &SendError{Class: classifyTransport(err), Message: err.Error(), Err: err}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// addresses returns the From of a message: its own, else the provider's
// fromNumber; "" only when the provider sends through a Messaging Service,
// which then picks the sender.
func addresses(cfg providers.TwilioConfig, msg Message) (string, *SendError) {
	from := msg.From
	if from == "" {
		from = cfg.FromNumber
	}
	switch {
	case msg.To == "":
		return "", &SendError{Code: 21604, Class: ClassPermanent, Message: "a To address is required"}
	case from == "" && cfg.MessagingServiceSID == "":
		return "", &SendError{Code: 21603, Class: ClassPermanent, Message: "a From address or a Messaging Service is required"}
	}
	return from, nil
}

func resultOf(m *openapi.ApiV2010Message) Result {
	var res Result
	if m.Sid != nil {
		res.SID = *m.Sid
	}
	if m.Status != nil {
		res.Status = *m.Status
	}
	if m.NumSegments != nil {
		res.NumSegments, _ = strconv.Atoi(*m.NumSegments)
	}
	return res
}
