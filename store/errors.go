package store

import (
	"errors"
	"fmt"
)

// Error codes. They are the only classification of failure the rest of the
// program needs; the api package maps each to one HTTP status in one place.
const (
	EINVALID      = "invalid"      // the request is malformed or breaks a rule (400)
	EUNAUTHORIZED = "unauthorized" // no or bad credentials (401)
	EFORBIDDEN    = "forbidden"    // credentials lack a permission (403)
	ENOTFOUND     = "not_found"    // the record does not exist (404)
	ECONFLICT     = "conflict"     // version mismatch, duplicate, or state conflict (409)
	ETOOLARGE     = "too_large"    // the request body exceeds its limit (413)
	EMEDIATYPE    = "media_type"   // the request body is not in a type the endpoint reads (415)
	ERATELIMITED  = "rate_limited" // too many attempts; retry later (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later (503)
	EBADGATEWAY   = "bad_gateway"  // an external provider's API answered an error (502)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the application's error type. Message is safe to show to a
// client; Details optionally carries structured context (for example the
// offending field).
type Error struct {
	Code    string
	Message string
	Details any
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("store: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error that names the offending field, in
// the shape the API reports as details: {"field": "...", "reason": "..."}.
func FieldError(field, format string, args ...any) *Error {
	reason := fmt.Sprintf(format, args...)
	return &Error{
		Code:    EINVALID,
		Message: field + ": " + reason,
		Details: map[string]string{"field": field, "reason": reason},
	}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, "" for a
// nil error, and EINTERNAL otherwise.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Errors that are not
// *Error never leak their text: they read "internal error".
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorDetails returns the Details of err if it is an *Error.
func ErrorDetails(err error) any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}
