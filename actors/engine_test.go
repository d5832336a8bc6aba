package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/providers"
	"switchboard/providers/llm"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// fakeSender records sends; fn, when set, decides each send's outcome.
type fakeSender struct {
	mu   sync.Mutex
	sent []OutMessage
	n    atomic.Int64
	fn   func(n int64, m OutMessage) error
}

func (f *fakeSender) Send(ctx context.Context, cfg providers.TwilioConfig, m OutMessage) (string, error) {
	n := f.n.Add(1)
	if f.fn != nil {
		if err := f.fn(n, m); err != nil {
			return "", err
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	return fmt.Sprintf("SM%032d", n), nil
}

func (f *fakeSender) to(addr string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		if m.To == addr {
			out = append(out, m.Body)
		}
	}
	return out
}

func (f *fakeSender) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// sendErr is a classified failure for the fake sender.
type sendErr struct{ f SendFailure }

func (e *sendErr) Error() string { return e.f.Message }

func classifyFake(err error) SendFailure {
	var se *sendErr
	if errors.As(err, &se) {
		return se.f
	}
	return SendFailure{Message: err.Error()}
}

type fixture struct {
	t       testing.TB
	st      store.Store
	eng     *Engine
	sender  *fakeSender
	project *store.Project
	stage   *store.Stage
	channel *store.Provider
	llmProv *store.Provider
	sid     atomic.Int64
}

const ourNumber = "+15550000001"

func newFixture(t testing.TB, timeout time.Duration, llmType string, llmConfig string, mod func(*Options)) *fixture {
	t.Helper()
	return newFixtureSync(t, "OFF", timeout, llmType, llmConfig, mod)
}

// newFixtureSync is newFixture on a database with the given SQLite
// synchronous mode (FULL exercises the deferred flushes).
func newFixtureSync(t testing.TB, mode string, timeout time.Duration, llmType string, llmConfig string, mod func(*Options), so ...sqlite.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), append([]sqlite.Option{sqlite.WithSynchronous(mode)}, so...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, sender: &fakeSender{}}
	f.project = &store.Project{Name: "p"}
	must(t, st.CreateProject(ctx, f.project))
	f.llmProv = &store.Provider{Name: "ai", ProviderType: store.ProviderTypeLLM, APIType: llmType, Config: json.RawMessage(llmConfig)}
	must(t, st.CreateProvider(ctx, f.llmProv))
	f.channel = &store.Provider{Name: "tw", ProviderType: store.ProviderTypeChannel, APIType: store.APITypeTwilioMessaging,
		Config: json.RawMessage(`{"accountSid":"AC00000000000000000000000000000000","authToken":"tok","fromNumber":"` + ourNumber + `"}`)}
	must(t, st.CreateProvider(ctx, f.channel))
	f.stage = &store.Stage{ProjectID: f.project.ID, Name: "s", Prompt: "Be brief.", LLMProviderID: f.llmProv.ID,
		LLMSettings: store.LLMSettings{Model: "m"}, EnterBehavior: store.EnterAwaitUserInput}
	must(t, st.CreateStage(ctx, f.stage))
	opts := Options{
		Store: st, Sender: f.sender, Classify: classifyFake,
		Split:          func(s string) []string { return []string{s} },
		LLM:            llm.NewCache(llm.Options{}),
		SessionTimeout: timeout,
		LLMErrorReply:  "sorry",
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	f.eng, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.eng.Close(ctx)
	})
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) text(from, body string) store.InboundResult {
	f.t.Helper()
	m := &store.InboundMessage{
		ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SM%032d", f.sid.Add(1)),
		ProjectID: f.project.ID, StageID: f.stage.ID, From: from, To: ourNumber, Body: body,
	}
	res, err := f.eng.Accept(context.Background(), m)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) conversations() []*store.Conversation {
	cs, _, err := f.st.ListConversations(context.Background(), f.project.ID, store.ListOptions{Limit: 1000, OrderBy: []store.Order{{Field: "createdAt"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

func (f *fixture) events(convID string) []*store.Event {
	evs, _, err := f.st.ListEvents(context.Background(), convID, store.ListOptions{Limit: 1000, OrderBy: []store.Order{{Field: "id"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func TestTurnRepliesAndContinues(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
	f.text("+15551110000", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110000"); len(got) != 1 {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
	f.text("+15551110000", "again")
	testutil.CheckFor(t, 5*time.Second, func() error {
		got := f.sender.to("+15551110000")
		if len(got) != 2 {
			return fmt.Errorf("replies %v", got)
		}
		if got[0] != "R1: hi" || got[1] != "R2: again" {
			t.Fatalf("replies %q", got)
		}
		return nil
	})
	f.sender.mu.Lock()
	if m := f.sender.sent[0]; m.From != ourNumber {
		t.Errorf("From = %q, want %q", m.From, ourNumber)
	}
	f.sender.mu.Unlock()
	cs := f.conversations()
	if len(cs) != 1 || cs[0].Status != store.ConversationActive || cs[0].UserID != "+15551110000" {
		t.Fatalf("conversations %+v", cs)
	}
	var roles []string
	for _, ev := range f.events(cs[0].ID) {
		if ev.EventType == store.EventMessage {
			var d store.MessageData
			_ = json.Unmarshal(ev.EventData, &d)
			roles = append(roles, d.Role+":"+d.Text)
		}
	}
	want := "user:hi,assistant:R1: hi,user:again,assistant:R2: again"
	if strings.Join(roles, ",") != want {
		t.Fatalf("events %v, want %s", roles, want)
	}
}

func TestBurstAnsweredInOrder(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"{{.Text}}"}`, nil)
	const n = 50
	for i := 0; i < n; i++ {
		f.text("+15552220000", fmt.Sprint(i))
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if got := f.sender.to("+15552220000"); len(got) < n {
			return fmt.Errorf("%d replies", len(got))
		}
		return nil
	})
	got := f.sender.to("+15552220000")
	for i, b := range got {
		if b != fmt.Sprint(i) {
			t.Fatalf("reply %d = %q; all: %v", i, b, got)
		}
	}
	if len(got) != n {
		t.Fatalf("%d replies, want %d", len(got), n)
	}
}

func TestDuplicateProcessedOnce(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	m := func() *store.InboundMessage {
		return &store.InboundMessage{ProviderID: f.channel.ID, MessageSID: "SMdup", ProjectID: f.project.ID,
			StageID: f.stage.ID, From: "+15553330000", To: ourNumber, Body: "x"}
	}
	var wg sync.WaitGroup
	var dups atomic.Int64
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.eng.Accept(context.Background(), m())
			if err != nil {
				t.Error(err)
			}
			if res.Duplicate {
				dups.Add(1)
			}
		}()
	}
	wg.Wait()
	if dups.Load() != 9 {
		t.Fatalf("%d duplicates, want 9", dups.Load())
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return errors.New("pending")
		}
		return nil
	})
	if got := f.sender.to("+15553330000"); len(got) != 1 {
		t.Fatalf("replies %v", got)
	}
}

func TestExpiryEndsConversationAndNextStartsNew(t *testing.T) {
	f := newFixture(t, 50*time.Millisecond, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}"}`, nil)
	f.text("+15554440000", "one")
	testutil.CheckFor(t, 5*time.Second, func() error {
		cs := f.conversations()
		if len(cs) != 1 || cs[0].Status != store.ConversationFinished {
			return fmt.Errorf("conversations %+v", cs)
		}
		if f.eng.LiveSessions() != 0 {
			return fmt.Errorf("%d live sessions", f.eng.LiveSessions())
		}
		return nil
	})
	evs := f.events(f.conversations()[0].ID)
	last := evs[len(evs)-1]
	if last.EventType != store.EventConversationEnd || !strings.Contains(string(last.EventData), "inactivity_timeout") {
		t.Fatalf("last event %s %s", last.EventType, last.EventData)
	}
	f.text("+15554440000", "two")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15554440000"); len(got) != 2 || got[1] != "R1" {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
	if cs := f.conversations(); len(cs) != 2 {
		t.Fatalf("%d conversations, want 2", len(cs))
	}
}

// TestExpiryRace sends texts continuously to a session whose timeout is a
// few milliseconds, so expiry handshakes and deliveries interleave: every
// message must be answered exactly once and none may land in a conversation
// after its end.
func TestExpiryRace(t *testing.T) {
	f := newFixture(t, 3*time.Millisecond, store.APITypeScripted, `{"defaultReply":"{{.Text}}"}`, nil)
	const n = 300
	for i := 0; i < n; i++ {
		f.text("+15555550000", fmt.Sprint(i))
		time.Sleep(time.Duration(i%7) * time.Millisecond)
		if i%10 == 9 { // long enough for the session to expire
			time.Sleep(30 * time.Millisecond)
		}
	}
	testutil.CheckFor(t, 20*time.Second, func() error {
		if got := f.sender.to("+15555550000"); len(got) < n {
			return fmt.Errorf("%d/%d replies", len(got), n)
		}
		return nil
	})
	got := f.sender.to("+15555550000")
	if len(got) != n {
		t.Fatalf("%d replies, want %d", len(got), n)
	}
	for i, b := range got {
		if b != fmt.Sprint(i) {
			t.Fatalf("reply %d = %q", i, b)
		}
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if f.eng.LiveSessions() != 0 {
			return fmt.Errorf("%d live sessions", f.eng.LiveSessions())
		}
		return nil
	})
	cs := f.conversations()
	if len(cs) < 5 {
		t.Fatalf("only %d conversations: the expiry race was not exercised", len(cs))
	}
	t.Logf("%d messages over %d conversations", n, len(cs))
	users := 0
	for _, c := range cs {
		if c.Status != store.ConversationFinished {
			t.Errorf("conversation %s still %s", c.ID, c.Status)
		}
		evs := f.events(c.ID)
		for i, ev := range evs {
			if ev.EventType == store.EventConversationEnd && i != len(evs)-1 {
				t.Fatalf("conversation %s has events after its end", c.ID)
			}
			if ev.EventType == store.EventMessage && strings.Contains(string(ev.EventData), `"user"`) {
				users++
			}
		}
	}
	if users != n {
		t.Fatalf("%d user messages recorded, want %d", users, n)
	}
	pend, err := f.st.PendingInbound(context.Background())
	if err != nil || len(pend) != 0 {
		t.Fatalf("pending inbound %d, %v", len(pend), err)
	}
}

func TestManySenders(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"{{.From}} {{.Turn}}"}`, nil)
	const senders, each = 40, 3
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				f.text(fmt.Sprintf("+1666000%04d", s), "x")
			}
		}()
	}
	wg.Wait()
	testutil.CheckFor(t, 10*time.Second, func() error {
		if c := f.sender.count(); c != senders*each {
			return fmt.Errorf("%d replies", c)
		}
		return nil
	})
	for s := 0; s < senders; s++ {
		from := fmt.Sprintf("+1666000%04d", s)
		got := f.sender.to(from)
		for i, b := range got {
			if b != fmt.Sprintf("%s %d", from, i+1) {
				t.Fatalf("sender %s reply %d = %q", from, i, b)
			}
		}
	}
	if f.eng.LiveSessions() != senders {
		t.Fatalf("%d live sessions, want %d", f.eng.LiveSessions(), senders)
	}
}

func TestLLMErrorApologisesAndRecovers(t *testing.T) {
	var calls atomic.Int64
	var lastBody atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []llm.Message `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		lastBody.Store(body.Messages)
		w.Header().Set("Content-Type", "application/json") // as OpenAI answers
		if calls.Add(1) == 1 {
			// A 400 is never retried (a 5xx would be, within the timeout).
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"boom"}}`)
			return
		}
		last := body.Messages[len(body.Messages)-1].Content
		fmt.Fprintf(w, `{"choices":[{"message":{"role":"assistant","content":"echo %s"}}]}`, last)
	}))
	defer srv.Close()
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, `{"apiKey":"k","baseUrl":"`+srv.URL+`"}`, nil)
	f.text("+15557770000", "first")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15557770000"); len(got) != 1 || got[0] != "sorry" {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
	f.text("+15557770000", "second")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15557770000"); len(got) != 2 || got[1] != "echo second" {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
	// The LLM saw the system prompt, the earlier turn and the new text.
	msgs := lastBody.Load().([]llm.Message)
	var seq []string
	for _, m := range msgs {
		seq = append(seq, m.Role+":"+m.Content)
	}
	// The apology is not fed back as something the model said.
	want := "system:Be brief.,user:first,user:second"
	if strings.Join(seq, ",") != want {
		t.Fatalf("LLM messages %v, want %s", seq, want)
	}
	cs := f.conversations()
	var sawError bool
	for _, ev := range f.events(cs[0].ID) {
		if ev.EventType == store.EventError {
			sawError = true
		}
	}
	if !sawError {
		t.Fatal("LLM failure not recorded on the conversation")
	}
}

func TestRetryableSendRetriedThenSent(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	f.sender.fn = func(n int64, m OutMessage) error {
		if n <= 2 {
			return &sendErr{SendFailure{Retryable: true, Code: 20429, Message: "too many"}}
		}
		return nil
	}
	f.text("+15558880000", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if f.sender.count() != 1 || f.eng.Pending() != 0 {
			return fmt.Errorf("%d sent", f.sender.count())
		}
		return nil
	})
	testutil.CheckFor(t, 5*time.Second, func() error { // send results are recorded lazily
		rows, _, err := f.st.ListOutbound(context.Background(), f.conversations()[0].ID, store.ListOptions{OrderBy: []store.Order{{Field: "id"}}})
		if err != nil || len(rows) != 1 || rows[0].State != store.OutboxSent || rows[0].Attempts != 3 {
			return fmt.Errorf("outbox %+v %v", rows, err)
		}
		return nil
	})
}

func TestPermanentOptOutNotRetried(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	f.sender.fn = func(n int64, m OutMessage) error {
		return &sendErr{SendFailure{Code: 21610, OptedOut: true, Message: "opted out"}}
	}
	f.text("+15559990000", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return errors.New("pending")
		}
		return nil
	})
	if n := f.sender.n.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	out, err := f.st.IsOptedOut(context.Background(), f.channel.ID, "+15559990000")
	if err != nil || !out {
		t.Fatalf("opted out = %v, %v", out, err)
	}
	f.text("+15559990000", "again")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if f.eng.Pending() != 0 {
			return errors.New("pending")
		}
		return nil
	})
	if n := f.sender.n.Load(); n != 1 {
		t.Fatalf("reply attempted to an opted-out recipient (%d attempts)", n)
	}
}

func TestStopKeyword(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	f.text("+15551212000", "hello")
	f.text("+15551212000", " stop ")
	testutil.CheckFor(t, 5*time.Second, func() error {
		cs := f.conversations()
		if len(cs) != 1 || cs[0].Status != store.ConversationFinished {
			return fmt.Errorf("conversations %+v", cs)
		}
		return nil
	})
	if got := f.sender.to("+15551212000"); len(got) != 1 {
		t.Fatalf("replies %v (STOP must not be answered)", got)
	}
	out, _ := f.st.IsOptedOut(context.Background(), f.channel.ID, "+15551212000")
	if !out {
		t.Fatal("not opted out")
	}
	f.text("+15551212000", "START")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if out, _ := f.st.IsOptedOut(context.Background(), f.channel.ID, "+15551212000"); out {
			return errors.New("still opted out")
		}
		return nil
	})
	f.text("+15551212000", "back")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551212000"); len(got) != 2 {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
}

func TestRecoverRedeliversPending(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
	// Committed by a previous run that died before the turn.
	msgs := []*store.InboundMessage{
		{ProviderID: f.channel.ID, MessageSID: "SMr1", ProjectID: f.project.ID, StageID: f.stage.ID, From: "+15551313000", To: ourNumber, Body: "a", State: store.InboundPending, ReceivedAt: time.Now()},
		{ProviderID: f.channel.ID, MessageSID: "SMr2", ProjectID: f.project.ID, StageID: f.stage.ID, From: "+15551313000", To: ourNumber, Body: "b", State: store.InboundPending, ReceivedAt: time.Now()},
	}
	if _, err := f.st.CommitInbound(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	in, _, err := f.eng.Recover(context.Background())
	if err != nil || in != 2 {
		t.Fatalf("recovered %d, %v", in, err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551313000"); len(got) != 2 || got[0] != "R1: a" || got[1] != "R2: b" {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
}

func TestGenerateResponseOpensConversation(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"rules":[{"match":"^$","reply":"Welcome!"}],"defaultReply":"R{{.Turn}}"}`, nil)
	f.stage.EnterBehavior = store.EnterGenerateResponse
	must(t, f.st.UpdateStage(context.Background(), f.stage, f.stage.Version))
	f.eng.cfg = newConfigCache(f.st, time.Second) // drop the cached stage
	f.text("+15551414000", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551414000"); len(got) != 2 || got[0] != "Welcome!" || got[1] != "R1" {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
}

func TestDrainWaitsForTurns(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, time.Minute, store.APITypeScripted, `{}`, nil)
	f.sender.fn = func(n int64, m OutMessage) error { <-release; return nil }
	f.text("+15551515000", "hi")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- f.eng.Close(ctx)
	}()
	select {
	case err := <-done:
		t.Fatalf("Close returned %v before the send finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := f.eng.Accept(context.Background(), &store.InboundMessage{MessageSID: "x"}); !errors.Is(err, ErrClosing) {
		t.Fatalf("Accept while draining: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.sender.count() != 1 {
		t.Fatal("reply not sent before drain finished")
	}
}

// sentSoFar returns a copy of what the fake accepted.
func (f *fakeSender) sentSoFar() []OutMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]OutMessage(nil), f.sent...)
}
