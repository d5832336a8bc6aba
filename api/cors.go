package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"switchboard/store"
)

// CORS lets a web page on another origin (Bonsai's admin console, served
// from its own host) call the operator API from a browser. The API
// authenticates with bearer tokens in the Authorization header, never
// cookies, so a cross-origin page can only act with a token it was given;
// Access-Control-Allow-Credentials is therefore never sent. The Twilio
// webhook (/api/twilio/...) is not covered: Twilio posts server to server,
// and no page has any business calling it. The routes that start
// conversations (/api/twilio/messaging/send...) are: Bonsai's console
// calls the send route from its page (its "outgoing conversation" form),
// with an API key; they are served by the webhook package, wrapped by CORS.
const (
	// corsMethods are the methods a preflight allows: every method of
	// the API (Bonsai's list). A method a route does not take still gets
	// its JSON 405, which the page can then read.
	corsMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	// corsHeaders are the request headers a page may send beyond the
	// safelisted ones (Bonsai's list).
	corsHeaders = "Authorization, Content-Type, Idempotency-Key"
	// corsMaxAge is how long (seconds) a browser may cache a preflight:
	// ten minutes, so that a changed CORS_ALLOWED_ORIGINS takes effect
	// soon.
	corsMaxAge = "600"
	// corsExposed are the response headers a page may read beyond the
	// safelisted ones: when to retry a 429 or 503, and why a 401 was
	// given.
	corsExposed = "Retry-After, WWW-Authenticate, Location, Idempotent-Replayed"
)

// corsPath reports whether path belongs to the operator API that CORS
// covers: /api/... except the Twilio webhook, /version, /healthz and
// /readyz.
func corsPath(path string) bool {
	switch path {
	case "/version", "/healthz", "/readyz":
		return true
	case "/api/twilio":
		return false
	}
	if path == sendPath || strings.HasPrefix(path, sendPath+"/") {
		return true
	}
	return (path == "/api" || strings.HasPrefix(path, "/api/")) && !strings.HasPrefix(path, "/api/twilio/")
}

// sendPath is the route that starts conversations (and the prefix of its
// bulk and job routes).
const sendPath = "/api/twilio/messaging/send"

// CORS wraps h, a route outside the API that CORS covers (the routes that
// start conversations), in the API's CORS: a preflight is answered as the
// API's are (allow is the route's Allow for a plain OPTIONS), and the
// actual answer gets Access-Control-Allow-Origin.
func (s *Server) CORS(h http.Handler, allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			s.preflight(w, r, allow)
			return
		}
		if len(s.opts.CORSAllowedOrigins) > 0 {
			s.setCORS(w, r)
		}
		h.ServeHTTP(w, r)
	})
}

// corsOrigin returns the value of Access-Control-Allow-Origin for a
// request from origin, or "" when that origin may not read the answer.
func (s *Server) corsOrigin(origin string) string {
	allowed := s.opts.CORSAllowedOrigins
	if len(allowed) == 1 && allowed[0] == "*" {
		return "*"
	}
	if origin != "" && slices.Contains(allowed, origin) {
		return origin
	}
	return ""
}

// withCORS adds Access-Control-Allow-Origin to the answers of h for an
// allowed origin. With a list of origins the answer depends on Origin, so
// it says so (Vary) for every request.
func (s *Server) withCORS(h http.Handler) http.Handler {
	if len(s.opts.CORSAllowedOrigins) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setCORS(w, r)
		h.ServeHTTP(w, r)
	})
}

// setCORS writes the CORS headers of an actual (not preflight) answer.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	allow := s.corsOrigin(r.Header.Get("Origin"))
	if allow != "*" {
		w.Header().Add("Vary", "Origin")
	}
	if allow != "" {
		w.Header().Set("Access-Control-Allow-Origin", allow)
		w.Header().Set("Access-Control-Expose-Headers", corsExposed)
	}
}

// registerPreflight mounts the answer to OPTIONS on every path CORS
// covers, before any other route, so that a preflight is never taken for
// a wrong method (405) or an unknown route (404): a page must be able to
// read those answers too.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) from
// an allowed origin gets 204 and the Access-Control-Allow-* headers; from
// any other origin 403 and no CORS header, which names the setting to
// change. A plain OPTIONS (no preflight headers) gets 204 with Allow.
func (s *Server) registerPreflight(r *mux.Router, a *routes) {
	r.Methods(http.MethodOptions).MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		return corsPath(req.URL.Path)
	}).HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.preflight(w, req, allowOf(a, req))
	})
}

// preflight answers an OPTIONS request (see registerPreflight); methods
// is the Allow header of a plain one.
func (s *Server) preflight(w http.ResponseWriter, req *http.Request, methods string) {
	origin := req.Header.Get("Origin")
	if origin == "" || req.Header.Get("Access-Control-Request-Method") == "" {
		w.Header().Set("Allow", methods)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	allow := s.corsOrigin(origin)
	if allow != "*" {
		w.Header().Add("Vary", "Origin")
	}
	if allow == "" {
		origin = truncate(origin, 256) // echoed: keep a hostile header short
		msg := "cross-origin requests from " + origin + " are not allowed: add the origin to CORS_ALLOWED_ORIGINS"
		if len(s.opts.CORSAllowedOrigins) == 0 {
			msg = "cross-origin requests are off: set CORS_ALLOWED_ORIGINS to allow " + origin
		}
		s.writeError(w, req, &store.Error{Code: store.EFORBIDDEN, Message: msg, Details: map[string]string{"origin": origin}})
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", allow)
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// allowOf is the Allow header of a plain OPTIONS request: the methods of
// the API route at the request's path, or of /healthz, /readyz and
// /version.
func allowOf(a *routes, req *http.Request) string {
	switch req.URL.Path {
	case "/version", "/healthz", "/readyz":
		return "GET, HEAD, OPTIONS"
	}
	var m mux.RouteMatch
	if a.paths.Match(req, &m) && m.Route != nil {
		tpl, _ := m.Route.GetPathTemplate()
		return strings.Join(append(slices.Clone(a.methods[tpl]), http.MethodOptions), ", ")
	}
	return http.MethodOptions
}
