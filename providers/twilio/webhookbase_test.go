package twilio_test

import (
	"context"
	"testing"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

func TestCallbackBaseOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://sb.example.com/api/twilio/messaging/webhook?apiKey=k&channelProviderId=p", "https://sb.example.com"},
		{"http://127.0.0.1:8080/api/twilio/messaging/webhook", "http://127.0.0.1:8080"},
		{"https://edge.example.com/switchboard/api/twilio/messaging/webhook?x=1", "https://edge.example.com/switchboard"},
		{"https://sb.example.com/api/twilio/messaging/status", ""},          // not the inbound webhook
		{"https://webhooks.twilio.com/v1/Accounts/AC/Flows/FW", ""},         // a Studio flow, not a Switchboard
		{"https://user:pw@sb.example.com/api/twilio/messaging/webhook", ""}, // credentials never become a callback
		{"ftp://sb.example.com/api/twilio/messaging/webhook", ""},
		{"/api/twilio/messaging/webhook", ""},
		{"", ""},
	} {
		if got := twilio.CallbackBaseOf(tc.in); got != tc.want {
			t.Errorf("CallbackBaseOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWebhookBase asks the simulated Twilio where a number's inbound
// messages go and derives the Switchboard's base from it.
func TestWebhookBase(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	cfg := config(sim.URL())

	sim.SetNumberWebhook(testSID, testFrom, "https://sb.example.com/edge/api/twilio/messaging/webhook?apiKey=k&channelProviderId=p")
	sim.SetNumberWebhook(testSID, "+15005550007", "https://other.example.com/sms") // another app's number
	// Listed first for a lookup of testFrom: Twilio's filter is a pattern.
	sim.SetNumberWebhook(testSID, "+1"+testFrom[1:], "https://wrong.example.com/api/twilio/messaging/webhook")

	for _, tc := range []struct{ number, want string }{
		{testFrom, "https://sb.example.com/edge"},
		{"", "https://sb.example.com/edge"},                     // the provider's fromNumber
		{"whatsapp:" + testFrom, "https://sb.example.com/edge"}, // a WhatsApp sender on the same number
		{"+15005550007", ""},
		{"+15005550099", ""}, // not the account's
	} {
		got, err := s.WebhookBase(ctx, cfg, tc.number)
		if err != nil || got != tc.want {
			t.Errorf("WebhookBase(%q) = %q, %v; want %q", tc.number, got, err, tc.want)
		}
	}

	bad := cfg
	bad.AuthToken = "ffffffffffffffffffffffffffffffff"
	if _, err := s.WebhookBase(ctx, bad, testFrom); err == nil {
		t.Fatal("a refused lookup reported no error")
	} else if se := sendErr(t, err); se.Status != 401 || se.Class != twilio.ClassPermanent {
		t.Fatalf("refused lookup: %+v", se)
	}
}
