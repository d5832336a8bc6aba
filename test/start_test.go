package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// Conversations the business starts: POST /api/twilio/messaging/send and
// its bulk form, against the binary and the simulated Twilio.

// sendURL is the line's send route (path: "", "/bulk") with the API key.
func (l *line) sendURL(path string, extra url.Values) string {
	q := url.Values{"apiKey": {l.APIKey}, "channelProviderId": {l.ProviderID}, "stageId": {l.StageID}}
	for k, v := range extra {
		q[k] = v
	}
	return l.srv.URL + "/api/twilio/messaging/send" + path + "?" + q.Encode()
}

// postJSON posts body as JSON with the headers and decodes the answer.
func postJSON(t *testing.T, rawURL string, body any, header http.Header, out any) (int, http.Header, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", rawURL, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %d %s: %v", rawURL, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, string(raw)
}

type sendAnswer struct {
	ConversationID string `json:"conversationId"`
	StartID        string `json:"startId"`
	State          string `json:"state"`
	Error          string `json:"error"`
}

// mustSend starts a conversation and requires 201.
func (l *line) mustSend(t *testing.T, body map[string]any, key string) sendAnswer {
	t.Helper()
	var a sendAnswer
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	code, _, raw := postJSON(t, l.sendURL("", nil), body, h, &a)
	if code != http.StatusCreated || !strings.HasPrefix(a.ConversationID, "conv_") {
		t.Fatalf("send: %d %s", code, raw)
	}
	return a
}

type apiConversation struct {
	ID            string          `json:"id"`
	UserID        string          `json:"userId"`
	Status        string          `json:"status"`
	Direction     string          `json:"direction"`
	StatusDetails *string         `json:"statusDetails"`
	Metadata      json.RawMessage `json:"metadata"`
}

func (l *line) conversation(t *testing.T, id string) apiConversation {
	t.Helper()
	var c apiConversation
	l.srv.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations/"+id, l.token, nil, &c, 200)
	return c
}

