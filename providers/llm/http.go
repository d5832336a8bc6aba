package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"switchboard/providers"
	"switchboard/store"
)

// ErrEmptyReply is returned (wrapped) when a provider answers successfully
// but with no text; an empty message cannot be sent to the user.
var ErrEmptyReply = errors.New("llm: empty reply")

// maxErrorMessage bounds the part of an API's error message kept in an
// error, so logs and conversation records stay small.
const maxErrorMessage = 300

// StatusError is a non-2xx answer of an LLM endpoint. Message is the API's
// own error message, truncated and with the provider's key removed.
type StatusError struct {
	APIType    string
	StatusCode int
	Message    string
}

// Error implements the error interface.
func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("llm: %s: HTTP %d", e.APIType, e.StatusCode)
	}
	return fmt.Sprintf("llm: %s: HTTP %d: %s", e.APIType, e.StatusCode, e.Message)
}

// Temporary reports whether retrying the same request later may succeed
// (rate limits and server errors).
func (e *StatusError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// endpoint is what the network clients share: where to post, how to
// authenticate, and how much to read back.
type endpoint struct {
	apiType  string
	url      string // full URL of the chat endpoint
	apiKey   string // sent as Bearer when non-empty; scrubbed from errors
	headers  http.Header
	client   *http.Client
	maxBytes int64
}

// parseBaseURL validates a configured base URL against the destination
// policy (or takes def, a built-in default, when it is empty) and returns it
// without trailing slashes. The policy is checked again here, not only when
// the provider was saved: the provider may predate a tightened
// PROVIDER_URL_ALLOWLIST.
func parseBaseURL(raw, def string, policy *providers.DestinationPolicy) (string, error) {
	if raw == "" {
		raw = def
	} else if err := policy.CheckURL(raw); err != nil {
		return "", store.FieldError("config.baseUrl", "%v", err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", store.FieldError("config.baseUrl", "must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", store.FieldError("config.baseUrl", "must not carry a query or fragment")
	}
	return strings.TrimRight(raw, "/"), nil
}

// post sends body as JSON and decodes a 2xx answer into out. Errors carry
// the API type, never the key; a context deadline is wrapped so that
// errors.Is(err, context.DeadlineExceeded) holds.
func (e *endpoint) post(ctx context.Context, body, out any) error {
	return e.do(ctx, http.MethodPost, body, out)
}

// do sends a request with body as JSON (none when nil) and decodes a 2xx
// answer into out, as post describes.
func (e *endpoint) do(ctx context.Context, method string, body, out any) error {
	var payload io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("llm: %s: encode request: %w", e.apiType, err)
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url, payload)
	if err != nil {
		return fmt.Errorf("llm: %s: build request: %w", e.apiType, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if e.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
	}
	for k, v := range e.headers {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return e.transportError(ctx, "send request", err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, e.maxBytes+1))
	if errors.Is(err, ErrResponseTooLarge) {
		data, err = make([]byte, e.maxBytes+1), nil
	}
	if err != nil {
		return e.transportError(ctx, "read response", err)
	}
	if int64(len(data)) > e.maxBytes {
		return fmt.Errorf("llm: %s: response larger than %d bytes (HTTP %d)", e.apiType, e.maxBytes, resp.StatusCode)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{APIType: e.apiType, StatusCode: resp.StatusCode, Message: e.scrub(apiErrorMessage(data))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("llm: %s: decode response: %w", e.apiType, err)
	}
	return nil
}

// transportError wraps a failure to talk to the endpoint. When the context
// ended, its error is wrapped too: the transport does not always say so.
func (e *endpoint) transportError(ctx context.Context, what string, err error) error {
	msg := e.scrub(err.Error())
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("llm: %s: %s: %w: %s", e.apiType, what, cerr, msg)
	}
	var cause error = err
	if ue, ok := err.(*url.Error); ok {
		// Keep the cause for errors.Is but drop url.Error's text, which we
		// rebuild from scrubbed parts.
		cause = ue.Err
	}
	return fmt.Errorf("llm: %s: %s: %w", e.apiType, what, &scrubbedError{msg: msg, err: cause})
}

// scrub removes the API key from text that may echo it, and truncates it.
func (e *endpoint) scrub(s string) string {
	if e.apiKey != "" {
		s = strings.ReplaceAll(s, e.apiKey, "[redacted]")
	}
	return truncate(s, maxErrorMessage)
}

// scrubbedError shows a cleaned message while unwrapping to the original
// cause.
type scrubbedError struct {
	msg string
	err error
}

func (s *scrubbedError) Error() string { return s.msg }
func (s *scrubbedError) Unwrap() error { return s.err }

// apiErrorMessage extracts the error message of an error body: OpenAI's
// {"error":{"message":…}}, Ollama's {"error":"…"}, or else the raw text.
func apiErrorMessage(body []byte) string {
	var envelope struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &envelope) == nil && len(envelope.Error) > 0 {
		var s string
		if json.Unmarshal(envelope.Error, &s) == nil {
			return s
		}
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(envelope.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
	}
	return strings.TrimSpace(string(body))
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
