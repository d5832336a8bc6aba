package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"switchboard/store"
)

// errorBody is the one error envelope of the API.
type errorBody struct {
	Error   string `json:"error"`
	Details any    `json:"details,omitempty"`
}

// statusOf maps a store error code to its HTTP status. It is the only such
// mapping in the program.
func statusOf(code string) int {
	switch code {
	case store.EINVALID:
		return http.StatusBadRequest
	case store.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case store.EFORBIDDEN:
		return http.StatusForbidden
	case store.ENOTFOUND:
		return http.StatusNotFound
	case store.ECONFLICT:
		return http.StatusConflict
	case store.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case store.EMEDIATYPE:
		return http.StatusUnsupportedMediaType
	case store.ERATELIMITED:
		return http.StatusTooManyRequests
	case store.EUNAVAILABLE, store.EFENCED:
		// EFENCED: this node does not own the session now; another will.
		return http.StatusServiceUnavailable
	case store.EBADGATEWAY:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers err in the error envelope. Errors that are not
// *store.Error read "internal error" (their text never reaches the client)
// and every 5xx is logged here, once.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := store.ErrorCode(err)
	status := statusOf(code)
	// A 503 with Retry-After is load shed on purpose (counted in metrics),
	// not a failure: logging each would let a flood fill the log.
	shed := setRetryAfter(w, err)
	if status >= 500 && !shed {
		s.log.Error("api request failed", "method", r.Method, "path", logPath(r), "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	writeErrorBody(w, status, store.ErrorMessage(err), store.ErrorDetails(err))
}

// writeErrorBody writes the error envelope. Only writeError and the two
// answers that have no store error code (405, and 503 from /readyz) call it.
func writeErrorBody(w http.ResponseWriter, status int, msg string, details any) {
	writeJSON(w, status, errorBody{Error: msg, Details: details})
}

// writeJSON writes v as the JSON response body with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// listBody is the page shape of every list response.
type listBody[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// listInProject answers a page of one kind of a project's items: Bonsai's
// list parameters, the project the path names (404 when it does not
// exist), the store's page of it, each item as view shows it.
func listInProject[T, V any](s *Server, w http.ResponseWriter, r *http.Request, what string,
	list func(ctx context.Context, projectID string, opts store.ListOptions) ([]T, int, error), view func(T) V) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	proj, err := s.pathProject(r.Context(), r)
	if err != nil {
		return err
	}
	items, total, err := list(r.Context(), proj.ID, opts)
	if err != nil {
		return fmt.Errorf("api: list %s: %w", what, err)
	}
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = view(it)
	}
	writeList(w, out, total, opts)
	return nil
}

// asIs is the view of an item the API shows as stored.
func asIs[T any](v T) T { return v }

// writeList answers a page of items; items is never null in the JSON.
func writeList[T any](w http.ResponseWriter, items []T, total int, opts store.ListOptions) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, listBody[T]{Items: items, Total: total, Offset: opts.Offset, Limit: opts.Limit})
}
