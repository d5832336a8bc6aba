package twilio

import (
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
