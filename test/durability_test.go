package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

type outboundRow struct {
	ID             int64    `json:"id"`
	Body           string   `json:"body"`
	Part           int      `json:"part"`
	Parts          int      `json:"parts"`
	State          string   `json:"state"`
	Attempts       int      `json:"attempts"`
	ErrorCode      int      `json:"errorCode"`
	ErrorMessage   string   `json:"errorMessage"`
	MediaURLs      []string `json:"mediaUrls"`
	MessageSID     string   `json:"messageSid"`
	DeliveryStatus string   `json:"deliveryStatus"`
}

func (l *line) outbound(t *testing.T, convID string) []outboundRow {
	t.Helper()
	var page struct {
		Items []outboundRow `json:"items"`
	}
	l.srv.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations/"+convID+"/messages?limit=1000&orderBy=id", l.token, nil, &page, 200)
	return page.Items
}

// onlyConversation waits for the line's single conversation.
func (l *line) onlyConversation(t *testing.T) conversation {
	t.Helper()
	var c conversation
	testutil.CheckFor(t, 10*time.Second, func() error {
		cs := l.conversations(t)
		if len(cs) != 1 {
			return fmt.Errorf("%d conversations", len(cs))
		}
		c = cs[0]
		return nil
	})
	return c
}

func fastRetries() map[string]string {
	return map[string]string{"TWILIO_SEND_MAX_ATTEMPTS": "4"}
}

func TestTwilio429ThenSuccess(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{})
	sim.FailNext(1, 429, 20429)
	l.mustText(t, "+15552000001", "hi")
	l.waitReplies(t, "+15552000001", 1, 15*time.Second)
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		rows := l.outbound(t, c.ID)
		if len(rows) != 1 || rows[0].State != "sent" || rows[0].Attempts != 2 {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // a second delivery would show by now
	if got := l.replies("+15552000001"); len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
	if f := sim.Failures(); len(f) != 1 || f[0].Status != 429 {
		t.Fatalf("failures %+v", f)
	}
}

