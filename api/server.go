// Package api is Switchboard's operator-facing HTTP API: setup and auth,
// role-based access control, and the Bonsai-compatible CRUD of operators,
// providers, projects, agents, stages, API keys and conversations, plus
// /healthz and /readyz. Handlers are thin: parse, check permission, call the
// store, respond; every error goes through writeError, the one place that
// maps store error codes to HTTP statuses.
//
// The Twilio webhook (/api/twilio/...) belongs to package webhook; the
// catch-all that answers unknown /api routes deliberately does not match
// that prefix, so the webhook's routes may be mounted before or after.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"switchboard/providers"
	"switchboard/providers/llm"
	"switchboard/store"
)

// maxBodyBytes caps every request body the API reads.
const maxBodyBytes = 1 << 20

// Options tune the server. Zero values take the documented defaults.
type Options struct {
	// AccessTokenTTL is how long an access token is valid (default 1h).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token is valid (default 30 days).
	RefreshTokenTTL time.Duration
	// BcryptCost is the password hashing cost (default bcrypt.DefaultCost;
	// tests use bcrypt.MinCost).
	BcryptCost int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time

	// MaxFailuresPerAccount is how many failed logins of one operator id
	// from one client address (an IPv6 /64) may be seen within
	// FailureWindow before further attempts of that id from there answer
	// 429 (default 5). Unknown ids are counted the same way.
	MaxFailuresPerAccount int
	// MaxFailuresPerAccountTotal is the same limit over all addresses
	// (default 50): a guesser spread over many addresses is bounded too,
	// while a single address can never lock an operator out.
	MaxFailuresPerAccountTotal int
	// MaxFailuresPerAddress is how many failed logins, refreshes and
	// setups one client address (an IPv6 /64) may make within
	// FailureWindow before further attempts answer 429 (default 20).
	MaxFailuresPerAddress int
	// FailureWindow is the window failures are counted in; a blocked
	// account or address is free again when its window ends (default
	// 15 minutes).
	FailureWindow time.Duration
	// HashConcurrency is how many password hashes (bcrypt) may run at
	// once (default max(1, GOMAXPROCS/2)), so that logins can never take
	// every core from the webhook.
	HashConcurrency int
	// HashWait is how long a request waits for a hashing slot before it
	// is refused with 503 and Retry-After (default 2s).
	HashWait time.Duration
	// ClientIP returns the client address a request is throttled by
	// (default: the host of r.RemoteAddr).
	ClientIP func(r *http.Request) string
	// Registerer receives the API's metrics (nil: none).
	Registerer prometheus.Registerer
	// Destinations restricts provider base URLs (PROVIDER_URL_ALLOWLIST);
	// nil is the default policy.
	Destinations *providers.DestinationPolicy
	// LLM builds the clients GET /api/providers/{id}/models lists models
	// with; share the engine's cache so both pool connections (nil: a
	// cache of the API's own, with Destinations).
	LLM *llm.Cache
	// CORSAllowedOrigins are the web origins (https://console.example.com,
	// as browsers send them in Origin) whose pages may call the API from a
	// browser; ["*"] is any origin, nil none (CORS_ALLOWED_ORIGINS).
	CORSAllowedOrigins []string
	// Version is the binary's version (`switchboard version`), and
	// GitCommit the short commit it was built from ("" = unknown); both
	// are reported by GET /version.
	Version   string
	GitCommit string
	// Starting makes /readyz answer 503 ("starting up") until Started is
	// called, so that readiness covers the whole start-up of the binary
	// (recovery, the demo line), not only a reachable store: a client
	// that waits for readiness must find everything start-up creates.
	Starting bool
}

