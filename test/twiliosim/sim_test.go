package twiliosim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "0123456789abcdef0123456789abcdef"
	from  = "+15005550006"
	to    = "+15551234567"
)

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func start(t *testing.T, opts twiliosim.Options) *twiliosim.Server {
	t.Helper()
	sim := twiliosim.New(opts)
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.AddAccount(sid, token)
	return sim
}

func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// post makes a raw Messages.json call, as any Twilio client would.
func post(t *testing.T, sim *twiliosim.Server, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sim.URL()+"/2010-04-01/Accounts/"+sid+"/Messages.json", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestWireFormatSuccess(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	status, m := post(t, sim, sid, token, url.Values{"To": {to}, "From": {from}, "Body": {"Hello"}})
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, m)
	}
	s, _ := m["sid"].(string)
	if !sidPattern.MatchString(s) {
		t.Fatalf("sid %q", s)
	}
	checks := map[string]any{
		"account_sid": sid, "to": to, "from": from, "body": "Hello", "status": "queued",
		"num_segments": "1", "num_media": "0", "api_version": "2010-04-01", "direction": "outbound-api",
		"uri":   "/2010-04-01/Accounts/" + sid + "/Messages/" + s + ".json",
		"price": nil, "error_code": nil, "error_message": nil, "date_sent": nil, "messaging_service_sid": nil,
	}
	for k, want := range checks {
		got, ok := m[k]
		if !ok || got != want {
			t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, want)
		}
	}
	if _, err := time.Parse(time.RFC1123Z, m["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}
	got := sim.Messages()
	if len(got) != 1 || got[0].SID != s || got[0].Body != "Hello" || got[0].Form.Get("To") != to {
		t.Fatalf("recorded %+v", got)
	}

	// The message can be fetched back.
	req, _ := http.NewRequest(http.MethodGet, sim.URL()+"/2010-04-01/Accounts/"+sid+"/Messages/"+s+".json", nil)
	req.SetBasicAuth(sid, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch status %d", resp.StatusCode)
	}
}

func TestWireFormatErrors(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	tests := []struct {
		name       string
		user, pass string
		form       url.Values
		status     int
		code       float64
	}{
		{"no auth", "", "", url.Values{"To": {to}, "From": {from}, "Body": {"x"}}, 401, 20003},
		{"bad token", sid, "nope", url.Values{"To": {to}, "From": {from}, "Body": {"x"}}, 401, 20003},
		{"no body", sid, token, url.Values{"To": {to}, "From": {from}}, 400, 21602},
		{"invalid to", sid, token, url.Values{"To": {"555"}, "From": {from}, "Body": {"x"}}, 400, 21211},
		{"missing to", sid, token, url.Values{"From": {from}, "Body": {"x"}}, 400, 21604},
		{"missing from", sid, token, url.Values{"To": {to}, "Body": {"x"}}, 400, 21603},
		{"channel mismatch", sid, token, url.Values{"To": {"whatsapp:" + to}, "From": {from}, "Body": {"x"}}, 400, 21910},
		{"too long", sid, token, url.Values{"To": {to}, "From": {from}, "Body": {strings.Repeat("😀", 801)}}, 400, 21617},
		{"variables without a template", sid, token, url.Values{"To": {to}, "From": {from}, "Body": {"x"}, "ContentVariables": {`{"1":"a"}`}}, 400, 21654},
		{"unknown template", sid, token, url.Values{"To": {to}, "From": {from}, "ContentSid": {"HX0123456789abcdef0123456789abcdef"}}, 400, 21655},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, sim, tc.user, tc.pass, tc.form)
			if status != tc.status || body["code"] != tc.code || body["status"] != float64(tc.status) {
				t.Fatalf("got %d %v, want %d code %v", status, body, tc.status, tc.code)
			}
			if body["more_info"] != "https://www.twilio.com/docs/errors/"+strconv.Itoa(int(tc.code)) {
				t.Fatalf("more_info = %v", body["more_info"])
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Fatal("empty message")
			}
		})
	}
	// A media-only message is accepted; num_media is a string, as Twilio
	// writes counts.
	if status, body := post(t, sim, sid, token, url.Values{"To": {to}, "From": {from}, "MediaUrl": {"https://e.com/a.png"}}); status != 201 || body["num_media"] != "1" {
		t.Fatalf("media only: %d %v", status, body)
	}
	if status, body := post(t, sim, sid, token, url.Values{"To": {to}, "From": {from}, "Body": {"two"},
		"MediaUrl": {"https://e.com/a.png", "https://e.com/b.png"}}); status != 201 || body["num_media"] != "2" {
		t.Fatalf("two media: %d %v", status, body)
	}
	if m := sim.Messages(); len(m[len(m)-1].MediaURLs) != 2 {
		t.Fatalf("recorded %+v", m[len(m)-1])
	}
	if n := len(sim.Failures()); n != len(tests) {
		t.Fatalf("recorded %d failures, want %d", n, len(tests))
	}
	for _, f := range sim.Failures() {
		if f.Injected {
			t.Fatalf("validation failure recorded as injected: %+v", f)
		}
	}
}

