package webhook

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"switchboard/internal/clientip"
)

func TestInboundFromForm(t *testing.T) {
	base := func() url.Values {
		return url.Values{"MessageSid": {"SM1"}, "From": {"+15551234567"}, "To": {"+15557654321"}, "Body": {"hi"}, "NumMedia": {"0"}}
	}
	tests := []struct {
		name   string
		mod    func(url.Values)
		reason string
		media  int
	}{
		{"ok", func(url.Values) {}, "", 0},
		{"SmsMessageSid fallback", func(v url.Values) { v.Del("MessageSid"); v.Set("SmsMessageSid", "SM2") }, "", 0},
		{"no sid", func(v url.Values) { v.Del("MessageSid") }, "MessageSid is required", 0},
		{"no from", func(v url.Values) { v.Del("From") }, "From is required", 0},
		{"blank from", func(v url.Values) { v.Set("From", "  ") }, "From must be an E.164 number (+15551234567) or a WhatsApp address (whatsapp:+15551234567)", 0},
		{"short code from", func(v url.Values) { v.Set("From", "12345") }, "From must be an E.164 number (+15551234567) or a WhatsApp address (whatsapp:+15551234567)", 0},
		{"bad to", func(v url.Values) { v.Set("To", "{{.}}") }, "To must be an E.164 number (+15551234567), a short code (3 to 8 digits) or a WhatsApp address (whatsapp:+15551234567)", 0},
		{"mixed channels", func(v url.Values) { v.Set("From", "whatsapp:+15551234567") }, "From and To must both be WhatsApp addresses or both not", 0},
		{"short code to", func(v url.Values) { v.Set("To", "72345") }, "", 0},
		{"no to", func(v url.Values) { v.Del("To") }, "", 0},
		{"no body no media", func(v url.Values) { v.Set("Body", "") }, "Body or media is required", 0},
		{"media only", func(v url.Values) {
			v.Set("Body", "")
			v.Set("NumMedia", "2")
			v.Set("MediaUrl0", "u0")
			v.Set("MediaUrl1", "u1")
		}, "", 2},
		{"media url missing", func(v url.Values) { v.Set("NumMedia", "1") }, "MediaUrl0 is missing", 0},
		{"bad NumMedia", func(v url.Values) { v.Set("NumMedia", "x") }, "NumMedia must be an integer between 0 and 20", 0},
		{"too many media", func(v url.Values) { v.Set("NumMedia", "21") }, "NumMedia must be an integer between 0 and 20", 0},
		{"long sid", func(v url.Values) { v.Set("MessageSid", string(make([]byte, 65))) }, "MessageSid is too long", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.mod(v)
			m, reason := inboundFromForm(v)
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if reason == "" && len(m.MediaURLs) != tt.media {
				t.Fatalf("media %v", m.MediaURLs)
			}
		})
	}
}

func TestIPLimiterOnlyCountsFailures(t *testing.T) {
	l := newIPLimiter(2) // burst 5
	for i := 0; i < 100; i++ {
		if !l.allow("10.0.0.1") {
			t.Fatal("a client with no failures was limited")
		}
	}
	for i := 0; i < 5; i++ {
		l.fail("10.0.0.2")
	}
	if l.allow("10.0.0.2") {
		t.Fatal("a client past its failure budget was allowed")
	}
	if !l.allow("10.0.0.3") {
		t.Fatal("another client was limited")
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("https://h/api/twilio/messaging/webhook?apiKey=akey_live_secret&stageId=s"); got != "https://h/api/twilio/messaging/webhook?…" {
		t.Fatalf("got %q", got)
	}
}

func TestInboundAddressesNormalised(t *testing.T) {
	m, reason := inboundFromForm(url.Values{"MessageSid": {"SM1"}, "From": {"WhatsApp:+15551234567"}, "To": {"WHATSAPP:+15557654321"}, "Body": {"hi"}})
	if reason != "" {
		t.Fatal(reason)
	}
	if m.From != "whatsapp:+15551234567" || m.To != "whatsapp:+15557654321" {
		t.Fatalf("not normalised: %q %q", m.From, m.To)
	}
}

// TestBadFromChangesNothing: a validly signed webhook with a From Twilio
// never sends is refused with 400 before the engine sees it.
func TestBadFromChangesNothing(t *testing.T) {
	f := newHandlerFixture(t)
	for i, from := range []string{"12345", "whatsapp:", "whatsapp:whatsapp:+15551234567", "+15551234567\r\nX: y", "+1555\n1234567",
		"+15551234567\x00", "{{.}}", "messenger:123456", "rcs:+15551234567"} {
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, f.requestWith(fmt.Sprintf("SMbad%d", i), func(v url.Values) { v.Set("From", from) }))
		if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Body.String(), "From must be") {
			t.Errorf("From %q: %d %q", from, w.Code, w.Body.String())
		}
	}
	if n := f.accepts.Load(); n != 0 {
		t.Fatalf("%d bad messages reached the engine", n)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, f.requestWith("SMok", func(v url.Values) { v.Set("From", "WhatsApp:+15551234567"); v.Set("To", "whatsapp:"+f.to) }))
	if w.Code != http.StatusOK || f.last.Load() == nil || f.last.Load().From != "whatsapp:+15551234567" {
		t.Fatalf("WhatsApp: in another case: %d %+v", w.Code, f.last.Load())
	}
}

