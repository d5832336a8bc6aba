package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/testutil"
	"switchboard/providers/llm"
	"switchboard/store"
)

func msgEvent(t *testing.T, data any) *store.Event {
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return &store.Event{EventType: store.EventMessage, EventData: b}
}

// Error replies, media notices and media-only messages are not history;
// the model's words and the user's texts are, in order.
func TestHistoryMessagesSkipsNotices(t *testing.T) {
	evs := []*store.Event{
		msgEvent(t, store.MessageData{Role: "user", Text: "hi"}),
		msgEvent(t, assistantData{MessageData: store.MessageData{Role: "assistant", Text: "sorry"}, Metadata: map[string]any{"kind": kindErrorReply}}),
		msgEvent(t, store.MessageData{Role: "user", MediaURL: []string{"https://x/y.jpg"}}),
		msgEvent(t, assistantData{MessageData: store.MessageData{Role: "assistant", Text: "text only"}, Metadata: map[string]any{"kind": kindMediaNotice}}),
		msgEvent(t, store.MessageData{Role: "user", Text: "again"}),
		msgEvent(t, assistantData{MessageData: store.MessageData{Role: "assistant", Text: "hello"}, Metadata: map[string]any{"finishReason": "stop"}}),
	}
	if got := seq(historyMessages(evs)); got != "user:hi,user:again,assistant:hello" {
		t.Fatalf("history %q", got)
	}
}

// fitBudget drops the oldest history first, never the system prompt or
// the new text, and never starts the history with the model's words.
func TestFitBudget(t *testing.T) {
	line := strings.Repeat("x", 36) // 9 + 4 = 13 estimated tokens
	if estimateTokens(line) != 13 || estimateTokens("") != 4 || estimateTokens("é") != 5 {
		t.Fatalf("estimates %d %d %d", estimateTokens(line), estimateTokens(""), estimateTokens("é"))
	}
	hist := []llm.Message{{Role: "user", Content: "u1" + line}, {Role: "assistant", Content: "a1" + line},
		{Role: "user", Content: "u2" + line}, {Role: "assistant", Content: "a2" + line}}
	// Everything fits.
	msgs, info := fitBudget("sys", hist, []string{"new"}, 1000)
	if len(msgs) != 6 || info.Truncated || info.Estimated != info.EstimatedFinal {
		t.Fatalf("%d messages, %+v", len(msgs), info)
	}
	// Room for about two history messages: the oldest exchange goes.
	fixed := estimateTokens("sys") + estimateTokens("new")
	h := estimateTokens(hist[0].Content)
	msgs, info = fitBudget("sys", hist, []string{"new"}, fixed+2*h)
	if got := roles(msgs); got != "system,user:u2,assistant:a2,user:ne" || !info.Truncated || info.EstimatedFinal != fixed+2*h {
		t.Fatalf("got %s %+v", got, info)
	}
	// Room for three: a1 would lead the history, so it goes too.
	msgs, _ = fitBudget("sys", hist, []string{"new"}, fixed+3*h)
	if got := roles(msgs); got != "system,user:u2,assistant:a2,user:ne" {
		t.Fatalf("got %s", got)
	}
	// A budget smaller than the system prompt and the new texts keeps them.
	msgs, info = fitBudget(strings.Repeat("s", 4000), hist, []string{"one", "two"}, 100)
	if got := roles(msgs); got != "system,user:on,user:tw" || !info.Truncated {
		t.Fatalf("got %s %+v", got, info)
	}
	// No system prompt: none is sent.
	msgs, _ = fitBudget("", nil, []string{"new"}, 100)
	if got := roles(msgs); got != "user:ne" {
		t.Fatalf("got %s", got)
	}
}

func roles(msgs []llm.Message) string {
	var s []string
	for _, m := range msgs {
		if m.Role == "system" {
			s = append(s, "system")
			continue
		}
		s = append(s, m.Role+":"+m.Content[:min(len(m.Content), 2)])
	}
	return strings.Join(s, ",")
}

