package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	tu "switchboard/internal/testutil"
	"switchboard/store"
)

// markdownReply is what the scripted LLM answers: Markdown, as LLMs write.
const markdownReply = `**Total:** $12 - see [your order](https://example.com/o/1)`

// setStageMetadata stores metadata on the fixture's stage and drops the
// engine's cached copy.
func (f *fixture) setStageMetadata(md string) {
	f.t.Helper()
	f.stage.Metadata = json.RawMessage(md)
	must(f.t, f.st.UpdateStage(context.Background(), f.stage, f.stage.Version))
	f.eng.cfg = newConfigCache(f.st, time.Second)
}

// inbound accepts a message from an address (SMS or "whatsapp:").
func (f *fixture) inbound(from, body string, media ...string) {
	f.t.Helper()
	to := ourNumber
	if strings.HasPrefix(from, "whatsapp:") {
		to = "whatsapp:" + ourNumber
	}
	m := &store.InboundMessage{
		ProviderID: f.channel.ID, MessageSID: fmt.Sprintf("SM%032d", f.sid.Add(1)),
		ProjectID: f.project.ID, StageID: f.stage.ID, From: from, To: to, Body: body, MediaURLs: media,
	}
	if _, err := f.eng.Accept(context.Background(), m); err != nil {
		f.t.Fatal(err)
	}
}

// waitReplies waits for n replies to addr and returns them.
func (f *fixture) waitReplies(addr string, n int) []string {
	f.t.Helper()
	var got []string
	tu.CheckFor(f.t, 5*time.Second, func() error {
		if got = f.sender.to(addr); len(got) != n {
			return fmt.Errorf("replies to %s: %q", addr, got)
		}
		return nil
	})
	return got
}

// assistantTexts are the texts of the stored assistant messages of addr's
// conversation.
func (f *fixture) assistantTexts(addr string) []string {
	f.t.Helper()
	var out []string
	for _, c := range f.conversations() {
		if c.UserID != addr {
			continue
		}
		for _, ev := range f.events(c.ID) {
			var d store.MessageData
			if ev.EventType == store.EventMessage && json.Unmarshal(ev.EventData, &d) == nil && d.Role == "assistant" {
				out = append(out, d.Text)
			}
		}
	}
	return out
}

// TestReplyFormatByChannel: with no stage option (auto) an SMS recipient
// gets plain text and a WhatsApp recipient WhatsApp formatting; the text is
// formatted before it is split, and the stored assistant event holds the
// text as sent.
func TestReplyFormatByChannel(t *testing.T) {
	var mu sync.Mutex
	var split []string
	reg := prometheus.NewRegistry()
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"`+strings.ReplaceAll(markdownReply, `"`, `\"`)+`"}`,
		func(o *Options) {
			o.Registerer = reg
			o.Split = func(s string) []string {
				mu.Lock()
				split = append(split, s)
				mu.Unlock()
				return []string{s}
			}
		})
	const plain = "Total: $12 - see your order (https://example.com/o/1)"
	const wa = "*Total:* $12 - see your order (https://example.com/o/1)"

	f.inbound("+15552220000", "hi")
	if got := f.waitReplies("+15552220000", 1); got[0] != plain {
		t.Fatalf("SMS reply %q, want %q", got[0], plain)
	}
	f.inbound("whatsapp:+15552220001", "hi")
	if got := f.waitReplies("whatsapp:+15552220001", 1); got[0] != wa {
		t.Fatalf("WhatsApp reply %q, want %q", got[0], wa)
	}
	mu.Lock()
	if strings.Join(split, "|") != plain+"|"+wa {
		t.Errorf("Split saw %q: formatting must come before splitting", split)
	}
	mu.Unlock()
	if got := f.assistantTexts("+15552220000"); len(got) != 1 || got[0] != plain {
		t.Errorf("stored assistant text %q, want the text as sent", got)
	}
	if got := f.assistantTexts("whatsapp:+15552220001"); len(got) != 1 || got[0] != wa {
		t.Errorf("stored assistant text %q, want the text as sent", got)
	}
	// switchboard_reply_format_total counted both, as changed.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_reply_format_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			counts[strings.TrimSpace(key)] = m.GetCounter().GetValue()
		}
	}
	if len(counts) != 2 || counts["changed=true format=plain"] != 1 || counts["changed=true format=whatsapp"] != 1 {
		t.Errorf("switchboard_reply_format_total = %v", counts)
	}
}

// TestReplyFormatStageOption: metadata.replyFormat overrides the channel's
// default.
func TestReplyFormatStageOption(t *testing.T) {
	tests := []struct {
		format, from, want string
	}{
		{"none", "+15553330000", markdownReply},
		{"none", "whatsapp:+15553330001", markdownReply},
		{"plain", "whatsapp:+15553330002", "Total: $12 - see your order (https://example.com/o/1)"},
		{"whatsapp", "+15553330003", "*Total:* $12 - see your order (https://example.com/o/1)"},
		{"auto", "+15553330004", "Total: $12 - see your order (https://example.com/o/1)"},
	}
	for _, tc := range tests {
		t.Run(tc.format+" "+tc.from, func(t *testing.T) {
			f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"`+strings.ReplaceAll(markdownReply, `"`, `\"`)+`"}`, nil)
			f.setStageMetadata(`{"replyFormat":"` + tc.format + `"}`)
			f.inbound(tc.from, "hi")
			if got := f.waitReplies(tc.from, 1); got[0] != tc.want {
				t.Fatalf("reply %q, want %q", got[0], tc.want)
			}
		})
	}
}