// TestStartConversation: the opening message reaches the simulated Twilio
// from the line's number, the conversation is outgoing, and the
// recipient's reply continues it; a repeated or concurrent request with
// the same key sends nothing more; an opted-out recipient is refused.
func TestStartConversation(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	l := setupLine(t, s, sim, lineOptions{})
	to := "+15552220001"

	a := l.mustSend(t, map[string]any{"to": to, "metadata": map[string]any{"campaign": "reminders"}}, "first")
	got := l.waitReplies(t, to, 1, 10*time.Second)
	if !strings.HasPrefix(got[0], "R0") {
		t.Fatalf("opening %q, want the stage's LLM's (scripted R0)", got[0])
	}
	if m := sim.MessagesTo(to)[0]; m.From != l.Number || !strings.Contains(m.StatusCallback, "/api/twilio/messaging/status") {
		t.Fatalf("opening sent as %+v", m)
	}
	c := l.conversation(t, a.ConversationID)
	if c.Direction != "outgoing" || c.UserID != to || c.Status != "awaiting_user_input" || !strings.Contains(string(c.Metadata), `"campaign":"reminders"`) {
		t.Fatalf("conversation %+v", c)
	}

	// The reply continues the same conversation.
	l.mustText(t, to, "yes please")
	got = l.waitReplies(t, to, 2, 10*time.Second)
	if got[1] != "R1: yes please" {
		t.Fatalf("reply %q", got[1])
	}
	if cs := l.conversations(t); len(cs) != 1 || cs[0].ID != a.ConversationID {
		t.Fatalf("conversations %+v, want only %s", cs, a.ConversationID)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		count := map[string]int{}
		var kinds []string
		for _, e := range l.events(t, a.ConversationID) {
			kinds = append(kinds, e.EventType)
			count[e.EventType]++
		}
		// The opening's delivery is recorded when Twilio answers, which
		// may come after the reply's text: only the first two are fixed.
		if len(kinds) != 6 || kinds[0] != "conversation_start" || kinds[1] != "message" || count["message"] != 3 || count["delivery"] != 2 {
			return fmt.Errorf("events %v", kinds)
		}
		return nil
	})

	// The direction filter the console uses.
	var page struct {
		Items []apiConversation `json:"items"`
		Total int               `json:"total"`
	}
	l.mustText(t, "+15552229999", "hello") // an incoming one
	l.waitReplies(t, "+15552229999", 1, 10*time.Second)
	s.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations?filters[direction]=outgoing", l.token, nil, &page, 200)
	if page.Total != 1 || page.Items[0].ID != a.ConversationID {
		t.Fatalf("outgoing conversations %+v", page)
	}
	s.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations?filters[direction]=incoming", l.token, nil, &page, 200)
	if page.Total != 1 || page.Items[0].UserID != "+15552229999" || page.Items[0].Direction != "incoming" {
		t.Fatalf("incoming conversations %+v", page)
	}

	// Same key: the same conversation, nothing sent.
	var again sendAnswer
	code, hdr, raw := postJSON(t, l.sendURL("", nil), map[string]any{"to": to}, http.Header{"Idempotency-Key": {"first"}}, &again)
	if code != 201 || again.ConversationID != a.ConversationID || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s %v", code, raw, hdr)
	}
	// The same key for another recipient is a conflict.
	if code, _, raw := postJSON(t, l.sendURL("", nil), map[string]any{"to": "+15552220002"}, http.Header{"Idempotency-Key": {"first"}}, nil); code != 409 {
		t.Fatalf("key reused for another recipient: %d %s", code, raw)
	}

	// Concurrent requests with one key: one conversation, one message.
	to2 := "+15552220003"
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a sendAnswer
			code, _, raw := postJSON(t, l.sendURL("", nil), map[string]any{"to": to2, "text": "Your table is ready."}, nil,
				&a)
			_ = raw
			if code == 201 {
				ids[i] = a.ConversationID
			}
		}()
	}
	wg.Wait()
	// (Those requests had no key: each is its own start, and the second
	// and later end the conversation the previous one opened, as Bonsai
	// does. Now the same with a key.)
	to3 := "+15552220004"
	keyed := make([]string, 8)
	for i := range keyed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a sendAnswer
			if code, _, _ := postJSON(t, l.sendURL("", nil), map[string]any{"to": to3, "text": "Your table is ready."},
				http.Header{"Idempotency-Key": {"table-42"}}, &a); code == 201 {
				keyed[i] = a.ConversationID
			}
		}()
	}
	wg.Wait()
	for _, id := range keyed {
		if id == "" || id != keyed[0] {
			t.Fatalf("concurrent requests with one key answered %q", keyed)
		}
	}
	l.waitReplies(t, to3, 1, 10*time.Second)
	if got := l.replies(to3); len(got) != 1 || got[0] != "Your table is ready." {
		t.Fatalf("%s received %q, want the given text once", to3, got)
	}
	for _, id := range ids {
		if id == "" {
			t.Fatalf("a request without a key failed: %q", ids)
		}
	}
	l.waitReplies(t, to2, len(ids), 10*time.Second)
	testutil.CheckFor(t, 10*time.Second, func() error {
		active := 0
		for _, c := range l.conversations(t) {
			if c.UserID == to2 && c.Status == "awaiting_user_input" {
				active++
			}
		}
		if active != 1 {
			return fmt.Errorf("%d active conversations with %s, want 1 (each start ends the previous)", active, to2)
		}
		return nil
	})

	// An active conversation the user started is ended by a start, and
	// the reply continues the new one.
	to4 := "+15552220005"
	l.mustText(t, to4, "hi")
	l.waitReplies(t, to4, 1, 10*time.Second)
	old := l.conversations(t)
	var oldID string
	for _, c := range old {
		if c.UserID == to4 {
			oldID = c.ID
		}
	}
	b := l.mustSend(t, map[string]any{"to": to4, "text": "A follow-up from us."}, "")
	l.waitReplies(t, to4, 2, 10*time.Second)
	if c := l.conversation(t, oldID); c.Status != "finished" || c.StatusDetails == nil || *c.StatusDetails != "superseded" {
		t.Fatalf("the earlier conversation: %+v", c)
	}
	l.mustText(t, to4, "thanks")
	l.waitReplies(t, to4, 3, 10*time.Second)
	testutil.CheckFor(t, 10*time.Second, func() error {
		n := 0
		for _, e := range l.events(t, b.ConversationID) {
			if e.EventType == "message" {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("%d messages in the started conversation, want 3", n)
		}
		return nil
	})

	// Opted out: refused with a clear 422, nothing stored or sent.
	to5 := "+15552220006"
	l.mustText(t, to5, "STOP")
	testutil.CheckFor(t, 10*time.Second, func() error {
		for _, c := range l.conversations(t) {
			if c.UserID == to5 && c.Status == "finished" {
				return nil
			}
		}
		return fmt.Errorf("no opt-out yet")
	})
	var refusal struct {
		Error string `json:"error"`
	}
	code, _, raw = postJSON(t, l.sendURL("", nil), map[string]any{"to": to5}, nil, &refusal)
	if code != 422 || !strings.Contains(refusal.Error, "opted out") {
		t.Fatalf("opted-out recipient: %d %s", code, raw)
	}
	if got := l.replies(to5); len(got) != 0 {
		t.Fatalf("%s received %q", to5, got)
	}

	// Counted.
	m := scrape(t, l.srv.MetricsURL)
	if m[`switchboard_start_requests_total{outcome="replayed"}`] < 1 || m[`switchboard_start_requests_total{outcome="opted_out"}`] != 1 ||
		m[`switchboard_start_requests_total{outcome="idempotency_conflict"}`] != 1 {
		t.Errorf("start request metrics : replayed %v, opted_out %v, conflict %v", m[`switchboard_start_requests_total{outcome="replayed"}`],
			m[`switchboard_start_requests_total{outcome="opted_out"}`], m[`switchboard_start_requests_total{outcome="idempotency_conflict"}`])
	}

	// Across a restart: the key still answers the first conversation, and
	// nothing is sent again.
	sent := len(sim.MessagesTo(to))
	l.restart(t, dir, nil)
	code, _, raw = postJSON(t, l.sendURL("", nil), map[string]any{"to": to}, http.Header{"Idempotency-Key": {"first"}}, &again)
	if code != 201 || again.ConversationID != a.ConversationID || again.State != "started" {
		t.Fatalf("repeat after restart: %d %s", code, raw)
	}
	l.mustText(t, "+15552229998", "flush") // a later turn: anything queued would have gone out by its reply
	l.waitReplies(t, "+15552229998", 1, 10*time.Second)
	if n := len(sim.MessagesTo(to)); n != sent {
		t.Fatalf("%s received %d messages after the restart, want %d", to, n, sent)
	}

	// Audited.
	var audit struct {
		Items []struct {
			EntityID string `json:"entityId"`
			Action   string `json:"action"`
		} `json:"items"`
	}
	l.srv.mustAPI("GET", "/api/audit-logs?filters[entityType]=conversation&filters[action]=CREATE&limit=1000", l.token, nil, &audit, 200)
	found := false
	for _, e := range audit.Items {
		found = found || e.EntityID == a.ConversationID
	}
	if !found {
		t.Fatalf("no audit entry for %s: %+v", a.ConversationID, audit.Items)
	}
}

