package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// Conversations started from the API with WhatsApp Content templates and
// media, against the binary and the simulated Twilio with WhatsApp's
// 24-hour window enforced.

const (
	stageTemplateSID   = "HX00000000000000000000000000000001"
	requestTemplateSID = "HX00000000000000000000000000000002"
)

// setStageMetadata sets the line's stage's metadata (the stage is at
// version 1, as setupLine leaves it).
func (l *line) setStageMetadata(t *testing.T, md map[string]any) {
	t.Helper()
	l.srv.mustAPI("PUT", "/api/projects/"+l.ProjectID+"/stages/"+l.StageID, l.token,
		map[string]any{"version": 1, "metadata": md}, nil, 200)
}

// TestStartWhatsAppTemplate: outside the window (the recipients never
// wrote), a start without text opens with the stage's
// metadata.whatsappTemplate, which the simulated Twilio accepts and
// renders; the outbox part carries the template and a body describing it;
// no LLM call is made (the scripted LLM's first answer is the reply). The
// recipient's answer continues the conversation. A start naming its own
// template sends that one instead of the stage's.
func TestStartWhatsAppTemplate(t *testing.T) {
	sim := newSim(t, twiliosim.Options{WhatsAppWindow: true})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{number: "whatsapp:+15550004000"})
	sim.AddContent(l.AccountSID, stageTemplateSID, "Hi {{1}}, your appointment is tomorrow. Reply to talk to us.")
	sim.AddContent(l.AccountSID, requestTemplateSID, "Hello {{1}}, your order {{2}} has shipped.")
	l.setStageMetadata(t, map[string]any{"whatsappTemplate": map[string]any{
		"contentSid": stageTemplateSID, "contentVariables": map[string]string{"1": "Ada"}}})

	const user = "whatsapp:+447700900400"
	a := l.mustSend(t, map[string]any{"to": user}, "")
	got := l.waitReplies(t, user, 1, 15*time.Second)
	m := sim.MessagesTo(user)[0]
	if m.ContentSID != stageTemplateSID || m.ContentVariables != `{"1":"Ada"}` || got[0] != "Hi Ada, your appointment is tomorrow. Reply to talk to us." {
		t.Fatalf("opening sent as %+v", m)
	}
	if f := sim.Failures(); len(f) != 0 {
		t.Fatalf("Twilio refused %+v", f)
	}
	var rows []outboundRow
	testutil.CheckFor(t, 10*time.Second, func() error {
		rows = l.outbound(t, a.ConversationID)
		if len(rows) != 1 || rows[0].State != "sent" {
			return fmt.Errorf("rows %+v", rows)
		}
		return nil
	})
	if want := "[template " + stageTemplateSID + ` variables {"1":"Ada"}]`; rows[0].Body != want {
		t.Fatalf("part body %q, want %q", rows[0].Body, want)
	}

	// The answer opens the window and continues the conversation.
	l.mustText(t, user, "can I move it?")
	got = l.waitReplies(t, user, 2, 15*time.Second)
	if !strings.HasSuffix(got[1], ": can I move it?") {
		t.Fatalf("reply %q", got[1])
	}
	if cs := l.conversations(t); len(cs) != 1 || cs[0].ID != a.ConversationID {
		t.Fatalf("conversations %+v, want only %s", cs, a.ConversationID)
	}
	if c := l.conversation(t, a.ConversationID); c.Direction != "outgoing" || c.Status != "awaiting_user_input" {
		t.Fatalf("conversation %+v", c)
	}

	// The request's template wins over the stage's.
	const other = "whatsapp:+447700900401"
	l.mustSend(t, map[string]any{"to": other, "contentSid": requestTemplateSID,
		"contentVariables": map[string]string{"1": "Bo", "2": "A-17"}}, "")
	got = l.waitReplies(t, other, 1, 15*time.Second)
	if m := sim.MessagesTo(other)[0]; m.ContentSID != requestTemplateSID || got[0] != "Hello Bo, your order A-17 has shipped." {
		t.Fatalf("opening sent as %+v", m)
	}
}

// TestStartWhatsAppFreeFormOutsideWindow: a start with a text (free-form)
// to a WhatsApp recipient who never wrote is refused by Twilio with 63016:
// the start is started, its part failed after one attempt with the clear
// reason, and nothing is retried.
func TestStartWhatsAppFreeFormOutsideWindow(t *testing.T) {
	sim := newSim(t, twiliosim.Options{WhatsAppWindow: true})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{number: "whatsapp:+15550005000"})
	l.setStageMetadata(t, map[string]any{"whatsappTemplate": map[string]any{"contentSid": stageTemplateSID}})
	const user = "whatsapp:+447700900500"
	// A given text asks for a free-form opening: the stage's template is
	// not used.
	a := l.mustSend(t, map[string]any{"to": user, "text": "Hello! Are you still interested?"}, "")
	var row outboundRow
	testutil.CheckFor(t, 15*time.Second, func() error {
		// The conversation appears with the start's turn, a moment after
		// the send was accepted: until then its messages are a 404.
		var page struct {
			Items []outboundRow `json:"items"`
		}
		if code := l.srv.api("GET", "/api/projects/"+l.ProjectID+"/conversations/"+a.ConversationID+"/messages?limit=1000&orderBy=id", l.token, nil, &page); code != 200 {
			return fmt.Errorf("messages: %d", code)
		}
		rows := page.Items
		if len(rows) != 1 || rows[0].State != "failed" {
			return fmt.Errorf("rows %+v", rows)
		}
		row = rows[0]
		return nil
	})
	if row.ErrorCode != 63016 || row.Attempts != 1 || !strings.Contains(row.ErrorMessage, "24-hour window is closed") {
		t.Fatalf("failed part %+v", row)
	}
	if f := sim.Failures(); len(f) != 1 || f[0].Code != 63016 {
		t.Fatalf("Twilio saw %+v, want one refused send", f)
	}
	if len(sim.MessagesTo(user)) != 0 {
		t.Fatal("a free-form message went out of the window")
	}
}

// TestStartWithMedia: a start's mediaUrls arrive as MediaUrl on the
// opening's first part, ahead of the images of its text, which leave the
// text as they do in a reply; the part shows them.
func TestStartWithMedia(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	const to = "+15552230001"
	a := l.mustSend(t, map[string]any{"to": to, "text": "Your **ticket**:\n\n![map](https://example.com/map.png)",
		"mediaUrls": []string{"https://example.com/ticket.pdf"}}, "")
	l.waitReplies(t, to, 1, 15*time.Second)
	m := sim.MessagesTo(to)[0]
	want := []string{"https://example.com/ticket.pdf", "https://example.com/map.png"}
	if !slices.Equal(m.MediaURLs, want) || m.Body != "Your ticket:" {
		t.Fatalf("opening sent as body %q media %q", m.Body, m.MediaURLs)
	}
	if rows := l.outbound(t, a.ConversationID); len(rows) != 1 || !slices.Equal(rows[0].MediaURLs, want) {
		t.Fatalf("parts %+v", rows)
	}

	// With a generated opening, the media ride it too.
	const to2 = "+15552230002"
	l.mustSend(t, map[string]any{"to": to2, "mediaUrls": []string{"https://example.com/a.jpg"}}, "")
	l.waitReplies(t, to2, 1, 15*time.Second)
	if m := sim.MessagesTo(to2)[0]; !strings.HasPrefix(m.Body, "R0") || !slices.Equal(m.MediaURLs, []string{"https://example.com/a.jpg"}) {
		t.Fatalf("generated opening sent as %+v", m)
	}
}
