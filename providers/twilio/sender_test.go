package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
	testFrom  = "+15005550006"
	testTo    = "+15551234567"
)

// startSim starts a simulated Twilio with the test account.
func startSim(t *testing.T, opts twiliosim.Options) *twiliosim.Server {
	t.Helper()
	sim := twiliosim.New(opts)
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.AddAccount(testSID, testToken)
	return sim
}

func config(base string) providers.TwilioConfig {
	return providers.TwilioConfig{AccountSID: testSID, AuthToken: testToken, FromNumber: testFrom, APIBaseURL: base}
}

func newSender(t *testing.T, opts twilio.SenderOptions) *twilio.Sender {
	t.Helper()
	s := twilio.NewSender(opts)
	t.Cleanup(s.Close)
	return s
}

func sendErr(t *testing.T, err error) *twilio.SendError {
	t.Helper()
	var se *twilio.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}

func TestSendSuccess(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	res, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{
		To:             testTo,
		Body:           strings.Repeat("é", 161), // GSM-7, two segments
		StatusCallback: "https://sb.example.com/status?x=1",
		MediaURLs:      []string{"https://example.com/a.png"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.SID, "SM") || len(res.SID) != 34 || res.Status != "queued" || res.NumSegments != 2 {
		t.Fatalf("result = %+v", res)
	}
	msgs := sim.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sim received %d messages", len(msgs))
	}
	m := msgs[0]
	if m.SID != res.SID || m.From != testFrom || m.To != testTo || m.Body != strings.Repeat("é", 161) ||
		m.StatusCallback != "https://sb.example.com/status?x=1" || len(m.MediaURLs) != 1 || m.AccountSID != testSID {
		t.Fatalf("sim message = %+v", m)
	}
}

func TestSendExplicitFromAndWhatsApp(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	_, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{
		From: "whatsapp:+15005550007", To: "whatsapp:" + testTo, Body: "hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := sim.MessagesTo("whatsapp:" + testTo)
	if len(got) != 1 || got[0].From != "whatsapp:+15005550007" {
		t.Fatalf("messages = %+v", got)
	}
}

func TestSendBaseURLPrecedence(t *testing.T) {
	def := startSim(t, twiliosim.Options{})
	own := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{DefaultBaseURL: def.URL() + "/"})

	if _, err := s.Send(context.Background(), config(""), twilio.Message{To: testTo, Body: "default"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), config(own.URL()), twilio.Message{To: testTo, Body: "own"}); err != nil {
		t.Fatal(err)
	}
	if d, o := def.Messages(), own.Messages(); len(d) != 1 || d[0].Body != "default" || len(o) != 1 || o[0].Body != "own" {
		t.Fatalf("default got %+v, own got %+v", d, o)
	}

	// A base URL with a path prefix keeps it.
	prefixed := httptest.NewServer(http.StripPrefix("/twilio", own))
	t.Cleanup(prefixed.Close)
	if _, err := s.Send(context.Background(), config(prefixed.URL+"/twilio"), twilio.Message{To: testTo, Body: "prefixed"}); err != nil {
		t.Fatal(err)
	}
	if o := own.Messages(); len(o) != 2 || o[1].Body != "prefixed" {
		t.Fatalf("prefixed send not received: %+v", o)
	}
}

func TestSendErrors(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()

	badAuth := config(sim.URL())
	badAuth.AuthToken = "ffffffffffffffffffffffffffffffff"
	_, err := s.Send(ctx, badAuth, twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 401 || se.Code != 20003 || se.Class != twilio.ClassPermanent {
		t.Fatalf("bad auth: %+v", se)
	}

	sim.FailNext(1, 429, 20429)
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 429 || se.Code != 20429 || !se.Temporary() || twilio.Classify(err) != twilio.ClassRetryable {
		t.Fatalf("429: %+v", se)
	}

	sim.FailNext(1, 503, 20500)
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 503 || se.Class != twilio.ClassRetryable {
		t.Fatalf("503: %+v", se)
	}

	sim.SetRecipientError(testTo, 21610)
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 400 || se.Code != 21610 || !se.Permanent() || !se.OptedOut() {
		t.Fatalf("21610: %+v", se)
	}
	sim.SetRecipientError(testTo, 0)

	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: "+1", Body: "x"})
	if se := sendErr(t, err); se.Code != 21211 || !se.Permanent() {
		t.Fatalf("invalid To: %+v", se)
	}

	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: strings.Repeat("a", 1601)})
	if se := sendErr(t, err); se.Code != 21617 || !se.Permanent() {
		t.Fatalf("too long: %+v", se)
	}

	// Validation before any request.
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo})
	if se := sendErr(t, err); se.Code != 21602 || !se.Permanent() {
		t.Fatalf("empty body: %+v", se)
	}
	_, err = s.Send(ctx, config("ftp://nope"), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); !se.Permanent() {
		t.Fatalf("bad base URL: %+v", se)
	}

	// After all that, a good send still works.
	if _, err := s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "ok"}); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Messages()); n != 1 {
		t.Fatalf("sim accepted %d messages, want 1", n)
	}
}

func TestSendConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := newSender(t, twilio.SenderOptions{})
	_, err = s.Send(context.Background(), config("http://"+addr), twilio.Message{To: testTo, Body: "x"})
	se := sendErr(t, err)
	if se.Class != twilio.ClassRetryable || se.Status != 0 {
		t.Fatalf("refused: %+v", se)
	}
}