func TestRepeated5xxBoundedRetries(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"TWILIO_SEND_MAX_ATTEMPTS": "3"})
	l := setupLine(t, s, sim, lineOptions{})
	sim.SetFixedError(503, 20500)
	l.mustText(t, "+15552000002", "hi")
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 20*time.Second, func() error {
		rows := l.outbound(t, c.ID)
		if len(rows) != 1 || rows[0].State != "failed" {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	rows := l.outbound(t, c.ID)
	if rows[0].Attempts != 3 || len(sim.Failures()) != 3 {
		t.Fatalf("attempts %d, failures at the sim %d; want 3", rows[0].Attempts, len(sim.Failures()))
	}
	var sawFailed bool
	for _, e := range l.events(t, c.ID) {
		if e.EventType == "delivery" && strings.Contains(string(e.EventData), `"state":"failed"`) {
			sawFailed = true
		}
	}
	if !sawFailed {
		t.Fatal("failed delivery not recorded in the conversation's events")
	}
}

func TestOptedOutRecipientNotRetried(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{})
	sim.SetRecipientError("+15552000003", 21610)
	l.mustText(t, "+15552000003", "hi")
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		rows := l.outbound(t, c.ID)
		if len(rows) != 1 || rows[0].State != "failed" || rows[0].ErrorCode != 21610 || rows[0].Attempts != 1 {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	// Later replies are not attempted until the user texts START.
	l.mustText(t, "+15552000003", "anyone there?")
	testutil.CheckFor(t, 10*time.Second, func() error {
		for _, e := range l.events(t, c.ID) {
			if e.EventType == "delivery" && strings.Contains(string(e.EventData), "opted out") {
				return nil
			}
		}
		return fmt.Errorf("second text not recorded as skipped")
	})
	if n := len(sim.Failures()); n != 1 {
		t.Fatalf("%d attempts at the sim, want 1", n)
	}
	sim.SetRecipientError("+15552000003", 0)
	l.mustText(t, "+15552000003", "START")
	l.mustText(t, "+15552000003", "back again")
	got := l.waitReplies(t, "+15552000003", 1, 10*time.Second)
	if !strings.Contains(got[0], "back again") {
		t.Fatalf("reply after START %q", got)
	}
}

func TestStopKeywordEndsConversation(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000004", "hello")
	l.waitReplies(t, "+15552000004", 1, 10*time.Second)
	l.mustText(t, "+15552000004", "Stop")
	testutil.CheckFor(t, 10*time.Second, func() error {
		cs := l.conversations(t)
		if len(cs) != 1 || cs[0].Status != "finished" || !strings.Contains(string(cs[0].StatusDetails), "opt_out") {
			return fmt.Errorf("conversations %+v", cs)
		}
		return nil
	})
	if got := l.replies("+15552000004"); len(got) != 1 {
		t.Fatalf("STOP was answered: %q", got)
	}
}

func TestLongReplySplitInOrder(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 5000; i++ {
		fmt.Fprintf(&b, "Sentence number %d of a long answer. ", i)
		if i%12 == 11 {
			b.WriteString("\n\n")
		}
	}
	long := strings.TrimSpace(b.String())
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": long}})
	l.mustText(t, "+15552000005", "tell me everything")
	c := l.onlyConversation(t)
	var rows []outboundRow
	testutil.CheckFor(t, 15*time.Second, func() error {
		rows = l.outbound(t, c.ID)
		if len(rows) < 4 {
			return fmt.Errorf("%d parts", len(rows))
		}
		for _, r := range rows {
			if r.State != "sent" {
				return fmt.Errorf("part %d %s", r.Part, r.State)
			}
		}
		return nil
	})
	got := l.replies("+15552000005")
	if len(got) != len(rows) {
		t.Fatalf("%d parts delivered, %d in the outbox", len(got), len(rows))
	}
	for i, p := range got {
		if n := len([]rune(p)); n > 1600 {
			t.Fatalf("part %d has %d characters", i, n)
		}
		if rows[i].Part != i+1 || rows[i].Parts != len(rows) {
			t.Fatalf("part numbering %+v", rows[i])
		}
	}
	if strings.Join(strings.Fields(strings.Join(got, " ")), " ") != strings.Join(strings.Fields(long), " ") {
		t.Fatal("parts joined do not reproduce the reply")
	}
}

func TestStatusCallbacksRecorded(t *testing.T) {
	sim := newSim(t, twiliosim.Options{Callbacks: true})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000006", "hi")
	l.waitReplies(t, "+15552000006", 1, 10*time.Second)
	c := l.onlyConversation(t)
	testutil.CheckFor(t, 10*time.Second, func() error {
		rows := l.outbound(t, c.ID)
		if len(rows) != 1 || rows[0].DeliveryStatus != "delivered" {
			return fmt.Errorf("outbox %+v", rows)
		}
		return nil
	})
	for _, cb := range sim.Callbacks() {
		if cb.HTTPStatus < 200 || cb.HTTPStatus > 299 {
			t.Fatalf("callback answered %d: %+v", cb.HTTPStatus, cb)
		}
	}
	// A forged callback is refused.
	cbURL := sim.Messages()[0].StatusCallback
	forged := url.Values{"MessageSid": {sim.Messages()[0].SID}, "MessageStatus": {"failed"}}
	req, _ := twiliosim.NewSignedRequest(t.Context(), cbURL, "wrong-token", forged)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("forged callback: %d", resp.StatusCode)
	}
	if rows := l.outbound(t, c.ID); rows[0].DeliveryStatus != "delivered" {
		t.Fatalf("forged callback changed the status: %+v", rows[0])
	}
}

