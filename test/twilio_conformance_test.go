package test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// statusCallback posts a status callback for the message m, signed with the
// line's auth token as Twilio signs it, and returns the answer's status.
func (l *line) statusCallback(t *testing.T, m twiliosim.Message, status string) int {
	t.Helper()
	code, body := l.post(m.StatusCallback, url.Values{
		"AccountSid": {m.AccountSID}, "From": {m.From}, "To": {m.To},
		"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {status}, "SmsStatus": {status},
	}, nil)
	if code == 0 {
		t.Fatalf("status callback %s: %s", status, body)
	}
	return code
}

// TestEveryDocumentedStatusAccepted posts a signed callback for each status
// Twilio documents for a message and checks each is acknowledged, and that
// partially_delivered (a final outcome) is stored and not moved back by a
// late "sent".
func TestEveryDocumentedStatusAccepted(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552100001", "hi")
	l.waitReplies(t, "+15552100001", 1, 10*time.Second)
	m := sim.MessagesTo("+15552100001")[0]
	if m.StatusCallback == "" {
		t.Fatal("reply carries no StatusCallback")
	}
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if rows := l.outbound(t, c.ID); len(rows) != 1 || rows[0].MessageSID != m.SID {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	for _, st := range []string{"accepted", "scheduled", "queued", "sending", "sent", "partially_delivered", "sent", "sending"} {
		if code := l.statusCallback(t, m, st); code != 204 {
			t.Fatalf("MessageStatus=%s answered %d, want 204", st, code)
		}
	}
	if rows := l.outbound(t, c.ID); rows[0].DeliveryStatus != "partially_delivered" {
		t.Fatalf("delivery status %q, want partially_delivered (never moved back by a late sent)", rows[0].DeliveryStatus)
	}
	for _, st := range []string{"delivered", "undelivered", "failed", "read", "canceled", "receiving", "received"} {
		if code := l.statusCallback(t, m, st); code != 204 {
			t.Fatalf("MessageStatus=%s answered %d, want 204", st, code)
		}
	}
}

// TestRetryAfterHonouredEndToEnd: a 429 with Retry-After: 1 is retried no
// sooner than a second later (the backoff alone would retry within 0.25 s).
func TestRetryAfterHonouredEndToEnd(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{})
	sim.FailNextRetryAfter(1, 429, 20429, "1")
	l.mustText(t, "+15552100002", "hi")
	l.waitReplies(t, "+15552100002", 1, 15*time.Second)
	f := sim.Failures()
	if len(f) != 1 || f[0].Status != 429 {
		t.Fatalf("failures %+v", f)
	}
	m := sim.MessagesTo("+15552100002")[0]
	if gap := m.Received.Sub(f[0].Received); gap < time.Second {
		t.Fatalf("retried %v after a 429 with Retry-After: 1", gap)
	}
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if rows := l.outbound(t, c.ID); len(rows) != 1 || rows[0].State != "sent" || rows[0].Attempts != 2 {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
}

// TestTimedOutSendAskedBeforeFailing: Twilio holds a send past the send
// timeout but accepts it. The engine asks Twilio (the list lookup crash
// recovery uses) before deciding, records the reply as sent with Twilio's
// SID, and does not send it again.
func TestTimedOutSendAskedBeforeFailing(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"TWILIO_SEND_TIMEOUT_MS": "1000", "TWILIO_SEND_MAX_ATTEMPTS": "4"})
	l := setupLine(t, s, sim, lineOptions{})
	sim.HoldNextThenAccept(1, 1500*time.Millisecond)
	l.mustText(t, "+15552100003", "hi")
	l.waitReplies(t, "+15552100003", 1, 15*time.Second)
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 15*time.Second, func() error {
		if rows := l.outbound(t, c.ID); len(rows) != 1 || rows[0].State != "sent" {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	m := sim.MessagesTo("+15552100003")
	rows := l.outbound(t, c.ID)
	if len(m) != 1 || rows[0].MessageSID != m[0].SID || rows[0].Attempts != 1 {
		t.Fatalf("outbox %+v, Twilio has %+v: want one message, recorded with its SID after one attempt", rows, m)
	}
	if sim.ListCalls() == 0 {
		t.Fatal("Twilio was never asked")
	}
	if got := scrape(t, s.MetricsURL)[`switchboard_outbound_outcome_lookups_total{result="found"}`]; got != 1 {
		t.Fatalf("switchboard_outbound_outcome_lookups_total{result=\"found\"} = %v, want 1", got)
	}
}

// TestResentReplyKeepsStatusCallback: without PUBLIC_BASE_URL, a reply left
// unsent by a crash is sent after the restart with a StatusCallback, whose
// base comes from where Twilio posts the number's inbound messages (the
// number's sms_url), so its delivery receipts are recorded.
func TestResentReplyKeepsStatusCallback(t *testing.T) {
	dir := t.TempDir()
	// Twilio's first callback follows the carrier's answer, never at once;
	// the resumed send leaves during start-up, milliseconds before the
	// listener is up.
	sim := newSim(t, twiliosim.Options{Callbacks: true, CallbackDelay: 300 * time.Millisecond})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	sim.SetNumberWebhook(l.AccountSID, l.Number, l.Webhook)
	// Twilio holds the reply's send: the row is still pending when the
	// process dies.
	sim.SetFaults(twiliosim.Faults{RateTimeout: 1})
	l.mustText(t, "+15552100004", "hi")
	if err := sim.Wait(t.Context(), func() bool { return len(sim.Failures()) == 1 }); err != nil {
		t.Fatal(err)
	}
	s.kill9()
	sim.SetFaults(twiliosim.Faults{})

	// The same address, as a deployment's public URL stays the same.
	addr := strings.TrimPrefix(s.URL, "http://")
	s2 := startServer(t, dir, map[string]string{"SWITCHBOARD_ADDR": addr})
	l.moveTo(s2)
	l.waitReplies(t, "+15552100004", 1, 20*time.Second)
	m := sim.MessagesTo("+15552100004")[0]
	rows := l.outbound(t, l.onlyConversation(t).ID)
	want := s2.URL + "/api/twilio/messaging/status?channelProviderId=" + url.QueryEscape(l.ProviderID) + "&ref=" + strconv.FormatInt(rows[0].ID, 10)
	if m.StatusCallback != want {
		t.Fatalf("resent reply's StatusCallback %q, want %q", m.StatusCallback, want)
	}
	if sim.NumberCalls() != 1 {
		t.Fatalf("%d number lookups, want 1", sim.NumberCalls())
	}
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if rows := l.outbound(t, c.ID); len(rows) != 1 || rows[0].DeliveryStatus != "delivered" {
			return fmt.Errorf("outbox %+v; callbacks %+v", rows, sim.Callbacks())
		}
		return nil
	})
}