// TestStartConversationInstruction: the instruction reaches the
// LLM's system prompt for the opening only, and starts are counted.
func TestStartConversationInstruction(t *testing.T) {
	var mu sync.Mutex
	var systems []string
	llmSrv := newOpenAIFake(t, func(msgs []map[string]string) string {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if m["role"] == "system" {
				systems = append(systems, m["content"])
			}
		}
		return fmt.Sprintf("answer %d", len(systems))
	})
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmType: "openai-legacy", llmConfig: map[string]any{"apiKey": "sk-test", "baseUrl": llmSrv + "/v1"}})
	to := "+15552230001"
	l.mustSend(t, map[string]any{"to": to, "instruction": "Remind them of the appointment at 10:00."}, "")
	l.waitReplies(t, to, 1, 10*time.Second)
	l.mustText(t, to, "ok")
	l.waitReplies(t, to, 2, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(systems) != 2 || !strings.HasSuffix(systems[0], "Remind them of the appointment at 10:00.") || strings.Contains(systems[1], "Remind") {
		t.Fatalf("system prompts %q: the instruction must open the first only", systems)
	}
	m := scrape(t, s.MetricsURL)
	if m[`switchboard_conversation_starts_total{outcome="started"}`] != 1 {
		t.Fatalf("starts counted: %v", m[`switchboard_conversation_starts_total{outcome="started"}`])
	}
}