func TestMediaOnlyMessage(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	p := twiliosim.InboundParamsFor(l.AccountSID, "+15552000007", l.Number, "", twiliosim.NewMessageSID())
	p.Set("NumMedia", "1")
	p.Set("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1")
	p.Set("MediaContentType0", "image/jpeg")
	if code, body := l.post(l.Webhook, p, nil); code != 200 {
		t.Fatalf("media-only webhook: %d %s", code, body)
	}
	got := l.waitReplies(t, "+15552000007", 1, 10*time.Second)
	if !strings.Contains(got[0], "text") {
		t.Fatalf("reply %q", got[0])
	}
	c := l.onlyConversation(t)
	var sawMedia bool
	for _, e := range l.events(t, c.ID) {
		if strings.Contains(string(e.EventData), "MM1/Media/ME1") {
			sawMedia = true
		}
	}
	if !sawMedia {
		t.Fatal("media URL not recorded")
	}
}

func TestDebounceMergesBurst(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", map[string]string{"TWILIO_MESSAGING_DEBOUNCE_MS": "400"})
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": "[{{.Text}}]"}})
	for _, w := range []string{"a", "b", "c"} {
		l.mustText(t, "+15552000008", w)
	}
	got := l.waitReplies(t, "+15552000008", 1, 10*time.Second)
	time.Sleep(600 * time.Millisecond)
	got = l.replies("+15552000008")
	if len(got) != 1 || got[0] != "[a\nb\nc]" {
		t.Fatalf("replies %q, want one merged reply", got)
	}
}

func TestRestartContinuesConversation(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000009", "before")
	l.waitReplies(t, "+15552000009", 1, 10*time.Second)
	l.restart(t, dir, nil)
	l.mustText(t, "+15552000009", "after")
	got := l.waitReplies(t, "+15552000009", 2, 10*time.Second)
	if got[1] != "R2: after" {
		t.Fatalf("after restart %q, want the conversation to continue", got[1])
	}
}

func TestRestartAfterDeadlineStartsFresh(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	env := map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "1500"}
	s := startServer(t, dir, env)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000010", "before")
	l.waitReplies(t, "+15552000010", 1, 10*time.Second)
	s.kill9() // no chance to expire the session on the way out
	time.Sleep(1600 * time.Millisecond)
	s2 := startServer(t, dir, env)
	l.moveTo(s2)
	l.mustText(t, "+15552000010", "after")
	got := l.waitReplies(t, "+15552000010", 2, 10*time.Second)
	if got[1] != "R1: after" {
		t.Fatalf("after the window passed %q, want a new conversation", got[1])
	}
	cs := l.conversations(t)
	finished := 0
	for _, c := range cs {
		if c.Status == "finished" {
			finished++
		}
	}
	if len(cs) != 2 || finished < 1 {
		t.Fatalf("conversations %+v", cs)
	}
}

func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{Latency: 150 * time.Millisecond})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	const senders = 20
	for i := 0; i < senders; i++ {
		l.mustText(t, fmt.Sprintf("+1555201%04d", i), "drain me")
	}
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if n := sim.Count(); n != senders {
		t.Fatalf("%d replies sent before exit, want %d", n, senders)
	}
	// Nothing is left pending: a restart sends nothing more.
	s2 := startServer(t, dir, nil)
	time.Sleep(300 * time.Millisecond)
	if n := sim.Count(); n != senders {
		t.Fatalf("restart re-sent: %d replies", n)
	}
	_ = s2
}

