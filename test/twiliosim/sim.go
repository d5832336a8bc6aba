// Package twiliosim is a simulated Twilio Messaging API for end-to-end tests,
// the load generator and the phone emulator. It is the only fake in
// Switchboard and speaks Twilio's real wire format: it accepts
// POST /2010-04-01/Accounts/{Sid}/Messages.json with HTTP Basic auth (the
// account's SID and auth token, or one of its API keys) and answers with
// Twilio's Message JSON or error JSON, lists messages with
// GET Messages.json (filters, paging) and fetches one with
// GET Messages/{MessageSid}.json, lists incoming phone numbers (their
// sms_url) with GET IncomingPhoneNumbers.json, sends through Messaging
// Services (a sender pool; GET /v1/Services/{Sid} of messaging.twilio.com),
// records what it received, injects faults (429 with or without
// Retry-After, 5xx, timeouts, sends held past the client's timeout but
// accepted, permanent error codes, latency), posts signed status callbacks,
// sends Content templates (ContentSid, ContentVariables; AddContent),
// enforces WhatsApp's 24-hour window when asked (63016 for a free-form
// message to someone who has not written, by its own inbound records), and
// signs inbound webhooks exactly as Twilio does.
//
// It does not import the testing package, so a non-test binary can run it.
package twiliosim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"switchboard/providers/twilio"
)

// apiPrefix starts every account resource path.
const apiPrefix = "/2010-04-01/Accounts/"

// Faults are random failures injected into Messages.json calls. Each rate is
// a probability in [0, 1], drawn independently per call in this order.
type Faults struct {
	Rate429     float64 // 429 with code 20429
	Rate5xx     float64 // 500, 502 or 503 (code 20500)
	RateTimeout float64 // the request is held, unanswered, until the client gives up
}

// Options configures a Server.
type Options struct {
	// Callbacks enables status callbacks to each message's StatusCallback.
	Callbacks bool
	// CallbackDelay is waited before each status callback (0: none).
	CallbackDelay time.Duration
	// CallbackClient posts the callbacks (default: a pooled client with a
	// 15 s timeout, as Twilio's).
	CallbackClient *http.Client
	// CallbackWorkers is the number of goroutines posting callbacks
	// (default 4); each message's callbacks are posted in order by one.
	CallbackWorkers int
	// Latency is added before answering each Messages.json call.
	Latency time.Duration
	// Faults are the initial random fault rates.
	Faults Faults
	// Seed seeds the fault dice (0: random).
	Seed uint64
	// OnMessage, when set, is called synchronously with every accepted
	// message before the answer is written. It must be fast.
	OnMessage func(Message)
	// DiscardMessages keeps counts only, for long load tests: Messages and
	// MessagesTo return nothing; OnMessage and WaitFor still work.
	DiscardMessages bool
	// HoldTimeout is how long a timeout fault holds a request before giving
	// up with a 504 (default 60 s). Close releases held requests at once.
	HoldTimeout time.Duration
	// PadResponses appends this many spaces (valid JSON white space) to
	// every JSON answer, which exercises clients that stop reading at the end
	// of the JSON value and so may pin or lose their connection.
	PadResponses int
	// Logger receives callback failures (default: discarded).
	Logger *slog.Logger
	// WhatsAppWindow enforces WhatsApp's 24-hour window: a free-form
	// (non-template) message to a whatsapp: address that has not messaged
	// the sender number within WhatsAppWindow, by the sim's own inbound
	// records (RecordInbound), fails with 63016. Off by default, so that
	// tests posting webhooks without recording them can still be answered.
	WhatsAppWindow bool
	// WhatsAppWindowAsync makes a window-closed send fail as Twilio
	// usually reports it: accepted (201, queued), then a status callback
	// "failed" with ErrorCode 63016. Without it the REST call itself is
	// refused (400, 63016).
	WhatsAppWindowAsync bool
	// AnyContent accepts every well-formed ContentSid ("HX" and 32 hex
	// digits) as a template without a body, instead of refusing those not
	// added with AddContent (21655): for the phone emulator, which cannot
	// know the account's templates.
	AnyContent bool
}

