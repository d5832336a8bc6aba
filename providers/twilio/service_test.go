package twilio_test

import (
	"context"
	"testing"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

const testService = "MG0123456789abcdef0123456789abcdef"

// TestMessagingServiceSend: a provider with a Messaging Service and no
// fixed number sends with MessagingServiceSid: with From (the number the
// user texted) Twilio sends from it; without, the service picks. A message
// sent through the service is found again without a From.
func TestMessagingServiceSend(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	sim.AddMessagingService(testSID, testService, []string{"+15005550010", "+15005550011"}, "", true)
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	cfg := config(sim.URL())
	cfg.FromNumber, cfg.MessagingServiceSID = "", testService

	res, err := s.Send(ctx, cfg, twilio.Message{From: "+15005550011", To: testTo, Body: "from the number texted"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := sim.Message(res.SID)
	if m.From != "+15005550011" || m.Form.Get("From") != "+15005550011" || m.Form.Get("MessagingServiceSid") != testService {
		t.Fatalf("sent %+v (form %v)", m, m.Form)
	}
	res, err = s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "service picks"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ = sim.Message(res.SID)
	if m.From != "+15005550010" || m.Form.Has("From") || m.Form.Get("MessagingServiceSid") != testService {
		t.Fatalf("sent %+v (form %v)", m, m.Form)
	}
	got, found, err := s.FindSent(ctx, cfg, twilio.Message{To: testTo, Body: "service picks"}, time.Now().Add(-time.Minute))
	if err != nil || !found || got.SID != res.SID {
		t.Fatalf("FindSent through the service: %+v, %v, %v", got, found, err)
	}

	// Neither a number nor a service: refused before any call.
	bare := cfg
	bare.MessagingServiceSID = ""
	_, err = s.Send(ctx, bare, twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Code != 21603 || se.Status != 0 {
		t.Fatalf("no sender: %+v", se)
	}
	// Another account's service is refused by Twilio.
	other := cfg
	other.MessagingServiceSID = "MG" + testService[2:len(testService)-1] + "0"
	_, err = s.Send(ctx, other, twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Code != 21705 || !se.Permanent() {
		t.Fatalf("unknown service: %+v", se)
	}
}

// TestWebhookBaseOfService: with a Messaging Service, the base comes from
// the service's inbound webhook, or from the number's when the service
// defers to its numbers.
func TestWebhookBaseOfService(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	cfg := config(sim.URL())
	cfg.MessagingServiceSID = testService
	sim.SetNumberWebhook(testSID, testFrom, "https://number.example.com/api/twilio/messaging/webhook")

	sim.AddMessagingService(testSID, testService, []string{testFrom}, "https://service.example.com/sb/api/twilio/messaging/webhook?apiKey=k", false)
	if got, err := s.WebhookBase(context.Background(), cfg, testFrom); err != nil || got != "https://service.example.com/sb" {
		t.Fatalf("service webhook: %q, %v", got, err)
	}
	sim.AddMessagingService(testSID, testService, []string{testFrom}, "", true)
	if got, err := s.WebhookBase(context.Background(), cfg, testFrom); err != nil || got != "https://number.example.com" {
		t.Fatalf("service deferring to the number: %q, %v", got, err)
	}
}