// TestKill9LosesNothing kills the server with SIGKILL in the middle of a
// stream of webhooks from many senders, restarts it on the same database,
// and checks that every message that got a 200 got exactly one turn and
// that its reply reached Twilio.
func TestKill9LosesNothing(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{Latency: 2 * time.Millisecond})
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": "{{.Text}}"}})

	const senders = 30
	var mu sync.Mutex
	acked := map[string]bool{} // text → got 200
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("+1555300%04d", i)
			for j := 0; !stop.Load() && j < 1000; j++ {
				text := fmt.Sprintf("%s#%d", from, j)
				code, _ := l.text(from, text)
				if code == 200 {
					mu.Lock()
					acked[text] = true
					mu.Unlock()
				}
				if code == 0 {
					return // server gone
				}
			}
		}()
	}
	// Let traffic flow, then kill without warning.
	testutil.CheckFor(t, 20*time.Second, func() error {
		if sim.Count() < 200 {
			return fmt.Errorf("%d replies so far", sim.Count())
		}
		return nil
	})
	s.kill9()
	stop.Store(true)
	wg.Wait()

	s2 := startServer(t, dir, nil)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	replies := func() map[string]int { // reply body → times sent
		got := map[string]int{}
		for _, m := range sim.Messages() {
			got[m.Body]++
		}
		return got
	}
	testutil.CheckFor(t, 60*time.Second, func() error {
		got := replies()
		missing := 0
		for text := range acked {
			if got[text] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged messages have no reply", missing, n)
		}
		return nil
	})
	// Exactly one turn per acknowledged message: one user event each.
	l.moveTo(s2)
	users := map[string]int{}
	for _, c := range l.conversations(t) {
		for _, e := range l.events(t, c.ID) {
			var d struct{ Role, Text string }
			if e.EventType == "message" && json.Unmarshal(e.EventData, &d) == nil && d.Role == "user" {
				users[d.Text]++
			}
		}
	}
	for text := range acked {
		if users[text] != 1 {
			t.Fatalf("message %q has %d turns, want 1", text, users[text])
		}
	}
	dups := 0
	for _, times := range replies() {
		if times > 1 {
			dups++
		}
	}
	if dups > 0 {
		t.Fatalf("%d replies were sent twice across the crash", dups)
	}
	if sim.ListCalls() == 0 {
		t.Fatal("recovery did not reconcile its pending outbox with Twilio")
	}
	t.Logf("%d acknowledged messages, each answered exactly once across the crash", n)
}

// TestSecretsSealedAtRest runs a line with SWITCHBOARD_SECRET_KEY set: the
// webhook still verifies and replies still go out, and the database file
// does not contain the Twilio auth token. Without the key the server does
// not start; with a wrong one the provider is refused.
func TestSecretsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	env := map[string]string{"SWITCHBOARD_SECRET_KEY": strings.Repeat("5a", 32)}
	s := startServer(t, dir, env)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000011", "hi")
	l.waitReplies(t, "+15552000011", 1, 10*time.Second)
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, name := range []string{"switchboard.db", "switchboard.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(l.AuthToken)) {
			t.Fatalf("%s contains the auth token in clear", name)
		}
	}
	// Without the key the server does not start: it would hide the
	// missing key (and on SQLite generate another one).
	code, _, stderr := run(t, []string{"SWITCHBOARD_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:" + filepath.Join(dir, "switchboard.db")}, "serve")
	if code != 1 || !strings.Contains(stderr, "SWITCHBOARD_SECRET_KEY") {
		t.Fatalf("start without the key: exit %d, %s", code, stderr)
	}
	// With a wrong key the sealed provider is refused, not used.
	s2 := startServer(t, dir, map[string]string{"SWITCHBOARD_SECRET_KEY": strings.Repeat("a5", 32)})
	l.moveTo(s2)
	if code, _ := l.text("+15552000011", "again"); code != 503 {
		t.Fatalf("webhook with a wrong key: %d, want 503", code)
	}
}

// TestConversationEndsAfterRestartWithoutNewText: a conversation that was
// active when the server stopped still ends at its stored deadline, though
// its sender never texts again.
func TestConversationEndsAfterRestartWithoutNewText(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	env := map[string]string{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "4000"}
	s := startServer(t, dir, env)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552000012", "hello")
	l.waitReplies(t, "+15552000012", 1, 10*time.Second)
	l.restart(t, dir, env)
	if c := l.onlyConversation(t); c.Status != "awaiting_user_input" {
		t.Fatalf("conversation %s right after the restart, want still active", c.Status)
	}
	testutil.CheckFor(t, 15*time.Second, func() error {
		c := l.onlyConversation(t)
		if c.Status != "finished" || !strings.Contains(string(c.StatusDetails), "inactivity_timeout") {
			return fmt.Errorf("conversation %s %s", c.Status, c.StatusDetails)
		}
		return nil
	})
}