func cfg(sim *twiliosim.Server) providers.TwilioConfig {
	return providers.TwilioConfig{AccountSID: sid, AuthToken: token, FromNumber: from, APIBaseURL: sim.URL()}
}

// TestThroughSender drives the simulator with the real sender (twilio-go).
func TestThroughSender(t *testing.T) {
	var hooked []twiliosim.Message
	var mu sync.Mutex
	sim := start(t, twiliosim.Options{OnMessage: func(m twiliosim.Message) {
		mu.Lock()
		hooked = append(hooked, m)
		mu.Unlock()
	}})
	s := twilio.NewSender(twilio.SenderOptions{})
	defer s.Close()
	ctx := deadline(t)

	res, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if !sidPattern.MatchString(res.SID) || res.Status != "queued" || res.NumSegments != 1 {
		t.Fatalf("result %+v", res)
	}
	if err := sim.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(hooked) != 1 || hooked[0].SID != res.SID {
		t.Fatalf("OnMessage saw %+v", hooked)
	}
	mu.Unlock()

	bad := cfg(sim)
	bad.AuthToken = "ffffffffffffffffffffffffffffffff"
	_, err = s.Send(ctx, bad, twilio.Message{To: to, Body: "hi"})
	if twilio.Classify(err) != twilio.ClassPermanent {
		t.Fatalf("bad auth: %v", err)
	}

	sim.FailNext(2, 429, 20429)
	for range 2 {
		_, err = s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "hi"})
		var se *twilio.SendError
		if !errors.As(err, &se) || se.Code != 20429 || se.Status != 429 || twilio.Classify(err) != twilio.ClassRetryable {
			t.Fatalf("429: %v", err)
		}
	}
	sim.SetRecipientError(to, 21610)
	_, err = s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "hi"})
	var se *twilio.SendError
	if !errors.As(err, &se) || !se.OptedOut() || twilio.Classify(err) != twilio.ClassPermanent {
		t.Fatalf("21610: %v", err)
	}
	injected := 0
	for _, f := range sim.Failures() {
		if f.Injected {
			injected++
		}
	}
	if injected != 3 || sim.Count() != 1 {
		t.Fatalf("injected failures %d (want 3), accepted %d (want 1)", injected, sim.Count())
	}
}

func TestFaultRates(t *testing.T) {
	sim := start(t, twiliosim.Options{Seed: 7, Faults: twiliosim.Faults{Rate429: 1}})
	s := twilio.NewSender(twilio.SenderOptions{})
	defer s.Close()
	ctx := deadline(t)
	for range 5 {
		if _, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "x"}); twilio.Classify(err) != twilio.ClassRetryable {
			t.Fatalf("rate 1: %v", err)
		}
	}
	sim.SetFaults(twiliosim.Faults{Rate5xx: 1})
	_, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "x"})
	var se *twilio.SendError
	if !errors.As(err, &se) || se.Status < 500 || se.Class != twilio.ClassRetryable {
		t.Fatalf("5xx: %v", err)
	}
	sim.SetFaults(twiliosim.Faults{})
	sim.SetFixedError(400, 21408)
	if _, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "x"}); twilio.Classify(err) != twilio.ClassPermanent {
		t.Fatalf("fixed: %v", err)
	}
	sim.SetFixedError(0, 0)
	sim.SetLatency(time.Millisecond)
	if _, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "x"}); err != nil {
		t.Fatalf("after clearing faults: %v", err)
	}
}

// callbackSink is a Switchboard-like status callback endpoint that checks
// the signature the way the webhook package does.
type callbackSink struct {
	mu       sync.Mutex
	statuses []url.Values
	bad      int
}

