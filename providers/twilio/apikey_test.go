package twilio_test

import (
	"context"
	"testing"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

const (
	testKeySID    = "SK0123456789abcdef0123456789abcdef"
	testKeySecret = "keysecret0123456789abcdefABCDEF01"
)

// TestAPIKeyAuthenticatesREST: a provider with an API key makes every REST
// call (send, message list, number lookup) with the key, never the auth
// token; revoking the key fails the send as an authentication error; the
// same provider without the key goes back to the auth token.
func TestAPIKeyAuthenticatesREST(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	sim.AddAPIKey(testSID, testKeySID, testKeySecret)
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	cfg := config(sim.URL())
	cfg.APIKeySID, cfg.APIKeySecret = testKeySID, testKeySecret

	res, err := s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "with a key"})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := sim.Message(res.SID); !ok || m.AccountSID != testSID {
		t.Fatalf("message %+v not in the account", m)
	}
	if _, found, err := s.FindSent(ctx, cfg, twilio.Message{To: testTo, Body: "with a key"}, time.Now().Add(-time.Minute)); err != nil || !found {
		t.Fatalf("FindSent with a key: found %v, %v", found, err)
	}
	if _, err := s.WebhookBase(ctx, cfg, testFrom); err != nil {
		t.Fatal(err)
	}
	if got := sim.AuthUsers(); len(got) != 3 || got[0] != testKeySID || got[1] != testKeySID || got[2] != testKeySID {
		t.Fatalf("REST calls authenticated as %v, want the API key each time", got)
	}

	sim.RemoveAPIKey(testKeySID)
	_, err = s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "revoked"})
	if se := sendErr(t, err); se.Status != 401 || se.Code != 20003 || se.Class != twilio.ClassPermanent {
		t.Fatalf("revoked key: %+v", se)
	}

	cfg.APIKeySID, cfg.APIKeySecret = "", ""
	if _, err := s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "with the token"}); err != nil {
		t.Fatal(err)
	}
	if got := sim.AuthUsers(); got[len(got)-1] != testSID {
		t.Fatalf("without a key the call authenticated as %q", got[len(got)-1])
	}
}