// newOpenAIFake serves OpenAI's chat completions with answer(messages).
func newOpenAIFake(t *testing.T, answer func([]map[string]string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []map[string]string `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		text, _ := json.Marshal(answer(body.Messages))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, text)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type jobAnswer struct {
	JobID      string         `json:"jobId"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	Counts     map[string]int `json:"counts"`
	Recipients []struct {
		Index          int    `json:"index"`
		To             string `json:"to"`
		State          string `json:"state"`
		ConversationID string `json:"conversationId"`
		Error          string `json:"error"`
	} `json:"recipients"`
	Links map[string]string `json:"links"`
}

func (l *line) job(t *testing.T, id, query string) jobAnswer {
	t.Helper()
	resp, err := httpClient.Get(l.srv.URL + "/api/twilio/messaging/send/jobs/" + id + "?apiKey=" + url.QueryEscape(l.APIKey) + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("job %s: %d %s", id, resp.StatusCode, raw)
	}
	var j jobAnswer
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestStartJob: a bulk request is a job (202) whose progress is read; an
// opted-out recipient is its own outcome; the job survives a crash of the
// server and every recipient gets exactly one opening message.
func TestStartJob(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	dir := t.TempDir()
	env := map[string]string{"TWILIO_SEND_RATE_PER_NUMBER": "5"}
	s := startServer(t, dir, env)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15552240099", "STOP")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if len(l.conversations(t)) == 1 && l.conversations(t)[0].Status == "finished" {
			return nil
		}
		return fmt.Errorf("no opt-out yet")
	})
	var recipients []map[string]any
	var numbers []string
	for i := range 12 {
		n := fmt.Sprintf("+155522400%02d", i)
		numbers = append(numbers, n)
		recipients = append(recipients, map[string]any{"to": n})
	}
	recipients = append(recipients, map[string]any{"to": "+15552240099"})
	var j jobAnswer
	code, hdr, raw := postJSON(t, l.sendURL("/bulk", nil), map[string]any{"recipients": recipients, "text": "Our offices move on Monday."},
		http.Header{"Idempotency-Key": {"move-notice"}}, &j)
	if code != 202 || j.JobID == "" || j.Total != 13 || hdr.Get("Location") != "/api/twilio/messaging/send/jobs/"+j.JobID {
		t.Fatalf("bulk: %d %s %v", code, raw, hdr)
	}
	// A crash while the job runs (12 recipients at 5/s take over two
	// seconds): the restart resumes it.
	l.waitReplies(t, numbers[0], 1, 10*time.Second)
	l.srv.kill9()
	l.moveTo(startServer(t, dir, env))
	testutil.CheckFor(t, 30*time.Second, func() error {
		j = l.job(t, j.JobID, "&limit=1000")
		if j.State != "done" {
			return fmt.Errorf("job %s: %v", j.State, j.Counts)
		}
		return nil
	})
	if j.Counts["started"] != 12 || j.Counts["opted_out"] != 1 || j.Counts["pending"] != 0 || len(j.Recipients) != 13 {
		t.Fatalf("job %+v", j)
	}
	if r := j.Recipients[12]; r.To != "+15552240099" || r.State != "opted_out" || r.ConversationID != "" || !strings.Contains(r.Error, "opted out") {
		t.Fatalf("opted-out recipient %+v", r)
	}
	for i, n := range numbers {
		if r := j.Recipients[i]; r.Index != i || r.To != n || r.State != "started" || r.ConversationID == "" {
			t.Fatalf("recipient %d: %+v", i, r)
		}
		if got := l.waitReplies(t, n, 1, 10*time.Second); len(got) != 1 || got[0] != "Our offices move on Monday." {
			t.Fatalf("%s received %q, want the notice once", n, got)
		}
		if c := l.conversation(t, j.Recipients[i].ConversationID); c.Direction != "outgoing" || c.UserID != n {
			t.Fatalf("conversation %+v", c)
		}
	}
	if got := l.replies("+15552240099"); len(got) != 0 {
		t.Fatalf("the opted-out recipient received %q", got)
	}
	// Paging, and the same key again: the same job, nothing new.
	if p := l.job(t, j.JobID, "&offset=2&limit=2"); len(p.Recipients) != 2 || p.Recipients[0].Index != 2 || p.Links["next"] == "" {
		t.Fatalf("page %+v", p)
	}
	var again jobAnswer
	code, hdr, raw = postJSON(t, l.sendURL("/bulk", nil), map[string]any{"recipients": recipients, "text": "Our offices move on Monday."},
		http.Header{"Idempotency-Key": {"move-notice"}}, &again)
	if code != 202 || again.JobID != j.JobID || hdr.Get("Idempotent-Replayed") != "true" || again.State != "done" {
		t.Fatalf("bulk again: %d %s", code, raw)
	}
	// Another project's key cannot read the job.
	other := setupLine(t, l.srv, sim, lineOptions{number: "+15550007777"})
	resp, err := httpClient.Get(l.srv.URL + "/api/twilio/messaging/send/jobs/" + j.JobID + "?apiKey=" + url.QueryEscape(other.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("another project's job: %d", resp.StatusCode)
	}
}

