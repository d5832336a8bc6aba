package test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// Regression tests for the webhook defects of the security pass, each
// reproducing the attack against the real binary and showing it refused.

// TestStatusCallbackScopedToProvider: a status callback signed with
// provider B's token on B's callback URL, naming a message provider A sent,
// is acknowledged (so Twilio stops retrying) and changes nothing; A's own
// callback still does.
func TestStatusCallbackScopedToProvider(t *testing.T) {
	sim := newSim(t, twiliosim.Options{}) // no automatic callbacks: the test sends them
	s := startServer(t, "", nil)
	a := setupLine(t, s, sim, lineOptions{number: "+15550001000"})
	b := setupLine(t, s, sim, lineOptions{number: "+15550002000"})
	a.mustText(t, "+15552100001", "hi")
	a.waitReplies(t, "+15552100001", 1, 10*time.Second)
	c := a.onlyConversation(t)
	var sid string
	var id int64
	testutil.CheckFor(t, 10*time.Second, func() error {
		rows := a.outbound(t, c.ID)
		if len(rows) != 1 || rows[0].MessageSID == "" {
			return fmt.Errorf("outbox %+v", rows)
		}
		sid, id = rows[0].MessageSID, rows[0].ID
		return nil
	})
	callback := func(l *line, status string) int {
		t.Helper()
		u := s.URL + "/api/twilio/messaging/status?channelProviderId=" + url.QueryEscape(l.ProviderID) + "&ref=" + strconv.FormatInt(id, 10)
		p := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "AccountSid": {l.AccountSID}, "ErrorCode": {"30008"}}
		code, body := l.post(u, p, nil)
		if code != http.StatusNoContent {
			t.Fatalf("callback for %s: %d %q", l.ProviderID, code, body)
		}
		return code
	}
	callback(b, "failed") // the attack: B's token, B's URL, A's SID
	if rows := a.outbound(t, c.ID); rows[0].DeliveryStatus != "" || rows[0].ErrorCode != 0 {
		t.Fatalf("provider B's callback changed provider A's message: %+v", rows[0])
	}
	callback(a, "undelivered") // the control: A's own callback lands
	if rows := a.outbound(t, c.ID); rows[0].DeliveryStatus != "undelivered" || rows[0].ErrorCode != 30008 {
		t.Fatalf("provider A's own callback was not recorded: %+v", rows[0])
	}
}

// forgeWebhooks posts n webhooks with a forged signature, the i-th with
// X-Forwarded-For xff(i), and returns how many got 429; every other answer
// must be 403.
func forgeWebhooks(t *testing.T, l *line, n int, xff func(i int) string) int {
	t.Helper()
	limited := 0
	for i := 0; i < n; i++ {
		p := twiliosim.InboundParamsFor(l.AccountSID, "+15552100002", l.Number, "forged", twiliosim.NewMessageSID())
		req, err := twiliosim.NewSignedRequest(t.Context(), l.Webhook, "not-the-token", p)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", xff(i))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusForbidden:
		default:
			t.Fatalf("forged webhook %d: status %d", i, resp.StatusCode)
		}
	}
	return limited
}

// TestForwardedForCannotEscapeLimiter: by default (TRUST_PROXY=true, no
// TRUSTED_PROXIES) a client that rotates X-Forwarded-For is still one
// client: it runs out of failure budget and is not logged under the
// addresses it wrote.
func TestForwardedForCannotEscapeLimiter(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	// A budget of 2 failures refilling every 2 s: twenty requests exhaust it
	// unless each takes seconds.
	s := startServer(t, "", map[string]string{"WEBHOOK_FAILURE_RATE_LIMIT": "0.5"})
	l := setupLine(t, s, sim, lineOptions{})
	if limited := forgeWebhooks(t, l, 20, func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) }); limited == 0 {
		t.Fatal("rotating X-Forwarded-For escaped the failure limiter")
	}
	if logs := s.logs.String(); strings.Contains(logs, "client_ip=198.51.100.") || !strings.Contains(logs, "client_ip=127.0.0.1") {
		t.Fatalf("rejections not logged under the peer's address:\n%s", tail(logs, 20))
	}
	if len(l.conversations(t)) != 0 || sim.Count() != 0 {
		t.Fatal("a forged webhook changed something")
	}
}