// TestAPIKeyLine: a provider given an API key sends its replies with the key
// (Basic auth user the key SID), shows the secret masked, keeps it when the
// masked config is saved back, and still checks webhook signatures with the
// auth token.
func TestAPIKeyLine(t *testing.T) {
	const keySID, keySecret = "SK00000000000000000000000000000001", "keysecret0123456789abcdefABCDEF01"
	sim := newSim(t, twiliosim.Options{Callbacks: true})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	sim.AddAPIKey(l.AccountSID, keySID, keySecret)

	var prov struct {
		Version int            `json:"version"`
		Config  map[string]any `json:"config"`
	}
	s.mustAPI("GET", "/api/providers/"+l.ProviderID, l.token, nil, &prov, 200)
	cfg := prov.Config
	cfg["apiKeySid"], cfg["apiKeySecret"] = keySID, keySecret
	s.mustAPI("PUT", "/api/providers/"+l.ProviderID, l.token, map[string]any{"version": prov.Version, "config": cfg}, &prov, 200)
	if prov.Config["apiKeySecret"] != "••••EF01" || prov.Config["apiKeySid"] != keySID {
		t.Fatalf("config shown %v", prov.Config)
	}
	// Saved back as read (masked): the key is kept.
	s.mustAPI("PUT", "/api/providers/"+l.ProviderID, l.token, map[string]any{"version": prov.Version, "config": prov.Config}, &prov, 200)
	// The change is audited, with the secret masked.
	var audit []auditEntry
	s.mustAPI("GET", "/api/providers/"+l.ProviderID+"/audit-logs", l.token, nil, &audit, 200)
	if auditActions(audit) != "UPDATE,UPDATE,CREATE" || !strings.Contains(string(audit[1].NewEntity), keySID) {
		t.Fatalf("provider audit %+v", audit)
	}
	for _, e := range audit {
		if strings.Contains(string(e.OldEntity)+string(e.NewEntity), keySecret) {
			t.Fatalf("the API key secret is in the audit log: %+v", e)
		}
	}

	l.mustText(t, "+15552100005", "hi") // signed with the auth token
	l.waitReplies(t, "+15552100005", 1, 10*time.Second)
	users := sim.AuthUsers()
	if len(users) == 0 || users[len(users)-1] != keySID {
		t.Fatalf("REST calls authenticated as %v, want the API key %s", users, keySID)
	}
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error { // callbacks are signed with the auth token
		if rows := l.outbound(t, c.ID); len(rows) != 1 || rows[0].DeliveryStatus != "delivered" {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})

	// A revoked key fails the send as an authentication error, recorded.
	sim.RemoveAPIKey(keySID)
	l.mustText(t, "+15552100005", "again")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if rows := l.outbound(t, c.ID); len(rows) != 2 || rows[1].State != "failed" || rows[1].ErrorCode != 20003 {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
}

// TestMessagingServiceLine: a provider that sends through a Messaging
// Service, with no fixed number, answers texts to any number of the
// service: each (number texted, sender) pair is its own conversation, and
// each reply goes out from the number the user texted, through the service.
func TestMessagingServiceLine(t *testing.T) {
	const service = "MG00000000000000000000000000000001"
	const numA, numB = "+15550003001", "+15550003002"
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	sim.AddMessagingService(l.AccountSID, service, []string{numA, numB}, "", true)
	var prov struct {
		Version int            `json:"version"`
		Config  map[string]any `json:"config"`
	}
	s.mustAPI("GET", "/api/providers/"+l.ProviderID, l.token, nil, &prov, 200)
	delete(prov.Config, "fromNumber")
	prov.Config["messagingServiceSid"] = service
	s.mustAPI("PUT", "/api/providers/"+l.ProviderID, l.token, map[string]any{"version": prov.Version, "config": prov.Config}, &prov, 200)
	if _, has := prov.Config["fromNumber"]; has || prov.Config["messagingServiceSid"] != service {
		t.Fatalf("config %v", prov.Config)
	}

	text := func(from, to, body string) {
		t.Helper()
		if code, resp := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, from, to, body, twiliosim.NewMessageSID()), nil); code != 200 {
			t.Fatalf("webhook: %d %s", code, resp)
		}
	}
	const ada, bob = "+15552100011", "+15552100012"
	text(ada, numA, "to A")
	text(bob, numB, "to B")
	text(ada, numB, "ada to B")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := len(sim.MessagesTo(ada)) + len(sim.MessagesTo(bob)); n != 3 {
			return fmt.Errorf("%d replies", n)
		}
		return nil
	})
	want := map[string]string{"R1: to A": numA, "R1: to B": numB, "R1: ada to B": numB}
	for _, m := range append(sim.MessagesTo(ada), sim.MessagesTo(bob)...) {
		if want[m.Body] == "" || m.From != want[m.Body] || m.Form.Get("From") != want[m.Body] || m.Form.Get("MessagingServiceSid") != service {
			t.Fatalf("reply %q from %s (form %v), want from %s through the service", m.Body, m.From, m.Form, want[m.Body])
		}
	}
	if cs := l.conversations(t); len(cs) != 3 {
		t.Fatalf("%d conversations, want one per number texted and sender", len(cs))
	}
	text(ada, numA, "again")
	got := l.waitReplies(t, ada, 3, 10*time.Second)
	if got[2] != "R2: again" {
		t.Fatalf("ada's second text to A got %q, want the conversation continued", got[2])
	}
}