// End to end: a stage's llmSettings.maxInputTokens bounds the history
// sent; the system prompt and the new text are always sent.
func TestHistoryBoundedByBudget(t *testing.T) {
	fake := &chatFake{}
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), nil)
	budget := 100
	f.stage.LLMSettings.MaxInputTokens = &budget
	must(t, f.st.UpdateStage(context.Background(), f.stage, f.stage.Version))
	last, total := sixExchanges(t, f, fake, "+15557770000")
	if last[0].Role != "system" || last[0].Content != "Be brief." || !strings.HasPrefix(last[len(last)-1].Content, "message 6 ") {
		t.Fatalf("last request %q", seq(last))
	}
	// Each exchange is ~28 tokens: of the five earlier ones only the
	// newest two fit besides the prompt and the new text.
	if len(last) != 6 || total > budget || last[1].Role != "user" || !strings.HasPrefix(last[1].Content, "message 4 ") {
		t.Fatalf("last request (%d estimated tokens): %q", total, seq(last))
	}
}

// sixExchanges sends six ~20-token texts from one sender, each after the
// previous reply, and returns the last LLM request and its estimated
// tokens.
func sixExchanges(t *testing.T, f *fixture, fake *chatFake, from string) ([]llm.Message, int) {
	t.Helper()
	for i := 1; i <= 6; i++ {
		f.text(from, fmt.Sprintf("message %d %s", i, strings.Repeat("z", 60)))
		testutil.CheckFor(t, 5*time.Second, func() error {
			if n := len(f.sender.to(from)); n != i {
				return fmt.Errorf("%d replies", n)
			}
			return nil
		})
	}
	reqs := fake.requests()
	last := reqs[len(reqs)-1]
	total := 0
	for _, m := range last {
		total += estimateTokens(m.Content)
	}
	return last, total
}

// The project's token caps (Bonsai's costManagementConfig) bound a
// stage's input like its own maxInputTokens does, and its output below
// the stage's defaultMaxTokens; the most specific entry wins.
func TestProjectCostCaps(t *testing.T) {
	fake := &chatFake{}
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), nil)
	stageMax := 200
	f.stage.LLMSettings.DefaultMaxTokens = &stageMax
	must(t, f.st.UpdateStage(context.Background(), f.stage, f.stage.Version))
	_, norm, err := store.ParseCostManagementConfig(json.RawMessage(`{"limits":{
		"*":{"*":{"inputTokensLimits":{"completion":5000},"outputTokensLimits":{"completion":999}}},
		"` + f.llmProv.ID + `":{"` + f.stage.LLMSettings.Model + `":{"inputTokensLimits":{"completion":100},"outputTokensLimits":{"completion":50}}}}}`))
	must(t, err)
	f.project.CostManagementConfig = norm
	must(t, f.st.UpdateProject(context.Background(), f.project, f.project.Version))
	last, total := sixExchanges(t, f, fake, "+15557770001")
	if len(last) != 6 || total > 100 || !strings.HasPrefix(last[1].Content, "message 4 ") {
		t.Fatalf("last request (%d estimated tokens), want the project's input cap of 100: %q", total, seq(last))
	}
	fake.mu.Lock()
	caps := append([]int(nil), fake.maxTokens...)
	fake.mu.Unlock()
	for i, c := range caps {
		if c != 50 {
			t.Fatalf("request %d asked for %d tokens, want the project's output cap 50 (stage: 200)", i+1, c)
		}
	}
}

func TestTokenCapsCombine(t *testing.T) {
	i := func(v int) *int { return &v }
	for _, c := range []struct {
		stage, project, want int
	}{{0, 0, DefaultMaxInputTokens}, {300, 0, 300}, {0, 9000, 9000}, {300, 200, 200}, {300, 900, 300}} {
		var ls store.LLMSettings
		if c.stage > 0 {
			ls.MaxInputTokens = i(c.stage)
		}
		if got := maxInputTokens(ls, c.project); got != c.want {
			t.Errorf("input: stage %d, project %d: %d, want %d", c.stage, c.project, got, c.want)
		}
	}
	if got := maxOutputTokens(nil, 0); got != nil {
		t.Errorf("output with no caps: %v", *got)
	}
	if got := maxOutputTokens(i(200), 50); *got != 50 {
		t.Errorf("output: %d, want 50", *got)
	}
	if got := maxOutputTokens(i(20), 50); *got != 20 {
		t.Errorf("output: %d, want 20", *got)
	}
	if got := maxOutputTokens(nil, 50); *got != 50 {
		t.Errorf("output: %d, want 50", *got)
	}
}