// forge sends n requests with a bad signature, the i-th with X-Forwarded-For
// xff(i), and counts the 429s.
func forge(t *testing.T, f *handlerFixture, n int, xff func(i int) string) (limited int) {
	t.Helper()
	for i := 0; i < n; i++ {
		req := f.request(fmt.Sprintf("SMforged%d", i))
		req.Header.Set("X-Twilio-Signature", "forged")
		req.Header.Set("X-Forwarded-For", xff(i))
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusForbidden:
		default:
			t.Fatalf("forged request: %d", w.Code)
		}
	}
	return limited
}

// TestForwardedForDoesNotEscapeLimiter: by default a client cannot pick its
// identity with X-Forwarded-For; rotating it still exhausts one budget.
func TestForwardedForDoesNotEscapeLimiter(t *testing.T) {
	f := newHandlerFixture(t) // TrustProxy true, no trusted proxies
	if limited := forge(t, f, 100, func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }); limited == 0 {
		t.Fatal("rotating X-Forwarded-For escaped the failure limiter")
	}
}

// TestTrustedProxyForwardedFor: behind a trusted proxy the address it
// appended is the identity, so distinct clients have distinct budgets and
// one client behind the proxy is still limited.
func TestTrustedProxyForwardedFor(t *testing.T) {
	r, err := clientip.Parse("192.0.2.1") // httptest's RemoteAddr
	if err != nil {
		t.Fatal(err)
	}
	f := newHandlerFixtureWith(t, func(o *Options) { o.ClientIP = r.IP })
	if limited := forge(t, f, 100, func(i int) string { return fmt.Sprintf("6.6.6.6, 198.51.100.%d", i) }); limited != 0 {
		t.Fatalf("distinct clients behind a trusted proxy were limited %d times", limited)
	}
	if limited := forge(t, f, 100, func(i int) string { return fmt.Sprintf("10.9.9.%d, 203.0.113.5", i) }); limited == 0 {
		t.Fatal("one client behind a trusted proxy escaped the limiter by writing X-Forwarded-For itself")
	}
}

func TestLimitKey(t *testing.T) {
	tests := map[string]string{
		"198.51.100.7":             "198.51.100.7",
		"2001:db8:1:2:3:4:5:6":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		"::ffff:198.51.100.7":      "::ffff:198.51.100.7",
		"not an address":           "not an address",
		"fe80::1%eth0":             "fe80::/64",
		"2001:db8:1:3:3:4:5:6":     "2001:db8:1:3::/64",
		"[2001:db8::1]":            "[2001:db8::1]",
		"2001:db8:0:0:0:0:0:abcd":  "2001:db8::/64",
		"2001:0db8:0000::1":        "2001:db8::/64",
		"2001:db8:ffff:ffff::abcd": "2001:db8:ffff:ffff::/64",
	}
	for in, want := range tests {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMethodAndSize: both routes answer a wrong method 405 with Allow and
// an oversized body 413, declared or chunked, and the engine sees nothing.
func TestMethodAndSize(t *testing.T) {
	f := newHandlerFixture(t)
	for _, path := range []string{"/api/twilio/messaging/webhook", "/api/twilio/messaging/status"} {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			w := httptest.NewRecorder()
			f.router.ServeHTTP(w, httptest.NewRequest(m, path, nil))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("%s %s: %d, Allow %q", m, path, w.Code, w.Header().Get("Allow"))
			}
		}
	}
	body := "Body=" + strings.Repeat("a", MaxBodyBytes)
	declared := httptest.NewRequest(http.MethodPost, f.url, strings.NewReader(body))
	declared.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	chunked := httptest.NewRequest(http.MethodPost, f.url, io.MultiReader(strings.NewReader(body)))
	chunked.ContentLength = -1
	chunked.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for name, req := range map[string]*http.Request{"declared": declared, "chunked": chunked} {
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s oversized body: %d %q", name, w.Code, w.Body.String())
		}
	}
	if f.accepts.Load() != 0 {
		t.Fatal("a refused request reached the engine")
	}
}