func (c *callbackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	ok := twilio.ValidSignature(token, twilio.PublicURL(r, "", false), r.PostForm, r.Header.Get("X-Twilio-Signature"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok || r.Header.Get("I-Twilio-Idempotency-Token") == "" {
		c.bad++
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	c.statuses = append(c.statuses, r.PostForm)
	w.WriteHeader(http.StatusNoContent)
}

func TestStatusCallbacks(t *testing.T) {
	sink := &callbackSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	sim := start(t, twiliosim.Options{Callbacks: true})
	sim.SetRecipientError("+15557654321", 30006)
	s := twilio.NewSender(twilio.SenderOptions{})
	defer s.Close()
	ctx := deadline(t)

	cb := srv.URL + "/api/twilio/messaging/status?channelProviderId=prov_1&x=a%2Fb"
	ok, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "one", StatusCallback: cb})
	if err != nil {
		t.Fatal(err)
	}
	undelivered, err := s.Send(ctx, cfg(sim), twilio.Message{To: "+15557654321", Body: "two", StatusCallback: cb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, cfg(sim), twilio.Message{To: to, Body: "no callback"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitForCallbacks(ctx, 4); err != nil {
		t.Fatal(err)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.bad != 0 || len(sink.statuses) != 4 {
		t.Fatalf("sink: %d bad, %d good", sink.bad, len(sink.statuses))
	}
	seq := map[string][]string{}
	for _, p := range sink.statuses {
		m := p.Get("MessageSid")
		seq[m] = append(seq[m], p.Get("MessageStatus")+"/"+p.Get("ErrorCode"))
		if p.Get("AccountSid") != sid || p.Get("From") != from || p.Get("SmsSid") != m {
			t.Fatalf("callback params %v", p)
		}
	}
	if got := strings.Join(seq[ok.SID], ","); got != "sent/,delivered/" {
		t.Fatalf("callbacks of the delivered message: %s", got)
	}
	if got := strings.Join(seq[undelivered.SID], ","); got != "sent/,undelivered/30006" {
		t.Fatalf("callbacks of the undelivered message: %s", got)
	}
	for _, c := range sim.Callbacks() {
		if c.HTTPStatus != http.StatusNoContent || c.URL != cb {
			t.Fatalf("callback record %+v", c)
		}
	}
	if m, _ := sim.Message(undelivered.SID); m.Status != "undelivered" || m.ErrorCode != 30006 {
		t.Fatalf("message state %+v", m)
	}
	if m, _ := sim.Message(ok.SID); m.Status != "delivered" {
		t.Fatalf("message state %+v", m)
	}
}

func TestSignedWebhook(t *testing.T) {
	var got url.Values
	var gotSig, gotURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got, gotSig, gotURL = r.PostForm, r.Header.Get("X-Twilio-Signature"), twilio.PublicURL(r, "", true)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Response/>")
	}))
	t.Cleanup(srv.Close)

	u := srv.URL + "/api/twilio/messaging/webhook?apiKey=akey_live_x%2By&stageId=stag_1&channelProviderId=prov_1"
	msgSID := twiliosim.NewMessageSID()
	p := twiliosim.InboundParams(to, from, "Hello ☃", msgSID)
	resp, err := twiliosim.SignedWebhook(deadline(t), nil, u, token, p)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if gotURL != u {
		t.Fatalf("receiver reconstructed %q, want %q", gotURL, u)
	}
	if !twilio.ValidSignature(token, gotURL, got, gotSig) {
		t.Fatal("ValidSignature rejects SignedWebhook's signature")
	}
	v := twclient.NewRequestValidator(token)
	if !v.ValidateBody(u, []byte(got.Encode()), gotSig) {
		t.Fatal("twilio-go rejects SignedWebhook's signature")
	}
	for k, want := range map[string]string{
		"From": to, "To": from, "Body": "Hello ☃", "MessageSid": msgSID, "SmsSid": msgSID, "SmsMessageSid": msgSID,
		"AccountSid": twiliosim.DefaultAccountSID, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
		"ApiVersion": "2010-04-01", "FromCountry": "US",
	} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
	if got.Has("WaId") {
		t.Error("SMS webhook carries WaId")
	}

	wa := twiliosim.InboundParamsFor(sid, "whatsapp:"+to, "whatsapp:"+from, "hi", msgSID)
	if wa.Get("WaId") != strings.TrimPrefix(to, "+") || wa.Get("ProfileName") == "" || wa.Get("AccountSid") != sid || wa.Has("FromCountry") {
		t.Fatalf("whatsapp params %v", wa)
	}
}

func TestNewMessageSID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := twiliosim.NewMessageSID()
		if !sidPattern.MatchString(s) || seen[s] {
			t.Fatalf("bad or repeated sid %q", s)
		}
		seen[s] = true
	}
}

func TestCloseReleasesHeldRequest(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	sim.FailNext(1, 0, 0)
	done := make(chan error, 1)
	go func() {
		s := twilio.NewSender(twilio.SenderOptions{Timeout: time.Minute})
		defer s.Close()
		_, err := s.Send(context.Background(), cfg(sim), twilio.Message{To: to, Body: "x"})
		done <- err
	}()
	ctx := deadline(t)
	if err := sim.Wait(ctx, func() bool { return len(sim.Failures()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if f := sim.Failures()[0]; !f.Injected || f.Status != http.StatusGatewayTimeout {
		t.Fatalf("held attempt %+v", f)
	}
	sim.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a held request succeeded")
		}
	case <-ctx.Done():
		t.Fatal("Close did not release the held request")
	}
}

func TestDiscardMessagesAndWaitFor(t *testing.T) {
	sim := start(t, twiliosim.Options{DiscardMessages: true})
	s := twilio.NewSender(twilio.SenderOptions{})
	defer s.Close()
	ctx := deadline(t)
	go func() {
		for range 10 {
			_, _ = s.Send(context.Background(), cfg(sim), twilio.Message{To: to, Body: "x"})
		}
	}()
	if err := sim.WaitFor(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if sim.Count() != 10 || len(sim.Messages()) != 0 || len(sim.MessagesTo(to)) != 0 {
		t.Fatalf("count %d, messages %d", sim.Count(), len(sim.Messages()))
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := sim.WaitFor(short, 11); err == nil {
		t.Fatal("WaitFor returned nil for a count never reached")
	}
	sim.Reset()
	if sim.Count() != 0 {
		t.Fatal("Reset kept the count")
	}
}
