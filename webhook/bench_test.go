package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"switchboard/providers/twilio"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// engineFunc is a function-field fake of Engine.
type engineFunc func(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error)

func (f engineFunc) Accept(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error) {
	return f(ctx, m)
}

func (f engineFunc) AwaitSendResult(context.Context, string, string) bool { return false }

func (f engineFunc) RecordDeliveryStatus(context.Context, store.DeliveryUpdate) (bool, error) {
	return false, nil
}

// handlerFixture is a Handler over a real SQLite store holding one line.
type handlerFixture struct {
	router  *mux.Router
	url     string
	token   string
	to      string
	accepts atomic.Int64
	last    atomic.Pointer[store.InboundMessage] // the last message accepted
}

func newHandlerFixture(tb testing.TB) *handlerFixture { return newHandlerFixtureWith(tb, nil) }

// newHandlerFixtureWith is newHandlerFixture with mod applied to the
// Handler's Options.
func newHandlerFixtureWith(tb testing.TB, mod func(*Options)) *handlerFixture {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "w.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	f := &handlerFixture{token: "0123456789abcdef0123456789abcdef", to: "+15550001111"}
	p := &store.Project{Name: "p"}
	llm := &store.Provider{Name: "l", ProviderType: store.ProviderTypeLLM, APIType: store.APITypeScripted, Config: json.RawMessage(`{}`)}
	ch := &store.Provider{Name: "c", ProviderType: store.ProviderTypeChannel, APIType: store.APITypeTwilioMessaging,
		Config: json.RawMessage(`{"accountSid":"AC00000000000000000000000000000000","authToken":"` + f.token + `","fromNumber":"` + f.to + `"}`)}
	for _, err := range []error{st.CreateProject(ctx, p), st.CreateProvider(ctx, llm), st.CreateProvider(ctx, ch)} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	stage := &store.Stage{ProjectID: p.ID, Name: "s", LLMProviderID: llm.ID, EnterBehavior: store.EnterAwaitUserInput}
	if err := st.CreateStage(ctx, stage); err != nil {
		tb.Fatal(err)
	}
	key := "akey_live_benchmark"
	if err := st.CreateAPIKey(ctx, &store.APIKey{ProjectID: p.ID, Name: "k", KeyHash: store.HashKey(key), KeyPreview: "akey…", IsActive: true}); err != nil {
		tb.Fatal(err)
	}
	opts := Options{Store: st, Engine: engineFunc(func(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error) {
		f.last.Store(m)
		return store.InboundResult{ID: f.accepts.Add(1)}, nil
	}), TrustProxy: true}
	if mod != nil {
		mod(&opts)
	}
	h := New(opts)
	f.router = mux.NewRouter()
	h.Register(f.router)
	f.url = "http://switchboard.test/api/twilio/messaging/webhook?" + url.Values{"apiKey": {key}, "stageId": {stage.ID}, "channelProviderId": {ch.ID}}.Encode()
	return f
}

func (f *handlerFixture) request(sid string) *http.Request {
	return f.requestWith(sid, nil)
}

// requestWith is a signed webhook request for sid with mod applied to its
// form before signing.
func (f *handlerFixture) requestWith(sid string, mod func(url.Values)) *http.Request {
	form := url.Values{"MessageSid": {sid}, "AccountSid": {"AC00000000000000000000000000000000"}, "From": {"+15551234567"},
		"To": {f.to}, "Body": {"hello there"}, "NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}}
	if mod != nil {
		mod(form)
	}
	req := httptest.NewRequest(http.MethodPost, f.url, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Signature(f.token, f.url, form))
	return req
}

func TestHandlerAcceptsSignedWebhook(t *testing.T) {
	f := newHandlerFixture(t)
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, f.request("SM1"))
	if w.Code != 200 || w.Body.String() != "<Response/>" || w.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("%d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
	if f.accepts.Load() != 1 {
		t.Fatal("message not handed to the engine")
	}
	req := f.request("SM2")
	req.Header.Set("X-Twilio-Signature", "AAAA")
	w = httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	if w.Code != 403 || f.accepts.Load() != 1 {
		t.Fatalf("bad signature: %d, accepts %d", w.Code, f.accepts.Load())
	}
}

// BenchmarkWebhookHandler measures the webhook's own work per request:
// strict parsing, cached lookups, signature validation and the answer. The
// engine is a fake here; the commit is measured by the store benchmarks.
func BenchmarkWebhookHandler(b *testing.B) {
	f := newHandlerFixture(b)
	type pre struct {
		body []byte
		sig  string
	}
	reqs := make([]pre, 1024)
	for i := range reqs {
		r := f.request(fmt.Sprintf("SM%032d", i))
		body, _ := io.ReadAll(r.Body)
		reqs[i] = pre{body, r.Header.Get("X-Twilio-Signature")}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := reqs[i%len(reqs)]
		r := httptest.NewRequest(http.MethodPost, f.url, bytes.NewReader(p.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", p.sig)
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func TestFailureLimitNeverRefusesValidRequests(t *testing.T) {
	f := newHandlerFixture(t)
	saw429 := false
	for i := 0; i < 100; i++ {
		req := f.request(fmt.Sprintf("SMbad%d", i))
		req.Header.Set("X-Twilio-Signature", "forged")
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		if w.Code == 429 {
			saw429 = true
		} else if w.Code != 403 {
			t.Fatalf("forged request: %d", w.Code)
		}
	}
	if !saw429 {
		t.Fatal("a client failing 100 times in a row was never limited")
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, f.request("SMgood"))
	if w.Code != 200 {
		t.Fatalf("a valid request from the same address got %d", w.Code)
	}
}
