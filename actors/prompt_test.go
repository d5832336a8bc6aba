package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the tests, on a machine without a zoneinfo directory

	"switchboard/internal/testutil"
	"switchboard/providers/llm"
	"switchboard/store"
)

// chatFake is an OpenAI Chat Completions server that records the messages
// of every request and answers with answer(n) (n counts requests from 1).
type chatFake struct {
	mu     sync.Mutex
	bodies [][]llm.Message
	// maxTokens are the requests' output caps (max_tokens or
	// max_completion_tokens; 0 for none).
	maxTokens []int
	answer    func(n int, w http.ResponseWriter)
}

func (c *chatFake) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages            []llm.Message `json:"messages"`
			MaxTokens           int           `json:"max_tokens"`
			MaxCompletionTokens int           `json:"max_completion_tokens"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		c.mu.Lock()
		c.bodies = append(c.bodies, body.Messages)
		c.maxTokens = append(c.maxTokens, max(body.MaxTokens, body.MaxCompletionTokens))
		n := len(c.bodies)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if c.answer != nil {
			c.answer(n, w)
			return
		}
		fmt.Fprintf(w, `{"choices":[{"message":{"role":"assistant","content":"reply %d"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}`, n)
	}))
	t.Cleanup(srv.Close)
	return `{"apiKey":"k","baseUrl":"` + srv.URL + `"}`
}

func (c *chatFake) requests() [][]llm.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]llm.Message(nil), c.bodies...)
}

// seq renders messages as role:content, comma-separated.
func seq(msgs []llm.Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.Role+":"+m.Content)
	}
	return strings.Join(s, ",")
}

// A stage prompt is a Handlebars template: {{agent}} places the agent's
// prompt (not appended again), {{userProfile}} is the sender, and the
// prompt is rendered anew on every turn.
func TestStagePromptRendered(t *testing.T) {
	fake := &chatFake{}
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), nil)
	ctx := context.Background()
	agent := &store.Agent{ProjectID: f.project.ID, Name: "a", Prompt: "You're Ann & friendly{{#if (eq userProfile.channel \"whatsapp\")}} on WhatsApp{{/if}}."}
	must(t, f.st.CreateAgent(ctx, agent))
	f.stage.AgentID = agent.ID
	f.stage.Prompt = "{{agent}}\nTalk to {{default userProfile.name \"the customer\"}} on {{userProfile.channel}} at {{userProfile.address}} about {{userInput}}."
	must(t, f.st.UpdateStage(ctx, f.stage, f.stage.Version))

	f.text("+15557770000", "bikes")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15557770000"); len(got) != 1 {
			return fmt.Errorf("replies %v", got)
		}
		return nil
	})
	m := &store.InboundMessage{
		ProviderID: f.channel.ID, MessageSID: "SM0000000000000000000000000000wa01", ProjectID: f.project.ID, StageID: f.stage.ID,
		From: "whatsapp:+15557770001", To: "whatsapp:" + ourNumber, Body: "cars", ProfileName: "Zoë",
	}
	if _, err := f.eng.Accept(ctx, m); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := len(fake.requests()); n != 2 {
			return fmt.Errorf("%d LLM requests", n)
		}
		return nil
	})
	got := map[string]bool{}
	for _, r := range fake.requests() {
		got[r[0].Role+":"+r[0].Content] = true
	}
	for _, want := range []string{
		"system:You're Ann & friendly.\nTalk to the customer on sms at +15557770000 about bikes.",
		"system:You're Ann & friendly on WhatsApp.\nTalk to Zoë on whatsapp at whatsapp:+15557770001 about cars.",
	} {
		if !got[want] {
			t.Errorf("no request with %q; got %v", want, got)
		}
	}
}

// A stage prompt without {{agent}} still gets the agent's prompt appended;
// an agent prompt that does not parse is used as written.
func TestAgentAppendedWithoutPlaceholder(t *testing.T) {
	fake := &chatFake{}
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), nil)
	ctx := context.Background()
	agent := &store.Agent{ProjectID: f.project.ID, Name: "a", Prompt: "Agent says hi{{#if"}
	must(t, f.st.CreateAgent(ctx, agent))
	f.stage.AgentID = agent.ID
	f.stage.Prompt = "Today is {{time.date}}."
	must(t, f.st.UpdateStage(ctx, f.stage, f.stage.Version))
	f.text("+15557770000", "hello")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if len(fake.requests()) != 1 {
			return fmt.Errorf("no request yet")
		}
		return nil
	})
	want := regexp.MustCompile(`^system:Today is \d{4}-\d{2}-\d{2}\.\n\nAgent says hi\{\{#if,user:hello$`)
	if got := seq(fake.requests()[0]); !want.MatchString(got) {
		t.Fatalf("messages %q, want %s", got, want)
	}
}

// The prompt's time is the project's local time, and a changed timezone
// applies from the next turn once the config cache has it (here: the
// cache is dropped, as its period running out would), in the same
// conversation.
func TestPromptTimeInProjectTimezone(t *testing.T) {
	fake := &chatFake{}
	now := time.Date(2026, 1, 15, 23, 30, 0, 0, time.UTC)
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, fake.start(t), func(o *Options) {
		o.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	f.project.Timezone = ptr("Asia/Kathmandu") // UTC+05:45: the next day
	must(t, f.st.UpdateProject(ctx, f.project, f.project.Version))
	f.stage.Prompt = "It is {{time.dateTime}} ({{time.dayOfWeek}}, {{time.timezone}}, UTC{{time.offset}}); project zone {{project.timezone}}."
	must(t, f.st.UpdateStage(ctx, f.stage, f.stage.Version))
	f.eng.cfg = newConfigCache(f.st, time.Second)

	system := func(n int) string {
		t.Helper()
		testutil.CheckFor(t, 5*time.Second, func() error {
			if got := len(fake.requests()); got != n {
				return fmt.Errorf("%d LLM requests, want %d", got, n)
			}
			return nil
		})
		return fake.requests()[n-1][0].Content
	}
	f.text("+15557770000", "when?")
	if got, want := system(1), "It is 2026-01-16 05:15:00 (Friday, Asia/Kathmandu, UTC+05:45); project zone Asia/Kathmandu."; got != want {
		t.Fatalf("system prompt %q, want %q", got, want)
	}

	f.project.Timezone = ptr("America/Los_Angeles")
	must(t, f.st.UpdateProject(ctx, f.project, f.project.Version))
	f.eng.cfg = newConfigCache(f.st, time.Second)
	f.text("+15557770000", "and now?")
	if got, want := system(2), "It is 2026-01-15 15:30:00 (Thursday, America/Los_Angeles, UTC-08:00); project zone America/Los_Angeles."; got != want {
		t.Fatalf("after the change: system prompt %q, want %q", got, want)
	}

	// No timezone: UTC, and project.timezone is null (renders empty).
	f.project.Timezone = nil
	must(t, f.st.UpdateProject(ctx, f.project, f.project.Version))
	f.eng.cfg = newConfigCache(f.st, time.Second)
	f.text("+15557770000", "UTC?")
	if got, want := system(3), "It is 2026-01-15 23:30:00 (Thursday, UTC, UTC+00:00); project zone ."; got != want {
		t.Fatalf("without a timezone: system prompt %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }
