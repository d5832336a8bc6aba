package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"switchboard/providers"
)

// vendorBase is what every SDK-backed client shares: the apiType (in
// errors and metrics), the key (scrubbed from errors) and the response
// cap (named in errors).
type vendorBase struct {
	apiType  string
	apiKey   string
	maxBytes int64
}

// fail turns an SDK's error into Switchboard's: a non-2xx answer becomes a
// *StatusError with the vendor's own message (key removed, truncated); a
// context that ended is wrapped so errors.Is(err, context.DeadlineExceeded)
// holds; an oversized answer names the cap. Every message starts with
// "llm: <apiType>:" and never contains the key.
func (b *vendorBase) fail(ctx context.Context, err error) error {
	if status, msg, ok := sdkStatus(err); ok {
		return &StatusError{APIType: b.apiType, StatusCode: status, Message: scrubKey(msg, b.apiKey)}
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return fmt.Errorf("llm: %s: response larger than %d bytes: %w", b.apiType, b.maxBytes, ErrResponseTooLarge)
	}
	msg := scrubKey(err.Error(), b.apiKey)
	var cause error = err
	if ue, ok := err.(*url.Error); ok {
		cause = ue.Err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("llm: %s: %w: %s", b.apiType, cerr, msg)
	}
	return fmt.Errorf("llm: %s: %w", b.apiType, &scrubbedError{msg: msg, err: cause})
}

// sdkStatus extracts the HTTP status and the vendor's message from an API
// error of one of the SDKs.
func sdkStatus(err error) (int, string, bool) {
	var oe *openai.Error
	if errors.As(err, &oe) {
		msg := oe.Message
		if msg == "" {
			msg = rawBody(oe.RawJSON(), oe.Response)
		}
		return oe.StatusCode, msg, true
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		if msg == "" {
			msg = rawBody(ae.RawJSON(), ae.Response)
		}
		return ae.StatusCode, msg, true
	}
	var ge genai.APIError
	if errors.As(err, &ge) {
		return ge.Code, ge.Message, true
	}
	var gp *genai.APIError
	if errors.As(err, &gp) {
		return gp.Code, gp.Message, true
	}
	return 0, "", false
}

// rawBody is the text of an error answer whose body was not the vendor's
// JSON error (a proxy's HTML or plain text): the SDKs keep it readable in
// the response.
func rawBody(raw string, resp *http.Response) string {
	if raw = strings.TrimSpace(raw); raw != "" || resp == nil || resp.Body == nil {
		return raw
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return strings.TrimSpace(string(b))
}

// scrubKey removes key from s and truncates it.
func scrubKey(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[redacted]")
	}
	return truncate(s, maxErrorMessage)
}

// vendorBaseURL is parseBaseURL with the vendor's documented default.
func vendorBaseURL(apiType, raw string, opts Options) (string, error) {
	v, _ := providers.Vendor(apiType)
	return parseBaseURL(raw, v.DefaultBaseURL, opts.Destinations)
}