func TestSendUnreadableErrorPage(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>Bad Gateway</html>"))
	}))
	t.Cleanup(proxy.Close)
	s := newSender(t, twilio.SenderOptions{})
	_, err := s.Send(context.Background(), config(proxy.URL), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 502 || se.Class != twilio.ClassRetryable {
		t.Fatalf("502 page: %+v", se)
	}
}

func TestSendHonoursContext(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	sim.FailNext(1, 0, 0) // hold the request unanswered
	s := newSender(t, twilio.SenderOptions{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the request is being held by the simulator.
		_ = sim.Wait(context.Background(), func() bool { return len(sim.Failures()) > 0 })
		cancel()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
		done <- err
	}()
	select {
	case err := <-done:
		se := sendErr(t, err)
		if se.Class != twilio.ClassUnknown || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled send: %+v (%v)", se, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Send ignored the cancelled context")
	}

	// A context cancelled before the call: nothing is sent, safe to retry.
	_, err := s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Class != twilio.ClassRetryable {
		t.Fatalf("pre-cancelled: %+v", se)
	}
}

func TestSendTimeout(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	sim.FailNext(1, 0, 0)
	s := newSender(t, twilio.SenderOptions{Timeout: 100 * time.Millisecond})
	_, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Class != twilio.ClassUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %+v (%v)", se, err)
	}
}

// countingTransport counts the connections it dials.
func countingTransport(dials *atomic.Int64) *http.Transport {
	d := &net.Dialer{}
	return &http.Transport{
		MaxIdleConnsPerHost: 4,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
}

// TestSendReusesConnections checks that error answers, which twilio-go never
// closes, and successes both give their connection back to the pool.
func TestSendReusesConnections(t *testing.T) {
	sim := startSim(t, twiliosim.Options{PadResponses: 8 << 10})
	var dials atomic.Int64
	tr := countingTransport(&dials)
	t.Cleanup(tr.CloseIdleConnections)
	s := newSender(t, twilio.SenderOptions{Transport: tr})
	sim.FailNext(10, 429, 20429)
	for i := range 20 {
		_, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{To: testTo, Body: fmt.Sprint(i)})
		if (i < 10) != (err != nil) {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("20 sequential sends dialed %d connections, want 1", n)
	}
}

func TestSendConcurrent(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{MaxIdleConnsPerHost: 8})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{To: fmt.Sprintf("+1555000%04d", i), Body: "hi"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Count(); n != 50 {
		t.Fatalf("sim accepted %d, want 50", n)
	}
}

func BenchmarkSend(b *testing.B) {
	sim := twiliosim.New(twiliosim.Options{DiscardMessages: true})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	sim.AddAccount(testSID, testToken)
	s := twilio.NewSender(twilio.SenderOptions{})
	defer s.Close()
	cfg := config(sim.URL())
	msg := twilio.Message{To: testTo, Body: "You said: hello", StatusCallback: "https://sb.example.com/status"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(context.Background(), cfg, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSendRefusedByDestinationPolicy: a provider whose apiBaseUrl the
// destination policy refuses gets a permanent failure naming the setting,
// and the host never sees the request (nor the token); the operator's
// TWILIO_API_BASE_URL is trusted.
func TestSendRefusedByDestinationPolicy(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	pol, err := providers.ParseAllowlist("api.twilio.com")
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, twilio.SenderOptions{Destinations: pol, DefaultBaseURL: sim.URL()})
	for _, base := range []string{sim.URL(), "http://169.254.169.254"} {
		_, err := s.Send(context.Background(), config(base), twilio.Message{To: testTo, Body: "hi"})
		se := sendErr(t, err)
		if se.Class != twilio.ClassPermanent || !strings.Contains(se.Message, providers.AllowlistSetting) {
			t.Fatalf("%s: %+v", base, se)
		}
	}
	if n := sim.Count(); n != 0 {
		t.Fatalf("a refused destination received %d messages", n)
	}
	if _, err := s.Send(context.Background(), config(""), twilio.Message{To: testTo, Body: "hi"}); err != nil {
		t.Fatalf("TWILIO_API_BASE_URL refused: %v", err)
	}
	if n := sim.Count(); n != 1 {
		t.Fatalf("sim received %d messages, want 1", n)
	}
}

// A provider whose apiBaseUrl points elsewhere (the phone emulator, a
// simulator) fails naming the host actually called, not api.twilio.com
// that twilio-go asked for: the stored and logged error tells the truth.
func TestSendErrorNamesTheHostCalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	for _, opts := range []twilio.SenderOptions{{}, {DefaultBaseURL: "http://" + addr}} {
		base := "http://" + addr
		if opts.DefaultBaseURL != "" {
			base = "" // the sender's default, not the provider's
		}
		s := newSender(t, opts)
		_, err = s.Send(context.Background(), config(base), twilio.Message{To: testTo, Body: "x"})
		msg := sendErr(t, err).Message
		if !strings.Contains(msg, "http://"+addr+"/2010-04-01/Accounts/"+testSID+"/Messages.json") || strings.Contains(msg, "twilio.com") {
			t.Fatalf("error %q: want the URL called (http://%s/…), not Twilio's host", msg, addr)
		}
	}
}