// Message is a message the simulated Twilio accepted.
type Message struct {
	SID            string
	AccountSID     string
	From           string
	To             string
	Body           string
	StatusCallback string
	MediaURLs      []string
	// ContentSID and ContentVariables are a Content template send's; its
	// Body is the template rendered with the variables.
	ContentSID       string
	ContentVariables string
	NumSegments      int
	Status           string // "queued", then as status callbacks report
	ErrorCode        int    // delivery error code, 0 if none
	Form             url.Values
	Received         time.Time
	// Via is the listener the message was sent to: 0 for Start's, k for
	// the k-th Listen (one Twilio that several servers reach on their own
	// addresses, so that each reply's sender is known).
	Via int
}

// Attempt is a Messages.json call answered with an error, injected or not.
type Attempt struct {
	AccountSID string
	From       string
	To         string
	Body       string
	Status     int  // HTTP status answered (504 for a timeout fault)
	Code       int  // Twilio error code answered
	Injected   bool // a fault injected on purpose, as opposed to a validation or auth failure
	Received   time.Time
}

// Callback is one status callback the simulated Twilio posted.
type Callback struct {
	MessageSID string
	Status     string
	ErrorCode  int
	URL        string
	HTTPStatus int    // the endpoint's answer, 0 when the post failed
	Err        string // the transport error, if any
}

// failSpec is one programmed failure: HTTP status (0: timeout) and code,
// and the Retry-After header to answer with ("" for none).
type failSpec struct {
	status, code int
	retryAfter   string
}

// Server is a simulated Twilio. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	client *http.Client

	mu         sync.Mutex
	accounts   map[string]string // sid -> auth token
	apiKeys    map[string]apiKey // key sid -> key
	authUsers  []string          // Basic-auth user of every authenticated call, in order
	messages   []Message
	bySID      map[string]int // index into messages
	count      int
	failures   []Attempt
	callbacks  []Callback
	failQueue  []failSpec
	lateAccept []time.Duration // HoldNextThenAccept
	listFails  []failSpec      // FailNextList
	listCalls  int
	// numbers are the accounts' incoming phone numbers: account sid →
	// E.164 → number (SetNumberWebhook).
	numbers     map[string]map[string]number
	services    map[string]service // Messaging Service sid → service
	numberCalls int
	fixed       *failSpec
	recipients  map[string]int // To -> error code
	// contents are the accounts' Content templates: account sid →
	// content sid → body (AddContent).
	contents  map[string]map[string]string
	window    bool                    // enforce the WhatsApp window
	inbound   map[[2]string]time.Time // (user, number) → last inbound message
	faults    Faults
	latency   time.Duration
	onMessage func(Message)
	rng       *rand.Rand
	notify    chan struct{} // closed and cleared on every change

	jobs      chan callbackJob
	closed    chan struct{}
	closeOnce sync.Once
	workers   sync.WaitGroup
	srv       *http.Server
	extra     []*http.Server // Listen's
	url       string
}

// New returns a Server; call Start to listen, or use it as an http.Handler
// (for example with httptest.NewServer).
func New(opts Options) *Server {
	if opts.CallbackWorkers <= 0 {
		opts.CallbackWorkers = 4
	}
	if opts.HoldTimeout <= 0 {
		opts.HoldTimeout = 60 * time.Second
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		client:     opts.CallbackClient,
		accounts:   make(map[string]string),
		bySID:      make(map[string]int),
		recipients: make(map[string]int),
		faults:     opts.Faults,
		latency:    opts.Latency,
		onMessage:  opts.OnMessage,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		window:     opts.WhatsAppWindow,
		jobs:       make(chan callbackJob, 4096),
		closed:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConnsPerHost: opts.CallbackWorkers,
				IdleConnTimeout:     90 * time.Second,
			},
		}
	}
	for range opts.CallbackWorkers {
		s.workers.Add(1)
		go s.callbackWorker()
	}
	return s
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background until Close.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("twiliosim: listen: %w", err)
	}
	s.mu.Lock()
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// viaKey is the context key of the listener a request came in on.
type viaKey struct{}

