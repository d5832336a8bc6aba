package twilio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
)

// maxErrorBody bounds how much of an error answer is kept, and how much of
// an answer is drained on close to keep its connection.
const maxErrorBody = 64 << 10

// boundTransport is the per-call RoundTripper the Sender gives twilio-go: it
// redirects Twilio's host to the configured base URL, runs the request under
// the caller's context, and remembers whether the request was written and
// which status came back.
type boundTransport struct {
	ctx     context.Context
	base    *url.URL // nil: leave the URL alone
	next    http.RoundTripper
	written atomic.Bool
	status  int // set before RoundTrip returns; read after the call
	// retryAfter is the Retry-After header of an error answer, as sent;
	// read after the call.
	retryAfter string
	// called is the URL last sent to the network (after the redirect to
	// base), so errors name the host actually called; read after the call.
	called string
}

// RoundTrip implements http.RoundTripper.
func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				t.written.Store(true)
			}
		},
	}
	r := req.WithContext(httptrace.WithClientTrace(t.ctx, trace))
	if t.base != nil && isTwilioHost(req.URL.Host) {
		u := *req.URL
		u.Scheme = t.base.Scheme
		u.Host = t.base.Host
		if p := strings.TrimRight(t.base.Path, "/"); p != "" {
			u.Path = p + u.Path
			if u.RawPath != "" {
				u.RawPath = strings.TrimRight(t.base.EscapedPath(), "/") + u.RawPath
			}
		}
		r.URL = &u
		r.Host = ""
	}
	t.called = r.URL.String()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		if !t.written.Load() {
			return nil, &notWrittenError{err: err}
		}
		return nil, err
	}
	t.status = resp.StatusCode
	if resp.StatusCode >= 400 {
		t.retryAfter = resp.Header.Get("Retry-After")
		// twilio-go decodes error answers without closing them, which would
		// pin the connection; keep a copy and give the connection back.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp.Body = &drainCloser{resp.Body}
	return resp, nil
}

// nameCalled makes a transport error name the URL actually called: the
// http.Client reports the URL twilio-go asked for (always api.twilio.com),
// which misleads whoever reads a failure of a rewritten base URL
// ("dial tcp 127.0.0.1:3001: connection refused" under Twilio's host).
func (t *boundTransport) nameCalled(err error) {
	var ue *url.Error
	if t.called != "" && errors.As(err, &ue) {
		// This call's own http.Client made ue: nobody else holds it.
		ue.URL = t.called
	}
}

// isTwilioHost reports whether host is one of Twilio's API hosts.
func isTwilioHost(host string) bool {
	return host == "twilio.com" || strings.HasSuffix(host, ".twilio.com")
}

// drainCloser reads what the JSON decoder left (typically a final newline)
// before closing, so the connection goes back to the pool.
type drainCloser struct{ io.ReadCloser }

// Close implements io.Closer.
func (d *drainCloser) Close() error {
	_, _ = io.CopyN(io.Discard, d.ReadCloser, maxErrorBody)
	return d.ReadCloser.Close()
}