// TestReplyFormatOpeningAndMediaReply: the opening message of a
// generate_response stage and the reply to a media-only message are
// formatted too.
func TestReplyFormatOpeningAndMediaReply(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"rules":[{"match":"^$","reply":"# Welcome\n\nAsk me **anything**."}],"defaultReply":"R"}`, nil)
	f.stage.EnterBehavior = store.EnterGenerateResponse
	f.setStageMetadata(`{"mediaReply":"Please send *text*, not photos."}`)
	f.inbound("+15554440000", "", "https://api.twilio.com/media/1.jpg")
	got := f.waitReplies("+15554440000", 2)
	if got[0] != "Welcome\n\nAsk me anything." || got[1] != "Please send text, not photos." {
		t.Fatalf("replies %q", got)
	}
	f.inbound("whatsapp:+15554440001", "", "https://api.twilio.com/media/2.jpg")
	got = f.waitReplies("whatsapp:+15554440001", 2)
	if got[0] != "*Welcome*\n\nAsk me *anything*." || got[1] != "Please send _text_, not photos." {
		t.Fatalf("WhatsApp replies %q", got)
	}
	if texts := f.assistantTexts("+15554440000"); strings.Join(texts, "|") != "Welcome\n\nAsk me anything.|Please send text, not photos." {
		t.Fatalf("stored assistant texts %q", texts)
	}
}

// TestReplyFormatErrorReply: the reply sent when the LLM fails is
// formatted as configured.
func TestReplyFormatErrorReply(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest) // never retried
		fmt.Fprint(w, `{"error":{"message":"boom"}}`)
	}))
	defer srv.Close()
	f := newFixture(t, time.Minute, store.APITypeOpenAILegacy, `{"apiKey":"k","baseUrl":"`+srv.URL+`"}`, func(o *Options) {
		o.LLMErrorReply = "**Sorry**, please try again."
	})
	f.inbound("+15556660000", "hi")
	if got := f.waitReplies("+15556660000", 1); got[0] != "Sorry, please try again." {
		t.Fatalf("SMS error reply %q", got[0])
	}
	f.inbound("whatsapp:+15556660001", "hi")
	if got := f.waitReplies("whatsapp:+15556660001", 1); got[0] != "*Sorry*, please try again." {
		t.Fatalf("WhatsApp error reply %q", got[0])
	}
}

// TestReplyFormatInvalidStoredValue: a stage holding a value the API would
// refuse (stored before validation) is answered in the auto format rather
// than not at all.
func TestReplyFormatInvalidStoredValue(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"**ok**"}`, nil)
	f.setStageMetadata(`{"replyFormat":"markdown"}`)
	f.inbound("+15557770001", "hi")
	if got := f.waitReplies("+15557770001", 1); got[0] != "ok" {
		t.Fatalf("reply %q, want the auto (plain) format", got[0])
	}
}