// Listen serves the same simulated Twilio on another address as well, and
// returns its base URL: messages sent to it carry Via k for the k-th call.
// Start must have been called first.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("twiliosim: listen: %w", err)
	}
	s.mu.Lock()
	via := len(s.extra) + 1
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viaKey{}, via)))
	})}
	s.extra = append(s.extra, srv)
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// URL returns the base URL of a started server ("http://127.0.0.1:port"),
// the value for apiBaseUrl or TWILIO_API_BASE_URL.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server, releases held requests and stops posting
// callbacks. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		srv, extra := s.srv, s.extra
		s.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
		for _, x := range extra {
			_ = x.Close()
		}
		s.workers.Wait()
		if t, ok := s.client.Transport.(*http.Transport); ok && s.opts.CallbackClient == nil {
			t.CloseIdleConnections()
		}
	})
}

// apiKey is an API key of an account.
type apiKey struct{ account, secret string }

// AddAPIKey registers an API key of account sid that the API accepts in
// place of the auth token, as Twilio does: Basic auth with the key SID as
// user name and its secret as password, the account in the URL. A key
// authenticates for its own account only.
func (s *Server) AddAPIKey(sid, keySID, secret string) {
	s.mu.Lock()
	if s.apiKeys == nil {
		s.apiKeys = map[string]apiKey{}
	}
	s.apiKeys[keySID] = apiKey{account: sid, secret: secret}
	s.mu.Unlock()
}

// RemoveAPIKey revokes an API key: calls made with it fail with 401 (code
// 20003).
func (s *Server) RemoveAPIKey(keySID string) {
	s.mu.Lock()
	delete(s.apiKeys, keySID)
	s.mu.Unlock()
}

// AuthUsers returns the Basic-auth user name (account SID or API key SID)
// of every authenticated REST call, in order.
func (s *Server) AuthUsers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authUsers...)
}

// AddAccount registers an account the API accepts (Basic auth sid:token).
func (s *Server) AddAccount(sid, authToken string) {
	s.mu.Lock()
	s.accounts[sid] = authToken
	s.mu.Unlock()
}

// FailNext makes the next n Messages.json calls (after authentication) fail
// with HTTP status and Twilio code; status 0 makes them time out instead
// (held unanswered). Programmed failures are used before the random ones.
func (s *Server) FailNext(n, status, code int) {
	s.mu.Lock()
	for range n {
		s.failQueue = append(s.failQueue, failSpec{status: status, code: code})
	}
	s.mu.Unlock()
}

// FailNextRetryAfter is FailNext whose answers carry a Retry-After header
// with the value retryAfter (seconds, or an HTTP date), as Twilio's 429
// answers do.
func (s *Server) FailNextRetryAfter(n, status, code int, retryAfter string) {
	s.mu.Lock()
	for range n {
		s.failQueue = append(s.failQueue, failSpec{status: status, code: code, retryAfter: retryAfter})
	}
	s.mu.Unlock()
}

// HoldNextThenAccept makes the next n Messages.json calls (after
// authentication) wait d before they are processed, whether or not the
// client is still waiting: a client that gives up sooner leaves a message
// Twilio nonetheless accepts (and lists), as a real send can when its
// answer is lost. Programmed failures (FailNext) are drawn after the wait.
func (s *Server) HoldNextThenAccept(n int, d time.Duration) {
	s.mu.Lock()
	for range n {
		s.lateAccept = append(s.lateAccept, d)
	}
	s.mu.Unlock()
}

