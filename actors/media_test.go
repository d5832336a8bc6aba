package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// TestReplyMediaOnFirstPart: the Markdown images of a reply are sent as
// media on its first part and taken out of its text; the outbox row and
// the assistant event keep them.
func TestReplyMediaOnFirstPart(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"{{.Text}}"}`, func(o *Options) {
		o.Split = func(s string) []string { return twilio.Split(s, 1600) }
	})
	long := strings.Repeat("word ", 400) // two parts
	f.text("+15553330000", "Here is the map ![Map](https://example.com/map.png)\n\n"+long)
	var sent []OutMessage
	testutil.CheckFor(t, 5*time.Second, func() error {
		sent = nil
		f.sender.mu.Lock()
		for _, m := range f.sender.sent {
			if m.To == "+15553330000" {
				sent = append(sent, m)
			}
		}
		f.sender.mu.Unlock()
		if len(sent) != 2 {
			return fmt.Errorf("%d parts sent", len(sent))
		}
		return nil
	})
	if !slices.Equal(sent[0].MediaURLs, []string{"https://example.com/map.png"}) || sent[1].MediaURLs != nil {
		t.Fatalf("media %q / %q, want the image on part 1 only", sent[0].MediaURLs, sent[1].MediaURLs)
	}
	if strings.Contains(sent[0].Body, "![") || strings.Contains(sent[0].Body, "map.png") || !strings.HasPrefix(sent[0].Body, "Here is the map") {
		t.Fatalf("body %q still has the image", sent[0].Body)
	}
	conv := f.conversations()[0]
	rows, _, err := f.st.ListOutbound(t.Context(), conv.ID, store.ListOptions{OrderBy: []store.Order{{Field: "id"}}})
	must(t, err)
	if len(rows) != 2 || len(rows[0].MediaURLs) != 1 || rows[1].MediaURLs != nil {
		t.Fatalf("outbox rows %+v", rows)
	}
	var found bool
	for _, ev := range f.events(conv.ID) {
		var d store.MessageData
		if ev.EventType == store.EventMessage && json.Unmarshal(ev.EventData, &d) == nil && d.Role == "assistant" {
			found = slices.Equal(d.MediaURL, []string{"https://example.com/map.png"})
		}
	}
	if !found {
		t.Fatal("the assistant event does not record the media")
	}
}

// TestMediaOnlyReply: a reply that is only an image is one part without
// a body.
func TestMediaOnlyReply(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"![x](https://example.com/x.png)"}`, nil)
	f.text("+15553330001", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		f.sender.mu.Lock()
		defer f.sender.mu.Unlock()
		if len(f.sender.sent) != 1 {
			return fmt.Errorf("%d sent", len(f.sender.sent))
		}
		if m := f.sender.sent[0]; m.Body != "" || len(m.MediaURLs) != 1 {
			t.Fatalf("sent %+v", m)
		}
		return nil
	})
}

func TestWhatsAppTemplateHook(t *testing.T) {
	md := json.RawMessage(`{"whatsappTemplate":{"contentSid":"HX0123456789abcdef0123456789abcdef","contentVariables":{"1":"Ada"}}}`)
	st := &store.Stage{Metadata: md}
	if tp := WhatsAppTemplate(st, "whatsapp:+15551234567"); tp == nil || tp.ContentSID != "HX0123456789abcdef0123456789abcdef" || tp.ContentVariables != `{"1":"Ada"}` {
		t.Fatalf("whatsapp: %+v", tp)
	}
	for _, c := range []struct {
		st *store.Stage
		to string
	}{
		{st, "+15551234567"},                      // SMS
		{&store.Stage{}, "whatsapp:+15551234567"}, // no template
		{&store.Stage{Metadata: json.RawMessage(`{"whatsappTemplate":{"contentSid":"bad"}}`)}, "whatsapp:+15551234567"},
		{nil, "whatsapp:+15551234567"},
	} {
		if tp := WhatsAppTemplate(c.st, c.to); tp != nil {
			t.Fatalf("%+v to %s: %+v, want none", c.st, c.to, tp)
		}
	}
}

// TestReplyMediaOff: a stage with metadata.replyMedia false keeps a
// reply's images in the text (as their URL on SMS).
func TestReplyMediaOff(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"Map: ![m](https://example.com/m.png)"}`, nil)
	f.stage.Metadata = json.RawMessage(`{"replyMedia":false}`)
	must(t, f.st.UpdateStage(t.Context(), f.stage, f.stage.Version))
	f.text("+15553330002", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		f.sender.mu.Lock()
		defer f.sender.mu.Unlock()
		if len(f.sender.sent) != 1 {
			return fmt.Errorf("%d sent", len(f.sender.sent))
		}
		if m := f.sender.sent[0]; m.MediaURLs != nil || !strings.Contains(m.Body, "https://example.com/m.png") {
			t.Fatalf("sent %+v", m)
		}
		return nil
	})
}

// countingFinder is a Sender and Finder that counts lookups and always
// finds the message.
type countingFinder struct {
	fakeSender
	lookups atomic.Int64
}

func (c *countingFinder) FindSent(ctx context.Context, cfg providers.TwilioConfig, m OutMessage, since time.Time) (string, bool, error) {
	c.lookups.Add(1)
	return "SMfound", true, nil
}

// TestTemplateSendIsNotLookedUp: a template part cannot be found at
// Twilio by its body, so crash recovery and an unknown outcome do not ask
// (a text part is asked).
func TestTemplateSendIsNotLookedUp(t *testing.T) {
	cf := &countingFinder{}
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"x"}`, func(o *Options) { o.Sender = cf })
	tmpl := &store.OutboundMessage{From: ourNumber, To: "whatsapp:+15551234567", Body: "opening",
		ContentSID: "HX0123456789abcdef0123456789abcdef", CreatedAt: time.Now()}
	if _, found := f.eng.findSent(t.Context(), cf, providers.TwilioConfig{}, tmpl); found || cf.lookups.Load() != 0 {
		t.Fatalf("template looked up: found %v, %d lookups", found, cf.lookups.Load())
	}
	if _, found, asked := f.eng.settleUnknown(t.Context(), providers.TwilioConfig{}, tmpl, time.Now()); found || asked || cf.lookups.Load() != 0 {
		t.Fatalf("template settled by lookup: %v %v", found, asked)
	}
	text := *tmpl
	text.ContentSID = ""
	if sid, found := f.eng.findSent(t.Context(), cf, providers.TwilioConfig{}, &text); !found || sid != "SMfound" || cf.lookups.Load() != 1 {
		t.Fatalf("text part not looked up: %v %q", found, sid)
	}
}
