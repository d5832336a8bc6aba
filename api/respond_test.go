package api

import (
	"net/http"
	"testing"

	"switchboard/store"
)

// TestStatusOf: every store error code maps to its status; a fenced
// commit (this node does not own the session now) is a transient 503.
func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{
		store.EINVALID:      http.StatusBadRequest,
		store.EUNAUTHORIZED: http.StatusUnauthorized,
		store.EFORBIDDEN:    http.StatusForbidden,
		store.ENOTFOUND:     http.StatusNotFound,
		store.ECONFLICT:     http.StatusConflict,
		store.ETOOLARGE:     http.StatusRequestEntityTooLarge,
		store.EMEDIATYPE:    http.StatusUnsupportedMediaType,
		store.ERATELIMITED:  http.StatusTooManyRequests,
		store.EUNAVAILABLE:  http.StatusServiceUnavailable,
		store.EFENCED:       http.StatusServiceUnavailable,
		store.EBADGATEWAY:   http.StatusBadGateway,
		store.EINTERNAL:     http.StatusInternalServerError,
		"":                  http.StatusInternalServerError,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%q) = %d, want %d", code, got, want)
		}
	}
}