// FailNextList makes the next n authenticated message list calls (GET
// Messages.json) fail with HTTP status and Twilio code; status 0 makes them
// time out instead. List calls are kept apart from FailNext, SetFixedError
// and the random faults so that tests of sending are not disturbed by a
// reconciliation reading the list, and the other way round.
func (s *Server) FailNextList(n, status, code int) {
	s.mu.Lock()
	for range n {
		s.listFails = append(s.listFails, failSpec{status: status, code: code})
	}
	s.mu.Unlock()
}

// ListCalls returns how many message list calls (GET Messages.json) were
// made, answered or not, including unauthenticated ones.
func (s *Server) ListCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listCalls
}

// SetFixedError makes every call (after authentication) fail with HTTP
// status and Twilio code until SetFixedError(0, 0) clears it. For every call
// to time out, use Faults{RateTimeout: 1}.
func (s *Server) SetFixedError(status, code int) {
	s.mu.Lock()
	if status == 0 {
		s.fixed = nil
	} else {
		s.fixed = &failSpec{status: status, code: code}
	}
	s.mu.Unlock()
}

// SetRecipientError makes messages to `to` fail with a Twilio error code
// (0 clears). Codes 30000-30999 are delivery failures: the message is
// accepted (201) and its status callbacks report "undelivered" with the
// code. Other codes (21610 opted out, 21211, 63016, ...) are answered at
// once with HTTP 400.
func (s *Server) SetRecipientError(to string, code int) {
	s.mu.Lock()
	if code == 0 {
		delete(s.recipients, to)
	} else {
		s.recipients[to] = code
	}
	s.mu.Unlock()
}

// SetFaults replaces the random fault rates.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// SetLatency replaces the latency added to each Messages.json call.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetOnMessage replaces the OnMessage hook.
func (s *Server) SetOnMessage(fn func(Message)) {
	s.mu.Lock()
	s.onMessage = fn
	s.mu.Unlock()
}

// Reset forgets recorded messages, failures and callbacks, and clears every
// injected fault. Accounts stay.
func (s *Server) Reset() {
	s.mu.Lock()
	s.messages, s.failures, s.callbacks, s.failQueue, s.lateAccept = nil, nil, nil, nil, nil
	s.listFails, s.listCalls, s.authUsers = nil, 0, nil
	s.bySID = make(map[string]int)
	s.count = 0
	s.fixed = nil
	s.recipients = make(map[string]int)
	s.inbound = nil
	s.faults = Faults{}
	s.latency = 0
	s.changedLocked()
	s.mu.Unlock()
}

// Messages returns the accepted messages in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.messages)
}

// MessagesTo returns the accepted messages addressed to `to`, in order.
func (s *Server) MessagesTo(to string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.To == to {
			out = append(out, cloneMessage(m))
		}
	}
	return out
}

// Message returns the accepted message with sid.
func (s *Server) Message(sid string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.bySID[sid]
	if !ok {
		return Message{}, false
	}
	return cloneMessage(s.messages[i]), true
}

// Count returns how many messages were accepted (also with
// DiscardMessages).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Failures returns the calls answered with an error, in order.
func (s *Server) Failures() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.failures...)
}

// Callbacks returns the status callbacks posted so far, in order.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.callbacks...)
}

// Wait blocks until cond returns true or ctx ends. cond is evaluated after
// every recorded change (message, failure, callback), never by polling; it
// may call the Server's methods.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("twiliosim: wait: %w", ctx.Err())
		}
	}
}

// WaitFor blocks until at least n messages were accepted or ctx ends.
func (s *Server) WaitFor(ctx context.Context, n int) error {
	err := s.Wait(ctx, func() bool { return s.Count() >= n })
	if err != nil {
		return fmt.Errorf("twiliosim: waiting for %d messages, have %d: %w", n, s.Count(), err)
	}
	return nil
}