// Server serves the operator API. Build it with New and mount it with
// Register.
type Server struct {
	st     store.Store
	log    *slog.Logger
	opts   Options
	now    func() time.Time
	dummy  []byte // a bcrypt hash compared against when the operator is unknown
	dummyM sync.Once

	throttle *throttle // failed credential checks per account and address
	hash     *hashGate // bounds concurrent bcrypt work
	metrics  *metrics
	// starting is true from New (with Options.Starting) until Started.
	starting atomic.Bool
	// schemaHash is GET /version's restSchemaHash, set by Register.
	schemaHash string
}

// New returns a Server over st. A nil logger discards logs.
func New(st store.Store, logger *slog.Logger, opts Options) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LLM == nil {
		opts.LLM = llm.NewCache(llm.Options{Destinations: opts.Destinations})
	}
	if opts.MaxFailuresPerAccount <= 0 {
		opts.MaxFailuresPerAccount = defaultMaxFailuresPerAccount
	}
	if opts.MaxFailuresPerAccountTotal <= 0 {
		opts.MaxFailuresPerAccountTotal = defaultMaxFailuresPerAccountTotal
	}
	if opts.MaxFailuresPerAddress <= 0 {
		opts.MaxFailuresPerAddress = defaultMaxFailuresPerAddress
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = defaultFailureWindow
	}
	if opts.HashWait <= 0 {
		opts.HashWait = defaultHashWait
	}
	if opts.ClientIP == nil {
		opts.ClientIP = remoteHost
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Server{
		st: st, log: logger, opts: opts, now: func() time.Time { return opts.Now().UTC() },
		throttle: newThrottle(opts.MaxFailuresPerAccount, opts.MaxFailuresPerAccountTotal, opts.MaxFailuresPerAddress, opts.FailureWindow),
		hash:     newHashGate(opts.HashConcurrency, opts.HashWait),
		metrics:  newMetrics(opts.Registerer),
	}
	s.starting.Store(opts.Starting)
	return s
}

// Started ends the start-up announced by Options.Starting: from now on
// /readyz answers 200 whenever the store does.
func (s *Server) Started() { s.starting.Store(false) }