// TestTrustedProxyForwardedFor: with TRUSTED_PROXIES naming the proxy (here
// the loopback the test connects from), the rightmost X-Forwarded-For entry
// that is not a trusted proxy is the client: distinct clients behind the
// proxy have their own budgets and are logged by their address, and what a
// client writes left of that entry is ignored.
func TestTrustedProxyForwardedFor(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"WEBHOOK_FAILURE_RATE_LIMIT": "0.5", "TRUSTED_PROXIES": "127.0.0.1"})
	l := setupLine(t, s, sim, lineOptions{})
	if limited := forgeWebhooks(t, l, 20, func(i int) string { return fmt.Sprintf("6.6.6.6, 198.51.100.%d", i+1) }); limited != 0 {
		t.Fatalf("distinct clients behind the trusted proxy shared a budget: %d limited", limited)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "client_ip=198.51.100.7 ") || strings.Contains(logs, "client_ip=6.6.6.6") {
		t.Fatalf("rejections not logged under the proxy-reported address:\n%s", tail(logs, 20))
	}
	if limited := forgeWebhooks(t, l, 20, func(i int) string { return fmt.Sprintf("10.0.0.%d, 203.0.113.5", i+1) }); limited == 0 {
		t.Fatal("one client behind the trusted proxy escaped the limiter by writing X-Forwarded-For entries")
	}
}

// TestInboundAddressValidated: validly signed webhooks whose From Twilio
// never sends get 400 and change nothing (no conversation, nothing sent);
// "WhatsApp:" in another case is stored as "whatsapp:" on the WhatsApp
// channel.
func TestInboundAddressValidated(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	bad := []string{"12345", "whatsapp:", "whatsapp:whatsapp:+15552100003", "+15552100003\r\n", "+1555210\r\n0003",
		"+15552100003\nX-Injected: 1", "+15552100003\x00", "\x00", "{{.}}", "whatsapp:{{.}}", "messenger:1234567890",
		"rcs:+15552100003", "15552100003", "+15552100003 ", "MyBank"}
	for _, from := range bad {
		p := twiliosim.InboundParamsFor(l.AccountSID, from, l.Number, "hello", twiliosim.NewMessageSID())
		code, body := l.post(l.Webhook, p, nil)
		if code != http.StatusBadRequest || !strings.HasPrefix(body, "From must be") {
			t.Errorf("From %q: %d %q", from, code, body)
		}
	}
	badTo := twiliosim.InboundParamsFor(l.AccountSID, "+15552100003", "{{.}}", "hello", twiliosim.NewMessageSID())
	if code, body := l.post(l.Webhook, badTo, nil); code != http.StatusBadRequest || !strings.HasPrefix(body, "To must be") {
		t.Errorf("To {{.}}: %d %q", code, body)
	}
	if cs := l.conversations(t); len(cs) != 0 {
		t.Fatalf("bad addresses created conversations: %+v", cs)
	}

	// A WhatsApp sender whose prefix is written in another case is the
	// same WhatsApp user: stored, answered and labelled as WhatsApp.
	p := twiliosim.InboundParamsFor(l.AccountSID, "WhatsApp:+15552100004", "WHATSAPP:"+l.Number, "hi", twiliosim.NewMessageSID())
	if code, body := l.post(l.Webhook, p, nil); code != http.StatusOK {
		t.Fatalf("WhatsApp: sender: %d %q", code, body)
	}
	l.waitReplies(t, "whatsapp:+15552100004", 1, 10*time.Second)
	c := l.onlyConversation(t)
	if c.UserID != "whatsapp:+15552100004" {
		t.Fatalf("user id %q, want whatsapp:+15552100004", c.UserID)
	}
	started := false
	for _, e := range l.events(t, c.ID) {
		if e.EventType == "conversation_start" {
			started = true
			if !strings.Contains(string(e.EventData), `"channel":"whatsapp"`) {
				t.Fatalf("conversation start %s, want the whatsapp channel", e.EventData)
			}
		}
	}
	if !started {
		t.Fatal("no conversation_start event")
	}
	for _, m := range sim.Messages() {
		if m.To != "whatsapp:+15552100004" {
			t.Fatalf("the simulated Twilio received a message for %q", m.To)
		}
	}
}

// TestWebhookMethodAndSize: a wrong method gets 405 with Allow: POST and a
// body over the limit 413, on both Twilio routes, and nothing changes.
func TestWebhookMethodAndSize(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	status := s.URL + "/api/twilio/messaging/status?channelProviderId=" + url.QueryEscape(l.ProviderID)
	for _, u := range []string{l.Webhook, status} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, err := http.NewRequestWithContext(t.Context(), m, u, strings.NewReader("Body=x"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("%s %s: %d, Allow %q", m, u[len(s.URL):strings.IndexByte(u, '?')], resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
		// Signed, so only the size is wrong.
		p := twiliosim.InboundParamsFor(l.AccountSID, "+15552100005", l.Number, strings.Repeat("a", 70<<10), twiliosim.NewMessageSID())
		if code, body := l.post(u, p, nil); code != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body on %s: %d %q", u[len(s.URL):strings.IndexByte(u, '?')], code, body)
		}
	}
	if len(l.conversations(t)) != 0 || sim.Count() != 0 {
		t.Fatal("a refused request changed something")
	}
}