// WaitForCallbacks blocks until at least n status callbacks were posted or
// ctx ends.
func (s *Server) WaitForCallbacks(ctx context.Context, n int) error {
	count := func() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.callbacks) }
	err := s.Wait(ctx, func() bool { return count() >= n })
	if err != nil {
		return fmt.Errorf("twiliosim: waiting for %d callbacks, have %d: %w", n, count(), err)
	}
	return nil
}

// changedLocked wakes the waiters. s.mu must be held.
func (s *Server) changedLocked() {
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
}

// ServeHTTP implements http.Handler: the subset of Twilio's REST API the
// sender uses.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Twilio-Request-Id", newSID("RQ"))
	if mg, ok := strings.CutPrefix(r.URL.Path, "/v1/Services/"); ok && r.Method == http.MethodGet && !strings.Contains(mg, "/") {
		s.fetchService(w, r, mg)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	sid, resource, _ := strings.Cut(rest, "/")
	switch {
	case resource == "Messages.json" && r.Method == http.MethodPost:
		s.createMessage(w, r, sid)
	case resource == "Messages.json" && r.Method == http.MethodGet:
		s.listMessages(w, r, sid)
	case strings.HasPrefix(resource, "Messages/") && strings.HasSuffix(resource, ".json") && r.Method == http.MethodGet:
		s.fetchMessage(w, r, sid, strings.TrimSuffix(strings.TrimPrefix(resource, "Messages/"), ".json"))
	case resource == "IncomingPhoneNumbers.json" && r.Method == http.MethodGet:
		s.listNumbers(w, r, sid)
	case resource == "Messages.json" || strings.HasPrefix(resource, "Messages/"):
		s.writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
	default:
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	}
}

// authenticate checks Basic auth against the account in the path: its
// SID and auth token, or one of its API keys. It returns the account's auth
// token, which signs its status callbacks either way.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, sid string) (token string, ok bool) {
	user, pass, hasAuth := r.BasicAuth()
	s.mu.Lock()
	token, known := s.accounts[sid]
	key, isKey := s.apiKeys[user]
	valid := hasAuth && known && (user == sid && pass == token || isKey && key.account == sid && pass == key.secret)
	if valid {
		s.authUsers = append(s.authUsers, user)
	}
	s.mu.Unlock()
	if !valid {
		s.recordFailure(Attempt{AccountSID: sid, Status: http.StatusUnauthorized, Code: 20003})
		s.writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return "", false
	}
	return token, true
}