// apiHandler is a handler that returns its error instead of writing it, so
// that writeError is the only place errors become responses.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// Register mounts /healthz, /readyz and every /api route except the
// Twilio-facing /api/twilio/... prefix on r. Unknown /api routes answer 404
// and wrong methods 405, both as JSON.
func (s *Server) Register(r *mux.Router) {
	// Every route is mounted on r itself with its full path: gorilla/mux
	// v1.8.1 subrouters lose method mismatches (a subrouter's inherited
	// prefix matcher clears ErrMethodMismatch), so 404 and 405 are decided
	// by a catch-all mounted last, which excludes the webhook's prefix.
	a := &routes{r: r, paths: mux.NewRouter(), methods: map[string][]string{}}
	// CORS preflights first: OPTIONS is no route's method (cors.go).
	s.registerPreflight(r, a)
	r.Handle("/healthz", s.withCORS(http.HandlerFunc(s.healthz))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", s.withCORS(http.HandlerFunc(s.readyz))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/version", s.withCORS(http.HandlerFunc(s.version))).Methods(http.MethodGet, http.MethodHead)

	const get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	s.route(a, get, "/setup/status", "", s.setupStatus)
	s.route(a, post, "/setup/initial-operator", "", s.initialOperator)
	s.route(a, post, "/auth/login", "", s.login)
	s.route(a, post, "/auth/refresh", "", s.refresh)
	s.route(a, post, "/auth/logout", authOnly, s.logout)
	s.route(a, post, "/auth/logout-all", authOnly, s.logoutAll)
	s.route(a, get, "/auth/me", authOnly, s.me)
	s.route(a, get, "/profile", authOnly, s.getProfile)
	s.route(a, post, "/profile", authOnly, s.updateProfile)

	s.route(a, post, "/operators", perm(entOperator, actWrite), s.createOperator)
	s.route(a, get, "/operators", perm(entOperator, actRead), s.listOperators)
	s.route(a, get, "/operators/{id}", perm(entOperator, actRead), s.getOperator)
	s.route(a, put, "/operators/{id}", perm(entOperator, actWrite), s.updateOperator)
	s.route(a, del, "/operators/{id}", perm(entOperator, actDelete), s.deleteOperator)
	s.route(a, post, "/operators/{id}/revoke-tokens", perm(entOperator, actWrite), s.revokeOperatorTokens)

	s.route(a, post, "/providers", perm(entProvider, actWrite), s.createProvider)
	s.route(a, get, "/providers", perm(entProvider, actRead), s.listProviders)
	s.route(a, get, "/providers/{id}", perm(entProvider, actRead), s.getProvider)
	s.route(a, put, "/providers/{id}", perm(entProvider, actWrite), s.updateProvider)
	s.route(a, del, "/providers/{id}", perm(entProvider, actDelete), s.deleteProvider)
	s.route(a, get, "/providers/{id}/models", perm(entProvider, actRead), s.providerModels)

	s.route(a, post, "/projects", perm(entProject, actWrite), s.createProject)
	s.route(a, get, "/projects", perm(entProject, actRead), s.listProjects)
	s.route(a, get, "/projects/{id}", perm(entProject, actRead), s.getProject)
	s.route(a, put, "/projects/{id}", perm(entProject, actWrite), s.updateProject)
	s.route(a, del, "/projects/{id}", perm(entProject, actDelete), s.deleteProject)
	s.route(a, post, "/projects/{id}/archive", perm(entProject, actWrite), s.archiveProject)
	s.route(a, post, "/projects/{id}/unarchive", perm(entProject, actWrite), s.unarchiveProject)
	s.route(a, get, "/projects/{id}/export", perm(entProject, actRead), s.exportProject)
	s.route(a, post, "/projects/import", perm(entProject, actWrite), s.importProject)

	s.route(a, post, "/projects/{projectId}/agents", perm(entAgent, actWrite), s.createAgent)
	s.route(a, get, "/projects/{projectId}/agents", perm(entAgent, actRead), s.listAgents)
	s.route(a, get, "/projects/{projectId}/agents/{id}", perm(entAgent, actRead), s.getAgent)
	s.route(a, put, "/projects/{projectId}/agents/{id}", perm(entAgent, actWrite), s.updateAgent)
	s.route(a, del, "/projects/{projectId}/agents/{id}", perm(entAgent, actDelete), s.deleteAgent)

	s.route(a, post, "/projects/{projectId}/stages", perm(entStage, actWrite), s.createStage)
	s.route(a, get, "/projects/{projectId}/stages", perm(entStage, actRead), s.listStages)
	s.route(a, get, "/projects/{projectId}/stages/{id}", perm(entStage, actRead), s.getStage)
	s.route(a, put, "/projects/{projectId}/stages/{id}", perm(entStage, actWrite), s.updateStage)
	s.route(a, del, "/projects/{projectId}/stages/{id}", perm(entStage, actDelete), s.deleteStage)

	s.route(a, post, "/api-keys", perm(entAPIKey, actWrite), s.createAPIKey)
	s.route(a, get, "/api-keys", perm(entAPIKey, actRead), s.listAPIKeys)
	s.route(a, get, "/api-keys/{id}", perm(entAPIKey, actRead), s.getAPIKey)
	s.route(a, put, "/api-keys/{id}", perm(entAPIKey, actWrite), s.updateAPIKey)
	s.route(a, del, "/api-keys/{id}", perm(entAPIKey, actDelete), s.deleteAPIKey)
	s.route(a, post, "/projects/{projectId}/api-keys", perm(entAPIKey, actWrite), s.createAPIKey)
	s.route(a, get, "/projects/{projectId}/api-keys", perm(entAPIKey, actRead), s.listAPIKeys)
	s.route(a, get, "/projects/{projectId}/api-keys/{id}", perm(entAPIKey, actRead), s.getAPIKey)
	s.route(a, put, "/projects/{projectId}/api-keys/{id}", perm(entAPIKey, actWrite), s.updateAPIKey)
	s.route(a, del, "/projects/{projectId}/api-keys/{id}", perm(entAPIKey, actDelete), s.deleteAPIKey)

	s.route(a, get, "/projects/{projectId}/conversations", perm(entConversation, actRead), s.listConversations)
	s.route(a, get, "/projects/{projectId}/conversations/{id}", perm(entConversation, actRead), s.getConversation)
	s.route(a, get, "/projects/{projectId}/conversations/{id}/events", perm(entConversation, actRead), s.listEvents)
	s.route(a, get, "/projects/{projectId}/conversations/{id}/events/{eventId}", perm(entConversation, actRead), s.getEvent)
	s.route(a, get, "/projects/{projectId}/conversations/{id}/messages", perm(entConversation, actRead), s.listOutbound)
	s.route(a, del, "/projects/{projectId}/conversations/{id}", perm(entConversation, actDelete), s.deleteConversation)

	s.registerAudit(a)
	s.registerBonsaiOnly(a)
	s.registerUsers(a)
	s.registerCatalog(a)

	s.schemaHash = routeHash(a)

	r.PathPrefix("/api").MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		p := req.URL.Path
		return p != "/api/twilio" && !strings.HasPrefix(p, "/api/twilio/")
	}).Handler(s.withCORS(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m mux.RouteMatch
		if a.paths.Match(req, &m) && m.Route != nil {
			tpl, _ := m.Route.GetPathTemplate()
			w.Header().Set("Allow", strings.Join(a.methods[tpl], ", "))
			writeErrorBody(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed on "+req.URL.Path, nil)
			return
		}
		s.writeError(w, req, store.Errorf(store.ENOTFOUND, "no route %s %s", req.Method, req.URL.Path))
	})))
}

