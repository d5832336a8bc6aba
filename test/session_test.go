package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

func TestSMSHappyPath(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15551234567", "hello")
	l.waitReplies(t, "+15551234567", 1, 10*time.Second)
	m := sim.MessagesTo("+15551234567")[0]
	if m.From != l.Number || m.Body != "R1: hello" || m.AccountSID != l.AccountSID {
		t.Fatalf("reply %+v", m)
	}
	if !strings.Contains(m.StatusCallback, "/api/twilio/messaging/status") {
		t.Errorf("StatusCallback = %q", m.StatusCallback)
	}
	cs := l.conversations(t)
	if len(cs) != 1 || cs[0].UserID != "+15551234567" || cs[0].Status != "awaiting_user_input" || cs[0].StageID != l.StageID {
		t.Fatalf("conversations %+v", cs)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		var kinds []string
		for _, e := range l.events(t, cs[0].ID) {
			kinds = append(kinds, e.EventType)
		}
		if strings.Join(kinds, ",") != "conversation_start,message,message,delivery" {
			return fmt.Errorf("events %v", kinds)
		}
		return nil
	})
}

func TestWhatsAppHappyPath(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{number: "whatsapp:+15550002000"})
	l.mustText(t, "whatsapp:+447700900123", "hola")
	l.waitReplies(t, "whatsapp:+447700900123", 1, 10*time.Second)
	m := sim.MessagesTo("whatsapp:+447700900123")[0]
	if m.From != "whatsapp:+15550002000" || m.Body != "R1: hola" {
		t.Fatalf("reply %+v", m)
	}
	if cs := l.conversations(t); cs[0].UserID != "whatsapp:+447700900123" {
		t.Fatalf("userId %q", cs[0].UserID)
	}
}