func (s *Server) fetchMessage(w http.ResponseWriter, r *http.Request, sid, msgSID string) {
	if _, ok := s.authenticate(w, r, sid); !ok {
		return
	}
	m, ok := s.Message(msgSID)
	if !ok || m.AccountSID != sid {
		s.writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	s.writeJSON(w, http.StatusOK, messageJSON(m))
}

// createMessage handles POST Messages.json.
func (s *Server) createMessage(w http.ResponseWriter, r *http.Request, sid string) {
	token, ok := s.authenticate(w, r, sid)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.reject(w, Attempt{AccountSID: sid}, http.StatusBadRequest, 20001, "Invalid form body", false)
		return
	}
	form := r.PostForm
	att := Attempt{AccountSID: sid, From: form.Get("From"), To: form.Get("To"), Body: form.Get("Body")}

	s.mu.Lock()
	latency := s.latency
	var late time.Duration
	if len(s.lateAccept) > 0 {
		late, s.lateAccept = s.lateAccept[0], s.lateAccept[1:]
	}
	s.mu.Unlock()
	if late > 0 && !s.pause(context.Background(), late) {
		return // closed
	}
	if latency > 0 && !s.pause(r.Context(), latency) {
		abort(r)
		return
	}

	if spec, injected := s.nextFault(); injected {
		if spec.status == 0 {
			s.hold(w, r, att)
			return
		}
		if spec.retryAfter != "" {
			w.Header().Set("Retry-After", spec.retryAfter)
		}
		s.reject(w, att, spec.status, spec.code, faultMessage(spec.code), true)
		return
	}

	to, from, body := att.To, att.From, att.Body
	media := form["MediaUrl"]
	if to == "" {
		s.reject(w, att, 400, 21604, "A 'To' phone number is required.", false)
		return
	}
	if from == "" && form.Get("MessagingServiceSid") == "" {
		s.reject(w, att, 400, 21603, "A 'From' phone number is required.", false)
		return
	}
	toAddr, err := twilio.ParseAddress(to)
	if err != nil {
		s.reject(w, att, 400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to), false)
		return
	}
	if ms := form.Get("MessagingServiceSid"); ms != "" {
		sender, code := s.serviceSender(sid, ms, from, toAddr)
		if code != 0 {
			msg := "The Messaging Service is invalid"
			if code == 21704 {
				msg = "The Messaging Service contains no phone numbers"
			}
			s.reject(w, att, 400, code, msg, false)
			return
		}
		from = sender
	}
	if from != "" {
		fromAddr, err := twilio.ParseAddress(from)
		if err != nil {
			s.reject(w, att, 400, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from), false)
			return
		}
		if fromAddr.Channel != toAddr.Channel {
			s.reject(w, att, 400, 21910, "Invalid From and To pair. From and To should be of the same channel", false)
			return
		}
	}
	contentSID, contentVars := form.Get("ContentSid"), form.Get("ContentVariables")
	if contentSID == "" && contentVars != "" {
		s.reject(w, att, 400, CodeContentSIDMissing, "ContentSid Required", false)
		return
	}
	if contentSID != "" {
		s.mu.Lock()
		tmpl, ok := s.contents[sid][contentSID]
		s.mu.Unlock()
		if !ok && !(s.opts.AnyContent && contentSIDRE.MatchString(contentSID)) {
			s.reject(w, att, 400, CodeContentSIDInvalid, "The ContentSid is Invalid", false)
			return
		}
		// The template is the message: Body and MediaUrl are not sent.
		body, media = renderContent(tmpl, contentVars), nil
	}
	if body == "" && len(media) == 0 && contentSID == "" {
		s.reject(w, att, 400, 21602, "Message body is required.", false)
		return
	}
	windowClosed := false
	if contentSID == "" && toAddr.IsWhatsApp() {
		s.mu.Lock()
		closed := s.window && !s.windowOpenLocked(from, to)
		s.mu.Unlock()
		if closed && !s.opts.WhatsAppWindowAsync {
			s.reject(w, att, 400, CodeWindowClosed, faultMessage(CodeWindowClosed), false)
			return
		}
		windowClosed = closed
	}
	if len(utf16.Encode([]rune(body))) > twilio.MaxBodyLength {
		s.reject(w, att, 400, 21617, "The concatenated message body exceeds the 1600 character limit.", false)
		return
	}
	s.mu.Lock()
	recipientCode := s.recipients[to]
	s.mu.Unlock()
	deliveryCode := 0
	if windowClosed {
		deliveryCode = CodeWindowClosed
	} else if recipientCode >= 30000 && recipientCode < 31000 {
		deliveryCode = recipientCode
	} else if recipientCode != 0 {
		s.reject(w, att, 400, recipientCode, faultMessage(recipientCode), true)
		return
	}

	_, segments := twilio.Segments(body)
	m := Message{
		SID:              NewMessageSID(),
		AccountSID:       sid,
		From:             from,
		To:               to,
		Body:             body,
		StatusCallback:   form.Get("StatusCallback"),
		MediaURLs:        media,
		ContentSID:       contentSID,
		ContentVariables: contentVars,
		NumSegments:      segments,
		Status:           "queued",
		Form:             form,
		Received:         time.Now().UTC(),
	}
	m.Via, _ = r.Context().Value(viaKey{}).(int)
	s.mu.Lock()
	s.count++
	if !s.opts.DiscardMessages {
		s.bySID[m.SID] = len(s.messages)
		s.messages = append(s.messages, m)
	}
	hook := s.onMessage
	s.changedLocked()
	s.mu.Unlock()
	if hook != nil {
		hook(cloneMessage(m))
	}
	s.writeJSON(w, http.StatusCreated, messageJSON(m))

	if s.opts.Callbacks && m.StatusCallback != "" {
		job := callbackJob{msg: m, token: token, errorCode: deliveryCode}
		select {
		case s.jobs <- job:
		case <-s.closed:
		}
	}
}