// TestStartPostgres: the same on PostgreSQL — a start, the reply that
// continues it, concurrent requests with one key, a job, the direction
// filter.
func TestStartPostgres(t *testing.T) {
	db := postgresURL(t)
	sim := newSim(t, twiliosim.Options{})
	env := map[string]string{"DATABASE_URL": db, "SWITCHBOARD_SECRET_KEY": strings.Repeat("3c", 32)}
	s := startServer(t, "", env)
	l := setupLine(t, s, sim, lineOptions{})
	to := "+15558100001"
	keyed := make([]string, 6)
	var wg sync.WaitGroup
	for i := range keyed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a sendAnswer
			if code, _, _ := postJSON(t, l.sendURL("", nil), map[string]any{"to": to}, http.Header{"Idempotency-Key": {"pg"}}, &a); code == 201 {
				keyed[i] = a.ConversationID
			}
		}()
	}
	wg.Wait()
	for _, id := range keyed {
		if id == "" || id != keyed[0] {
			t.Fatalf("concurrent requests with one key answered %q", keyed)
		}
	}
	l.waitReplies(t, to, 1, 10*time.Second)
	l.mustText(t, to, "hello back")
	if got := l.waitReplies(t, to, 2, 10*time.Second); got[1] != "R1: hello back" || len(got) != 2 {
		t.Fatalf("replies %q", got)
	}
	if c := l.conversation(t, keyed[0]); c.Direction != "outgoing" {
		t.Fatalf("conversation %+v", c)
	}
	var j jobAnswer
	code, _, raw := postJSON(t, l.sendURL("/bulk", nil), map[string]any{"recipients": []map[string]any{{"to": "+15558100002"}, {"to": "+15558100003"}}, "text": "News"}, nil, &j)
	if code != 202 {
		t.Fatalf("bulk: %d %s", code, raw)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if j = l.job(t, j.JobID, ""); j.State != "done" || j.Counts["started"] != 2 {
			return fmt.Errorf("job %s %v", j.State, j.Counts)
		}
		return nil
	})
	var page struct {
		Total int `json:"total"`
	}
	s.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations?filters[direction]=outgoing", l.token, nil, &page, 200)
	if page.Total != 3 {
		t.Fatalf("%d outgoing conversations, want 3", page.Total)
	}
}
