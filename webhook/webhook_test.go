package webhook

import (
	"net/url"
	"testing"
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
		{"blank from", func(v url.Values) { v.Set("From", "  ") }, "From is required", 0},
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
