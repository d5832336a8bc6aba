package webhook

import (
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/providers"
)

func TestOurNumber(t *testing.T) {
	sms := &providers.TwilioConfig{FromNumber: "+15550001000"}
	svc := &providers.TwilioConfig{MessagingServiceSID: "MG00000000000000000000000000000000"}
	svcFrom := &providers.TwilioConfig{FromNumber: "+15550001000", MessagingServiceSID: "MG00000000000000000000000000000000"}
	wa := &providers.TwilioConfig{FromNumber: "whatsapp:+15550002000"}
	for _, tc := range []struct {
		cfg         *providers.TwilioConfig
		given, want string
		err         string
	}{
		{sms, "", "+15550001000", ""},
		{sms, "+15550001000", "+15550001000", ""},
		{sms, "+15550009999", "", "fromNumber"},
		{svc, "", "", "from is required"},
		{svc, "+15550003000", "+15550003000", ""},
		{svc, "12345", "12345", ""}, // a short code of the service
		{svc, "nope", "", "from:"},
		{svcFrom, "", "+15550001000", ""},
		{svcFrom, "+15550004000", "+15550004000", ""},
		{wa, "", "whatsapp:+15550002000", ""},
		{wa, "WhatsApp:+15550002000", "whatsapp:+15550002000", ""},
	} {
		got, err := ourNumber(tc.cfg, tc.given)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ourNumber(%+v, %q) = %q, %v; want error with %q", tc.cfg, tc.given, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ourNumber(%+v, %q) = %q, %v; want %q", tc.cfg, tc.given, got, err, tc.want)
		}
	}
}

func TestRecipient(t *testing.T) {
	for _, tc := range []struct{ to, from, want, err string }{
		{"+15551234567", "+15550001000", "+15551234567", ""},
		{"", "+15550001000", "", "to is required"},
		{"5551234567", "+15550001000", "", "E.164"},
		{"whatsapp:+15551234567", "+15550001000", "", "SMS"},
		{"+15551234567", "whatsapp:+15550002000", "", "WhatsApp"},
		{"WHATSAPP:+15551234567", "whatsapp:+15550002000", "whatsapp:+15551234567", ""},
		{"+15551234567", "12345", "+15551234567", ""},
	} {
		got, err := recipient(tc.to, tc.from)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("recipient(%q, %q) = %q, %v; want error with %q", tc.to, tc.from, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("recipient(%q, %q) = %q, %v; want %q", tc.to, tc.from, got, err, tc.want)
		}
	}
}

func TestCheckOpening(t *testing.T) {
	for _, tc := range []struct {
		text, instruction, metadata, err string
	}{
		{"", "", "", ""},
		{"hi", "", `{"a":1}`, ""},
		{"", "be brief", "null", ""},
		{"hi", "be brief", "", "not both"},
		{"  ", "", "", "blank"},
		{strings.Repeat("x", maxStartText+1), "", "", "limited"},
		{"", "", `[1]`, "object"},
		{"", "", `"s"`, "object"},
		{"", "", `{"a":"` + strings.Repeat("x", maxStartMetadata) + `"}`, "limited"},
	} {
		err := checkOpening(tc.text, tc.instruction, []byte(tc.metadata))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkOpening(%.20q, %q, %.20q) = %v, want %q", tc.text, tc.instruction, tc.metadata, err, tc.err)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	for _, tc := range []struct{ header, body, want, err string }{
		{"", "", "", ""},
		{"h", "", "h", ""},
		{"", "b", "b", ""},
		{"same", "same", "same", ""},
		{"h", "b", "", "differ"},
		{"", strings.Repeat("k", maxIdempotencyKey+1), "", "limited"},
		{"", "a\nb", "", "printable"},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if tc.header != "" {
			r.Header.Set("Idempotency-Key", tc.header)
		}
		got, err := idempotencyKey(r, tc.body)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) || got != tc.want {
			t.Errorf("idempotencyKey(%q, %q) = %q, %v; want %q, %q", tc.header, tc.body, got, err, tc.want, tc.err)
		}
	}
}