// nextFault returns the failure to inject for this call, if any.
func (s *Server) nextFault() (failSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failQueue) > 0 {
		f := s.failQueue[0]
		s.failQueue = s.failQueue[1:]
		return f, true
	}
	if s.fixed != nil {
		return *s.fixed, true
	}
	f := s.faults
	if f.Rate429 > 0 && s.rng.Float64() < f.Rate429 {
		return failSpec{status: http.StatusTooManyRequests, code: twilio.CodeTooManyRequests}, true
	}
	if f.Rate5xx > 0 && s.rng.Float64() < f.Rate5xx {
		status := []int{500, 502, 503}[s.rng.IntN(3)]
		return failSpec{status: status, code: 20500}, true
	}
	if f.RateTimeout > 0 && s.rng.Float64() < f.RateTimeout {
		return failSpec{}, true
	}
	return failSpec{}, false
}

// pause waits d; false when the client went away or the server closed.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// hold simulates a request Twilio never answers in time.
func (s *Server) hold(w http.ResponseWriter, r *http.Request, att Attempt) {
	att.Status, att.Code, att.Injected = http.StatusGatewayTimeout, 0, true
	s.recordFailure(att)
	if s.pause(r.Context(), s.opts.HoldTimeout) {
		s.writeError(w, http.StatusGatewayTimeout, 20504, "Gateway timeout")
		return
	}
	abort(r)
}

// abort drops the connection of a request the server gives up on while the
// client still waits (Close), so that it never reads an empty 200.
func abort(r *http.Request) {
	if r.Context().Err() == nil {
		panic(http.ErrAbortHandler)
	}
}

// reject records a failed attempt and answers it with Twilio's error JSON.
func (s *Server) reject(w http.ResponseWriter, att Attempt, status, code int, msg string, injected bool) {
	att.Status, att.Code, att.Injected = status, code, injected
	s.recordFailure(att)
	s.writeError(w, status, code, msg)
}

func (s *Server) recordFailure(att Attempt) {
	att.Received = time.Now().UTC()
	s.mu.Lock()
	s.failures = append(s.failures, att)
	s.changedLocked()
	s.mu.Unlock()
}

// faultMessage returns Twilio's wording for an error code.
func faultMessage(code int) string {
	switch code {
	case 20429:
		return "Too Many Requests"
	case 20500:
		return "An internal server error has occurred"
	case 21211:
		return "The 'To' number is not a valid phone number."
	case 21408:
		return "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"
	case 21610:
		return "Attempt to send to unsubscribed recipient"
	case 21614:
		return "'To' number is not a valid mobile number"
	case 21617:
		return "The concatenated message body exceeds the 1600 character limit."
	case 63016:
		return "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template."
	default:
		return "Error " + strconv.Itoa(code)
	}
}