// assistantMeta returns the metadata of the conversation's assistant
// message events, in order.
func assistantMeta(t *testing.T, f *fixture) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range f.conversations() {
		for _, ev := range f.events(c.ID) {
			var d struct {
				Role     string         `json:"role"`
				Text     string         `json:"text"`
				Metadata map[string]any `json:"metadata"`
			}
			if ev.EventType != store.EventMessage || json.Unmarshal(ev.EventData, &d) != nil || d.Role != "assistant" {
				continue
			}
			if d.Metadata == nil {
				d.Metadata = map[string]any{}
			}
			d.Metadata["_text"] = d.Text
			out = append(out, d.Metadata)
		}
	}
	return out
}

// A reply cut off by the token limit is still sent, and recorded with its
// reason and the tokens used (on the event and in the counter); a refusal
// without text is answered with the error reply, recorded with the
// refusal, and never fed back to the model.
func TestLLMOutcomeRecorded(t *testing.T) {
	fake := &chatFake{answer: func(n int, w http.ResponseWriter) {
		switch n {
		case 1:
			fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"We open at"},"finish_reason":"length"}],"usage":{"prompt_tokens":30,"completion_tokens":5}}`)
		case 2:
			fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"","refusal":"I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":7}}`)
		default:
			fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":1}}`)
		}
	}}
	reg := prometheus.NewRegistry()
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), func(o *Options) { o.Registerer = reg })
	for i, body := range []string{"hours?", "something bad", "thanks"} {
		f.text("+15557770000", body)
		testutil.CheckFor(t, 5*time.Second, func() error {
			if n := len(f.sender.to("+15557770000")); n != i+1 {
				return fmt.Errorf("%d replies", n)
			}
			return nil
		})
	}
	if got := f.sender.to("+15557770000"); got[0] != "We open at" || got[1] != "sorry" || got[2] != "ok" {
		t.Fatalf("replies %q", got)
	}
	metas := assistantMeta(t, f)
	if len(metas) != 3 {
		t.Fatalf("assistant events %v", metas)
	}
	usage := func(m map[string]any) map[string]any { u, _ := m["llmUsage"].(map[string]any); return u }
	if m := metas[0]; m["finishReason"] != "length" || m["kind"] != nil || usage(m)["promptTokens"] != 30.0 ||
		usage(m)["completionTokens"] != 5.0 || usage(m)["totalTokens"] != 35.0 || usage(m)["model"] != "m" ||
		usage(m)["providerApiType"] != store.APITypeOpenAILegacy || usage(m)["providerId"] != f.llmProv.ID {
		t.Errorf("cut-off reply's metadata %v", m)
	}
	if m := metas[1]; m["kind"] != kindErrorReply || m["finishReason"] != "content_filter" || m["vendorFinishReason"] != "stop" ||
		m["refusal"] != "I can't help with that." || usage(m)["promptTokens"] != 40.0 {
		t.Errorf("refusal's metadata %v", m)
	}
	// The third call saw the cut-off reply as the model's words, not the
	// apology.
	if got := seq(fake.requests()[2]); got != "system:Be brief.,user:hours?,assistant:We open at,user:something bad,user:thanks" {
		t.Errorf("third request %q", got)
	}
	for _, c := range []struct {
		kind string
		want float64
	}{{"prompt", 120}, {"completion", 13}} {
		got := counterValue(t, f.eng.m.llmTokenCount.WithLabelValues(store.APITypeOpenAILegacy, "m", c.kind))
		if got != c.want {
			t.Errorf("switchboard_llm_tokens_total{kind=%q} = %v, want %v", c.kind, got, c.want)
		}
	}
	if got := counterValue(t, f.eng.m.llmFinishes.WithLabelValues(store.APITypeOpenAILegacy, "length")); got != 1 {
		t.Errorf("length finishes = %v", got)
	}
}
