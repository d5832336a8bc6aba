package api

import (
	"encoding/json"
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
	case store.EUNAVAILABLE:
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

// writeList answers a page of items; items is never null in the JSON.
func writeList[T any](w http.ResponseWriter, items []T, total int, opts store.ListOptions) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, listBody[T]{Items: items, Total: total, Offset: opts.Offset, Limit: opts.Limit})
}