// routes collects the API's routes: the handlers on the application's
// router, and the path templates alone (for telling 404 from 405).
type routes struct {
	r       *mux.Router
	paths   *mux.Router
	methods map[string][]string // path template → allowed methods
}

// authOnly marks a route that needs a valid token but no permission.
const authOnly = "*"

// route mounts h for method and path. required is "" for a public route,
// authOnly, or the permission the caller must hold.
func (s *Server) route(a *routes, method, path, required string, h apiHandler) {
	path = "/api" + path
	if _, ok := a.methods[path]; !ok {
		a.paths.Path(path)
	}
	methods := []string{method}
	if method == http.MethodGet {
		// HEAD is GET without the body (net/http drops what is written).
		methods = append(methods, http.MethodHead)
	}
	a.methods[path] = append(a.methods[path], methods...)
	h = s.inActiveProject(method, path, h)
	a.r.Handle(path, s.withCORS(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, bodyLimit(path))
		if required != "" {
			op, err := s.authenticate(req)
			if err != nil {
				s.writeError(w, req, err)
				return
			}
			if required != authOnly && !hasPermission(op.Roles, required) {
				s.writeError(w, req, &store.Error{
					Code:    store.EFORBIDDEN,
					Message: "missing permission " + required,
					Details: map[string]string{"permission": required},
				})
				return
			}
			req = req.WithContext(context.WithValue(req.Context(), operatorKey{}, op))
		}
		if err := h(w, req); err != nil {
			s.writeError(w, req, err)
		}
	}))).Methods(methods...)
}

// inActiveProject wraps a change (any method but GET) of a route under
// /projects/{projectId}: an archived project's agents, stages, API keys
// and conversations cannot be changed (Bonsai's 409), whatever the route.
func (s *Server) inActiveProject(method, path string, h apiHandler) apiHandler {
	if method == http.MethodGet || !strings.Contains(path, "{projectId}") {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.requireActive(r.Context(), pathVar(r, "projectId")); err != nil {
			return err
		}
		return h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.starting.Load() {
		writeErrorBody(w, http.StatusServiceUnavailable, "starting up", nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		writeErrorBody(w, http.StatusServiceUnavailable, "store unavailable", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
