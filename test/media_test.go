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

// TestReplyImageArrivesAsMedia: through the real binary, an image in the
// LLM's Markdown answer reaches the recipient as MediaUrl on the message,
// out of its text, and the messages API shows it on the part.
func TestReplyImageArrivesAsMedia(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{
		"defaultReply": "Here is the **map**:\n\n![Map](https://example.com/map.png)\n\nSee you soon!"}})
	l.mustText(t, "+15552200001", "where are you?")
	l.waitReplies(t, "+15552200001", 1, 15*time.Second)
	m := sim.MessagesTo("+15552200001")[0]
	if !slices.Equal(m.MediaURLs, []string{"https://example.com/map.png"}) {
		t.Fatalf("media %q", m.MediaURLs)
	}
	if m.Body != "Here is the map:\n\nSee you soon!" {
		t.Fatalf("body %q", m.Body)
	}
	rows := l.outbound(t, l.onlyConversation(t).ID)
	if len(rows) != 1 || !slices.Equal(rows[0].MediaURLs, m.MediaURLs) {
		t.Fatalf("outbound rows %+v", rows)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if v := scrape(t, s.MetricsURL)[`switchboard_outbound_sends_by_kind_total{kind="media",result="sent"}`]; v != 1 {
			return fmt.Errorf("media sends counted %v", v)
		}
		return nil
	})
}

// TestWhatsAppOutsideWindowFailsWith63016: a free-form WhatsApp reply to
// someone whose last message (by the simulated Twilio's records) is 25
// hours old is refused with 63016; the part is failed after one attempt
// with a reason that says the window is closed and a template is needed,
// and so is its delivery event. The same user inside the window is
// answered.
func TestWhatsAppOutsideWindowFailsWith63016(t *testing.T) {
	sim := newSim(t, twiliosim.Options{WhatsAppWindow: true})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{number: "whatsapp:+15550002000"})
	const user = "whatsapp:+447700900200"
	// The webhook is posted without opening the window: Twilio's record
	// says the user last wrote 25 hours ago (a message delivered late).
	sim.RecordInboundAt(user, l.Number, time.Now().Add(-25*time.Hour))
	if code, body := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, user, l.Number, "hello?", twiliosim.NewMessageSID()), nil); code != 200 {
		t.Fatalf("webhook %d %s", code, body)
	}
	conv := l.onlyConversation(t)
	var row outboundRow
	testutil.CheckFor(t, 15*time.Second, func() error {
		rows := l.outbound(t, conv.ID)
		if len(rows) != 1 || rows[0].State != "failed" {
			return fmt.Errorf("rows %+v", rows)
		}
		row = rows[0]
		return nil
	})
	if row.ErrorCode != 63016 || row.Attempts != 1 || !strings.Contains(row.ErrorMessage, "24-hour window is closed") ||
		!strings.Contains(row.ErrorMessage, "Content template") {
		t.Fatalf("failed part %+v", row)
	}
	fails := sim.Failures()
	if len(fails) != 1 || fails[0].Code != 63016 {
		t.Fatalf("Twilio saw %+v, want one refused send (no retry)", fails)
	}
	var delivery string
	for _, ev := range l.events(t, conv.ID) {
		if ev.EventType == "delivery" {
			delivery = string(ev.EventData)
		}
	}
	if !strings.Contains(delivery, `"errorCode":63016`) || !strings.Contains(delivery, "24-hour window is closed") {
		t.Fatalf("delivery event %s", delivery)
	}
	if len(sim.MessagesTo(user)) != 0 {
		t.Fatal("a free-form message went out of the window")
	}

	// Texting opens the window: the next reply goes through.
	l.mustText(t, user, "hello again")
	l.waitReplies(t, user, 1, 15*time.Second)
}

// TestWhatsAppWindowClosedByCallback: Twilio usually accepts a free-form
// WhatsApp message outside the window and then reports it failed with
// 63016 in the status callback. The part is then sent once (not retried),
// its delivery status is failed with 63016, and the messages API explains
// the code.
func TestWhatsAppWindowClosedByCallback(t *testing.T) {
	sim := newSim(t, twiliosim.Options{WhatsAppWindow: true, WhatsAppWindowAsync: true, Callbacks: true})
	s := startServer(t, "", fastRetries())
	l := setupLine(t, s, sim, lineOptions{number: "whatsapp:+15550003000"})
	const user = "whatsapp:+447700900300"
	if code, body := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, user, l.Number, "hello?", twiliosim.NewMessageSID()), nil); code != 200 {
		t.Fatalf("webhook %d %s", code, body)
	}
	conv := l.onlyConversation(t)
	var row outboundRow
	testutil.CheckFor(t, 15*time.Second, func() error {
		rows := l.outbound(t, conv.ID)
		if len(rows) != 1 || rows[0].DeliveryStatus != "failed" {
			return fmt.Errorf("rows %+v", rows)
		}
		row = rows[0]
		return nil
	})
	if row.ErrorCode != 63016 || row.Attempts != 1 || !strings.Contains(row.ErrorMessage, "24-hour window is closed") {
		t.Fatalf("part %+v", row)
	}
	if n := len(sim.MessagesTo(user)); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
}