// TestContextContinues uses a local OpenAI-compatible endpoint and checks
// the LLM sees the stage prompt, the earlier turns and the new text.
func TestContextContinues(t *testing.T) {
	var mu sync.Mutex
	var requests [][]map[string]string
	llmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model    string              `json:"model"`
			Messages []map[string]string `json:"messages"`
		}
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, "bad request", 400)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		requests = append(requests, body.Messages)
		n := len(requests)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json") // as OpenAI answers
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"answer %d"},"finish_reason":"stop"}]}`, n)
	}))
	defer llmSrv.Close()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmType: "openai-legacy", llmConfig: map[string]any{"apiKey": "sk-test", "baseUrl": llmSrv.URL + "/v1"}})
	l.mustText(t, "+15551230001", "my name is Ada")
	l.waitReplies(t, "+15551230001", 1, 10*time.Second)
	l.mustText(t, "+15551230001", "what is my name?")
	got := l.waitReplies(t, "+15551230001", 2, 10*time.Second)
	if got[0] != "answer 1" || got[1] != "answer 2" {
		t.Fatalf("replies %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var seq []string
	for _, m := range requests[1] {
		seq = append(seq, m["role"]+":"+m["content"])
	}
	want := "system:You are a helpful assistant.|user:my name is Ada|assistant:answer 1|user:what is my name?"
	if strings.Join(seq, "|") != want {
		t.Fatalf("second LLM request %q\nwant %q", strings.Join(seq, "|"), want)
	}
}

func TestExpiryStartsNewConversation(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "300"})
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15551230002", "one")
	l.waitReplies(t, "+15551230002", 1, 10*time.Second)
	testutil.CheckFor(t, 10*time.Second, func() error {
		cs := l.conversations(t)
		if len(cs) != 1 || cs[0].Status != "finished" {
			return fmt.Errorf("conversations %+v", cs)
		}
		return nil
	})
	c := l.conversations(t)[0]
	if !strings.Contains(string(c.StatusDetails), "inactivity_timeout") {
		t.Errorf("statusDetails %s", c.StatusDetails)
	}
	evs := l.events(t, c.ID)
	if last := evs[len(evs)-1]; last.EventType != "conversation_end" || !strings.Contains(string(last.EventData), "inactivity_timeout") {
		t.Fatalf("last event %+v", last)
	}
	l.mustText(t, "+15551230002", "two")
	got := l.waitReplies(t, "+15551230002", 2, 10*time.Second)
	if got[1] != "R1: two" {
		t.Fatalf("new conversation reply %q (turn should restart at 1)", got[1])
	}
	if n := len(l.conversations(t)); n != 2 {
		t.Fatalf("%d conversations, want 2", n)
	}
}

func TestWebhookRejections(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"WEBHOOK_FAILURE_RATE_LIMIT": "1000"})
	l := setupLine(t, s, sim, lineOptions{})
	// A second project whose stage the first project's key must not reach.
	other := setupLine(t, s, sim, lineOptions{number: "+15550009999"})
	// A key that does not allow twilio_messaging.
	var rec struct {
		Key string `json:"key"`
	}
	s.mustAPI("POST", "/api/api-keys", l.token, map[string]any{"projectId": l.ProjectID, "name": "web only", "allowedChannels": []string{"web"}}, &rec, 201)
	webOnly := rec.Key

	wh := func(q url.Values) string { return s.URL + "/api/twilio/messaging/webhook?" + q.Encode() }
	base := func() url.Values {
		return url.Values{"apiKey": {l.APIKey}, "stageId": {l.StageID}, "channelProviderId": {l.ProviderID}}
	}
	with := func(k, v string) url.Values { q := base(); q.Set(k, v); return q }
	without := func(k string) url.Values { q := base(); q.Del(k); return q }
	params := func() url.Values {
		return twiliosim.InboundParamsFor(l.AccountSID, "+15551230003", l.Number, "hi", twiliosim.NewMessageSID())
	}

	cases := []struct {
		name   string
		url    string
		params url.Values
		token  string // signing token, default the line's
		noSig  bool
		want   int
	}{
		{"missing apiKey", wh(without("apiKey")), params(), "", false, 400},
		{"missing stageId", wh(without("stageId")), params(), "", false, 400},
		{"missing channelProviderId", wh(without("channelProviderId")), params(), "", false, 400},
		{"unknown provider", wh(with("channelProviderId", "prov_nope")), params(), "", false, 400},
		{"llm provider as channel", wh(with("channelProviderId", l.LLMID)), params(), "", false, 400},
		{"missing signature", l.Webhook, params(), "", true, 403},
		{"wrong signing token", l.Webhook, params(), "not-the-token", false, 403},
		{"bad signature beats bad key", wh(with("apiKey", "akey_live_wrong")), params(), "not-the-token", false, 403},
		{"unknown api key", wh(with("apiKey", "akey_live_wrong")), params(), "", false, 401},
		{"channel not allowed", wh(with("apiKey", webOnly)), params(), "", false, 403},
		{"stage of another project", wh(with("stageId", other.StageID)), params(), "", false, 400},
		{"unknown agent", wh(with("agentId", "agnt_nope")), params(), "", false, 400},
		{"missing From", l.Webhook, func() url.Values { p := params(); p.Del("From"); return p }(), "", false, 400},
		{"no body and no media", l.Webhook, func() url.Values { p := params(); p.Set("Body", ""); return p }(), "", false, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := l.AuthToken
			if c.token != "" {
				tok = c.token
			}
			req, _ := twiliosim.NewSignedRequest(t.Context(), c.url, tok, c.params)
			if c.noSig {
				req.Header.Del("X-Twilio-Signature")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
	// Nothing was processed.
	time.Sleep(100 * time.Millisecond) // give a wrongly accepted message time to show up
	if n := len(l.conversations(t)); n != 0 {
		t.Fatalf("%d conversations after rejected webhooks", n)
	}
	if n := sim.Count(); n != 0 {
		t.Fatalf("%d messages sent after rejected webhooks", n)
	}
}

func TestSignatureBehindProxy(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	u, _ := url.Parse(l.Webhook)
	// Twilio signed the public https URL; the proxy forwards to us.
	for i, public := range []string{
		"https://sms.example.com" + u.RequestURI(),
		"https://sms.example.com:443" + u.RequestURI(),
	} {
		p := twiliosim.InboundParamsFor(l.AccountSID, fmt.Sprintf("+1555123100%d", i), l.Number, "via proxy", twiliosim.NewMessageSID())
		req, _ := twiliosim.NewSignedRequest(t.Context(), public, l.AuthToken, p)
		req.URL, _ = url.Parse(l.Webhook)
		req.Host = u.Host
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "sms.example.com")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", public, resp.StatusCode)
		}
	}
}

func TestDuplicateAnsweredOnce(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	p := twiliosim.InboundParamsFor(l.AccountSID, "+15551230004", l.Number, "once", twiliosim.NewMessageSID())
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = l.post(l.Webhook, p, nil)
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != 200 {
			t.Fatalf("codes %v", codes)
		}
	}
	// A retry is the same request: the same MessageSid, whatever its
	// idempotency token.
	sid := twiliosim.NewMessageSID()
	if c, _ := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, "+15551230004", l.Number, "second", sid),
		http.Header{"I-Twilio-Idempotency-Token": {"tok-1"}}); c != 200 {
		t.Fatal(c)
	}
	if c, _ := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, "+15551230004", l.Number, "second", sid),
		http.Header{"I-Twilio-Idempotency-Token": {"tok-2"}}); c != 200 {
		t.Fatal(c)
	}
	got := l.waitReplies(t, "+15551230004", 2, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a double answer would arrive by now
	got = l.replies("+15551230004")
	if len(got) != 2 || got[0] != "R1: once" || got[1] != "R2: second" {
		t.Fatalf("replies %q", got)
	}
}

func TestBurstOf50InOrder(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": "{{.Turn}}:{{.Text}}"}})
	for i := 1; i <= 50; i++ {
		l.mustText(t, "+15551230005", fmt.Sprint(i))
	}
	got := l.waitReplies(t, "+15551230005", 50, 20*time.Second)
	for i, b := range got {
		if want := fmt.Sprintf("%d:%d", i+1, i+1); b != want {
			t.Fatalf("reply %d = %q, want %q", i, b, want)
		}
	}
	if len(got) != 50 {
		t.Fatalf("%d replies", len(got))
	}
}

func TestManySendersAtOnce(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	const senders, each = 100, 3
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("+1555400%04d", i)
			for j := 1; j <= each; j++ {
				if c, b := l.text(from, fmt.Sprint(j)); c != 200 {
					t.Errorf("%s: %d %s", from, c, b)
				}
			}
		}()
	}
	wg.Wait()
	testutil.CheckFor(t, 30*time.Second, func() error {
		if n := sim.Count(); n < senders*each {
			return fmt.Errorf("%d/%d replies", n, senders*each)
		}
		return nil
	})
	for i := 0; i < senders; i++ {
		from := fmt.Sprintf("+1555400%04d", i)
		got := l.replies(from)
		if len(got) != each {
			t.Fatalf("%s got %q", from, got)
		}
		for j, b := range got {
			if want := fmt.Sprintf("R%d: %d", j+1, j+1); b != want {
				t.Fatalf("%s reply %d = %q, want %q", from, j, b, want)
			}
		}
	}
}

// TestExpiryRaceEndToEnd keeps texting a sender whose session times out
// after a few milliseconds: no message may be lost or answered twice, and
// none may be recorded after its conversation's end.
func TestExpiryRaceEndToEnd(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "4"})
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": "{{.Text}}"}})
	const n = 150
	for i := 0; i < n; i++ {
		l.mustText(t, "+15551230006", fmt.Sprint(i))
		// Pauses around the timeout make expiries race with deliveries.
		// Every tenth pause is long enough for the session to expire.
		time.Sleep(time.Duration(i%13) * time.Millisecond)
		if i%10 == 9 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := l.waitReplies(t, "+15551230006", n, 30*time.Second)
	for i, b := range got {
		if b != fmt.Sprint(i) {
			t.Fatalf("reply %d = %q", i, b)
		}
	}
	if len(got) != n {
		t.Fatalf("%d replies, want %d", len(got), n)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		for _, c := range l.conversations(t) {
			if c.Status != "finished" {
				return fmt.Errorf("conversation %s still %s", c.ID, c.Status)
			}
		}
		return nil
	})
	users := 0
	cs := l.conversations(t)
	for _, c := range cs {
		evs := l.events(t, c.ID)
		for i, e := range evs {
			if e.EventType == "conversation_end" && i != len(evs)-1 {
				t.Fatalf("conversation %s has events after its end", c.ID)
			}
			if e.EventType == "message" && strings.Contains(string(e.EventData), `"role":"user"`) {
				users++
			}
		}
	}
	if users != n {
		t.Fatalf("%d user messages recorded across %d conversations, want %d", users, len(cs), n)
	}
	if len(cs) < 5 {
		t.Fatalf("only %d conversations: the expiry race was not exercised", len(cs))
	}
	t.Logf("%d messages over %d conversations", n, len(cs))
}
