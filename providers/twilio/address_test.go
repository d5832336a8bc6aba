package twilio

import (
	"strings"
	"testing"

	"switchboard/store"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    Address
		str     string
		wantErr bool
	}{
		{in: "+15551234567", want: Address{ChannelSMS, "+15551234567"}, str: "+15551234567"},
		{in: "whatsapp:+15551234567", want: Address{ChannelWhatsApp, "+15551234567"}, str: "whatsapp:+15551234567"},
		{in: "WhatsApp:+447700900123", want: Address{ChannelWhatsApp, "+447700900123"}, str: "whatsapp:+447700900123"},
		{in: "+12", want: Address{ChannelSMS, "+12"}, str: "+12"},
		{in: "+123456789012345", want: Address{ChannelSMS, "+123456789012345"}, str: "+123456789012345"},
		{in: "+1234567890123456", wantErr: true}, // 16 digits
		{in: "+1", wantErr: true},
		{in: "+05551234567", wantErr: true},
		{in: "15551234567", wantErr: true},
		{in: "+1555 123 4567", wantErr: true},
		{in: "+1555-123-4567", wantErr: true},
		{in: "", wantErr: true},
		{in: "whatsapp:", wantErr: true},
		{in: "whatsapp:15551234567", wantErr: true},
		{in: "sms:+15551234567", wantErr: true},
		{in: "+1555123456７", wantErr: true}, // full-width digit
		{in: " +15551234567", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAddress(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseAddress(%q) = %+v, want error", tc.in, got)
				}
				if store.ErrorCode(err) != store.EINVALID {
					t.Fatalf("error code = %q, want %q", store.ErrorCode(err), store.EINVALID)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAddress(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.str {
				t.Fatalf("String() = %q, want %q", got.String(), tc.str)
			}
			if got.IsWhatsApp() != (tc.want.Channel == ChannelWhatsApp) {
				t.Fatal("IsWhatsApp disagrees with Channel")
			}
		})
	}
}

func TestMaskNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+15551234567", "+1555…4567"},
		{"whatsapp:+15551234567", "whatsapp:+1555…4567"},
		{"+447700900123", "+4477…0123"},
		{"+123456789", "…"},
		{"+12", "…"},
		{"", "…"},
		{"whatsapp:+1234", "whatsapp:…"},
		{"not a number at all", "…"},
		{"15551234567", "…"},
		{"445551234567", "44555…4567"},
		{"+1555123456", "…"},
	}
	for _, tc := range tests {
		if got := MaskNumber(tc.in); got != tc.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseInbound: the address forms Twilio posts are accepted and
// normalised; everything the security pass sent (and its neighbours) is
// refused with an error that does not echo the value.
func TestParseInbound(t *testing.T) {
	tests := []struct {
		name, from, to string
		wantFrom       string
		wantTo         string
		errPart        string // "" = accepted
	}{
		{"sms", "+15551234567", "+15557654321", "+15551234567", "+15557654321", ""},
		{"sms to a short code", "+15551234567", "12345", "+15551234567", "12345", ""},
		{"sms to a 3-digit short code", "+447700900123", "888", "+447700900123", "888", ""},
		{"sms to an 8-digit short code", "+4915112345678", "12345678", "+4915112345678", "12345678", ""},
		{"sms, To missing", "+15551234567", "", "+15551234567", "", ""},
		{"whatsapp", "whatsapp:+15551234567", "whatsapp:+14155238886", "whatsapp:+15551234567", "whatsapp:+14155238886", ""},
		{"WhatsApp: is normalised", "WhatsApp:+15551234567", "WHATSAPP:+14155238886", "whatsapp:+15551234567", "whatsapp:+14155238886", ""},
		{"shortest E.164", "+12", "+15557654321", "+12", "+15557654321", ""},
		{"longest E.164", "+123456789012345", "+15557654321", "+123456789012345", "+15557654321", ""},

		{"From a short code", "12345", "+15557654321", "", "", "From must be"},
		{"From digits without +", "15551234567", "+15557654321", "", "", "From must be"},
		{"From whatsapp: alone", "whatsapp:", "whatsapp:+15557654321", "", "", "From must be"},
		{"From doubled prefix", "whatsapp:whatsapp:+15551234567", "whatsapp:+15557654321", "", "", "From must be"},
		{"From with CR LF", "+15551234567\r\n", "+15557654321", "", "", "From must be"},
		{"From with injected line", "+15551234567\r\nX-Evil: 1", "+15557654321", "", "", "From must be"},
		{"From with LF", "+1555123\n4567", "+15557654321", "", "", "From must be"},
		{"From with NUL", "+15551234567\x00", "+15557654321", "", "", "From must be"},
		{"From template", "{{.}}", "+15557654321", "", "", "From must be"},
		{"From template in whatsapp", "whatsapp:{{.}}", "whatsapp:+15557654321", "", "", "From must be"},
		{"From empty", "", "+15557654321", "", "", "From must be"},
		{"From spaces", " +15551234567", "+15557654321", "", "", "From must be"},
		{"From leading zero", "+05551234567", "+15557654321", "", "", "From must be"},
		{"From 16 digits", "+1234567890123456", "+15557654321", "", "", "From must be"},
		{"From alphanumeric sender", "MyBank", "+15557654321", "", "", "From must be"},
		{"From messenger", "messenger:1234567890", "messenger:0987654321", "", "", "From must be"},
		{"From rcs", "rcs:+15551234567", "rcs:my_agent", "", "", "From must be"},
		{"From sms: prefix", "sms:+15551234567", "+15557654321", "", "", "From must be"},
		{"From full-width digit", "+1555123456７", "+15557654321", "", "", "From must be"},
		{"From unicode plus", "＋15551234567", "+15557654321", "", "", "From must be"},

		{"To garbage", "+15551234567", "{{.}}", "", "", "To must be"},
		{"To short code too short", "+15551234567", "12", "", "", "To must be"},
		{"To short code too long", "+15551234567", "123456789", "", "", "To must be"},
		{"To with CR LF", "+15551234567", "+15557654321\r\n", "", "", "To must be"},
		{"To whatsapp: alone", "whatsapp:+15551234567", "whatsapp:", "", "", "To must be"},
		{"To doubled prefix", "whatsapp:+15551234567", "whatsapp:whatsapp:+15557654321", "", "", "To must be"},
		{"whatsapp From, sms To", "whatsapp:+15551234567", "+15557654321", "", "", "both be WhatsApp"},
		{"sms From, whatsapp To", "+15551234567", "whatsapp:+15557654321", "", "", "both be WhatsApp"},
		{"whatsapp From, short code To", "whatsapp:+15551234567", "12345", "", "", "both be WhatsApp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := ParseInbound(tc.from, tc.to)
			if tc.errPart != "" {
				if err == nil {
					t.Fatalf("ParseInbound(%q, %q) = %+v, %+v, want an error", tc.from, tc.to, from, to)
				}
				if store.ErrorCode(err) != store.EINVALID || !strings.Contains(store.ErrorMessage(err), tc.errPart) {
					t.Fatalf("error %v, want EINVALID containing %q", err, tc.errPart)
				}
				if err != errInboundFrom && err != errInboundTo && err != errInboundChannel {
					t.Fatalf("error %v is not one of the fixed messages (it must never echo the value)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInbound(%q, %q): %v", tc.from, tc.to, err)
			}
			if from.String() != tc.wantFrom || (tc.to != "" && to.String() != tc.wantTo) || (tc.to == "" && to != Address{}) {
				t.Fatalf("got %q, %q; want %q, %q", from, to, tc.wantFrom, tc.wantTo)
			}
			if from.Channel != to.Channel && tc.to != "" {
				t.Fatalf("channels differ: %+v %+v", from, to)
			}
		})
	}
}

// BenchmarkParseInbound is the cost the address check adds to every
// accepted webhook.
func BenchmarkParseInbound(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseInbound("whatsapp:+15551234567", "whatsapp:+15557654321"); err != nil {
			b.Fatal(err)
		}
	}
}
