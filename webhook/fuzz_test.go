package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzInboundForm drives the webhook's form parser and message builder
// with arbitrary bodies: they never panic, only the body is parsed (never
// the query), an oversized body is refused, and a message that is
// accepted satisfies the documented limits.
func FuzzInboundForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "MessageSid=SM1&From=%2B15551234567&To=%2B15550001000&Body=hi&NumMedia=0")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "SmsMessageSid=SM2&From=whatsapp%3A%2B15551234567&Body=&NumMedia=2&MediaUrl0=u0&MediaUrl1=u1")
	f.Add("Application/X-WWW-Form-Urlencoded", "MessageSid=SM3&From=+&Body=%zz")
	f.Add("application/json", `{"MessageSid":"SM4"}`)
	f.Add("application/x-www-form-urlencoded", "MessageSid=SM5&From=a&Body=x&NumMedia=-1")
	f.Add("application/x-www-form-urlencoded", "MessageSid=SM6&From=a&Body=x&NumMedia=20"+strings.Repeat("&MediaUrl0=x", 3))
	f.Add("application/x-www-form-urlencoded", "MessageSid=SM7&From=%20%2B1%20&To=%0D%0A&Body=%00")
	f.Add("application/x-www-form-urlencoded", "a=1;b=2&MessageSid=SM8&MessageSid=SM9&From=x&Body=y")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/twilio/messaging/webhook?From=%2B19990000000&Body=query", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		vs, err := parseForm(httptest.NewRecorder(), r)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(body) > MaxBodyBytes {
			t.Fatalf("a %d-byte body was accepted (limit %d)", len(body), MaxBodyBytes)
		}
		if !strings.Contains(body, "From") && vs.Get("From") != "" || !strings.Contains(body, "Body") && vs.Get("Body") != "" {
			t.Fatal("values were read from the query string")
		}
		m, reason := inboundFromForm(vs)
		if reason != "" {
			if m != nil || !utf8.ValidString(reason) {
				t.Fatalf("refused (%q) but returned %+v", reason, m)
			}
			return
		}
		switch {
		case m == nil:
			t.Fatal("accepted without a message")
		case m.MessageSID == "" || len(m.MessageSID) > 64:
			t.Fatalf("MessageSid %q outside 1..64 bytes", m.MessageSID)
		case m.From == "" || len(m.From) > 64 || len(m.To) > 64:
			t.Fatalf("From %q / To %q outside the limits", m.From, m.To)
		case m.From != strings.TrimSpace(m.From) || m.To != strings.TrimSpace(m.To):
			t.Fatalf("From %q / To %q not trimmed", m.From, m.To)
		case len(m.MediaURLs) > 20:
			t.Fatalf("%d media URLs", len(m.MediaURLs))
		case m.Body == "" && len(m.MediaURLs) == 0:
			t.Fatal("accepted with neither body nor media")
		}
		for i, u := range m.MediaURLs {
			if u == "" {
				t.Fatalf("media URL %d is empty", i)
			}
		}
	})
}