// twilioError is Twilio's error JSON.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func (s *Server) writeError(w http.ResponseWriter, status, code int, msg string) {
	s.writeJSON(w, status, twilioError{
		Code:     code,
		Message:  msg,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		Status:   status,
	})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "twiliosim: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n') // as json.Encoder writes it
	if s.opts.PadResponses > 0 {
		b = append(b, strings.Repeat(" ", s.opts.PadResponses)...)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// messageResource is Twilio's Message JSON. Counts are strings and absent
// values are null, as Twilio writes them.
type messageResource struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func messageJSON(m Message) messageResource {
	date := m.Received.Format(time.RFC1123Z)
	uri := apiPrefix + m.AccountSID + "/Messages/" + m.SID
	res := messageResource{
		AccountSID:      m.AccountSID,
		APIVersion:      "2010-04-01",
		Body:            m.Body,
		DateCreated:     date,
		DateUpdated:     date,
		Direction:       "outbound-api",
		From:            m.From,
		NumMedia:        strconv.Itoa(len(m.MediaURLs)),
		NumSegments:     strconv.Itoa(m.NumSegments),
		PriceUnit:       "USD",
		SID:             m.SID,
		Status:          m.Status,
		SubresourceURIs: map[string]string{"media": uri + "/Media.json"},
		To:              m.To,
		URI:             uri + ".json",
	}
	if ms := m.Form.Get("MessagingServiceSid"); ms != "" {
		res.MessagingServiceSID = &ms
	}
	if m.ErrorCode != 0 {
		code := m.ErrorCode
		res.ErrorCode = &code
	}
	return res
}

func cloneMessage(m Message) Message {
	m.MediaURLs = append([]string(nil), m.MediaURLs...)
	if m.Form != nil {
		m.Form = cloneValues(m.Form)
	}
	return m
}

func cloneMessages(ms []Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = cloneMessage(m)
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// callbackJob is the status callbacks of one accepted message.
type callbackJob struct {
	msg       Message
	token     string
	errorCode int // a delivery failure to report, 0 for success
}

// callbackWorker posts status callbacks until Close.
func (s *Server) callbackWorker() {
	defer s.workers.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closed
		cancel()
	}()
	for {
		select {
		case job := <-s.jobs:
			s.postCallbacks(ctx, job)
		case <-s.closed:
			return
		}
	}
}

// postCallbacks posts "sent" then the final status of one message.
func (s *Server) postCallbacks(ctx context.Context, job callbackJob) {
	final := "delivered"
	switch job.errorCode {
	case 0:
	case CodeWindowClosed:
		final = "failed" // refused by WhatsApp, not lost on the way
	default:
		final = "undelivered"
	}
	statuses := []string{"sent", final}
	if job.errorCode == CodeWindowClosed {
		statuses = statuses[1:] // never left Twilio
	}
	for _, status := range statuses {
		if s.opts.CallbackDelay > 0 && !s.pause(ctx, s.opts.CallbackDelay) {
			return
		}
		code := 0
		if status == final {
			code = job.errorCode
		}
		m := job.msg
		p := url.Values{
			"AccountSid":    {m.AccountSID},
			"ApiVersion":    {"2010-04-01"},
			"From":          {m.From},
			"To":            {m.To},
			"MessageSid":    {m.SID},
			"SmsSid":        {m.SID},
			"MessageStatus": {status},
			"SmsStatus":     {status},
		}
		if code != 0 {
			p.Set("ErrorCode", strconv.Itoa(code))
		}
		s.setStatus(m.SID, status, code)
		cb := Callback{MessageSID: m.SID, Status: status, ErrorCode: code, URL: m.StatusCallback}
		req, err := NewSignedRequest(ctx, m.StatusCallback, job.token, p)
		if err == nil {
			req.Header.Set("I-Twilio-Idempotency-Token", newSID("ID"))
			var resp *http.Response
			resp, err = s.client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				_ = resp.Body.Close()
				cb.HTTPStatus = resp.StatusCode
			}
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			cb.Err = err.Error()
			s.log.Warn("twiliosim: status callback failed", "message_sid", m.SID, "status", status, "err", err)
		}
		s.mu.Lock()
		s.callbacks = append(s.callbacks, cb)
		s.changedLocked()
		s.mu.Unlock()
	}
}

// setStatus records a message's new delivery status.
func (s *Server) setStatus(sid, status string, code int) {
	s.mu.Lock()
	if i, ok := s.bySID[sid]; ok {
		s.messages[i].Status = status
		s.messages[i].ErrorCode = code
	}
	s.mu.Unlock()
}
