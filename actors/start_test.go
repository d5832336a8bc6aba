package actors

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// start stores a start to the recipient and hands it to the engine.
func (f *fixture) start(to, key, text string) *store.Start {
	f.t.Helper()
	s, created, err := f.st.CreateStart(context.Background(), &store.Start{
		ProjectID: f.project.ID, IdempotencyKey: key, ProviderID: f.channel.ID, To: to, From: ourNumber,
		StageID: f.stage.ID, Text: text,
	})
	must(f.t, err)
	if created {
		if _, err := f.eng.Start(s); err != nil {
			f.t.Fatal(err)
		}
	}
	return s
}

func (f *fixture) waitStart(id, state string) *store.Start {
	f.t.Helper()
	var s *store.Start
	testutil.CheckFor(f.t, 5*time.Second, func() error {
		var err error
		if s, err = f.st.GetStart(context.Background(), id); err != nil {
			return err
		}
		if s.State != state {
			return fmt.Errorf("start %s, want %s", s.State, state)
		}
		return nil
	})
	return s
}

// TestStartOpensAndContinues: a start's opening (the stage's LLM) goes to
// the recipient from our number, the conversation is outgoing, and the
// recipient's text continues it; handing the same start over again sends
// nothing.
func TestStartOpensAndContinues(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
	s := f.start("+15551110000", "k", "")
	f.waitStart(s.ID, store.StartStarted)
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110000"); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	c, err := f.st.GetConversation(context.Background(), f.project.ID, s.ConversationID)
	must(t, err)
	if c.Direction != store.DirectionOutgoing || c.UserID != "+15551110000" || c.ChannelAddress != ourNumber {
		t.Fatalf("conversation %+v", c)
	}
	f.text("+15551110000", "yes")
	testutil.CheckFor(t, 5*time.Second, func() error {
		got := f.sender.to("+15551110000")
		if len(got) != 2 {
			return fmt.Errorf("sent %q", got)
		}
		if got[1] != "R1: yes" {
			t.Fatalf("reply %q", got[1])
		}
		return nil
	})
	if cs := f.conversations(); len(cs) != 1 {
		t.Fatalf("%d conversations, want the started one only", len(cs))
	}
	// The same start again (a replayed request, a restart): nothing more.
	done, err := f.eng.Start(s)
	must(t, err)
	<-done
	f.text("+15551110000", "more") // a later turn of the same session
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110000"); len(got) != 3 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
}

// TestStartRefusedWhenOptedOut: a STOP that arrives before the start's turn
// wins: nothing is sent and the start records why.
func TestStartRefusedWhenOptedOut(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	f.text("+15551110001", "STOP")
	testutil.CheckFor(t, 5*time.Second, func() error {
		out, err := f.st.IsOptedOut(context.Background(), f.channel.ID, "+15551110001")
		if err != nil || !out {
			return fmt.Errorf("not opted out yet (%v)", err)
		}
		return nil
	})
	s := f.start("+15551110001", "k", "Hello")
	got := f.waitStart(s.ID, store.StartOptedOut)
	if got.Error == "" {
		t.Fatal("no reason recorded")
	}
	if _, err := f.st.GetConversation(context.Background(), f.project.ID, s.ConversationID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("conversation of a refused start: %v", err)
	}
	if n := f.sender.count(); n != 0 {
		t.Fatalf("%d sends", n)
	}
}

// TestStartSupersedes: a start to a recipient in a conversation ends it
// (superseded) and opens its own; the recipient's next text continues the
// new one.
func TestStartSupersedes(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, nil)
	f.text("+15551110002", "hi")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110002"); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	old := f.conversations()[0]
	s := f.start("+15551110002", "k", "A follow-up")
	f.waitStart(s.ID, store.StartStarted)
	f.text("+15551110002", "thanks")
	testutil.CheckFor(t, 5*time.Second, func() error {
		got := f.sender.to("+15551110002")
		if len(got) != 3 {
			return fmt.Errorf("sent %q", got)
		}
		if got[1] != "A follow-up" || got[2] != "R1: thanks" {
			t.Fatalf("sent %q", got)
		}
		return nil
	})
	o, err := f.st.GetConversation(context.Background(), f.project.ID, old.ID)
	must(t, err)
	if o.Status != store.ConversationFinished || string(o.StatusDetails) != `{"reason":"superseded"}` {
		t.Fatalf("the earlier conversation %+v", o)
	}
	n, err := f.st.CountUserMessages(context.Background(), s.ConversationID)
	must(t, err)
	if n != 1 {
		t.Fatalf("%d user messages in the started conversation, want 1", n)
	}
}

// TestStartLostCommitAcknowledgement: an opening turn whose commit went
// through but was reported failed is found (its conversation's turn row)
// and neither written nor sent twice.
func TestStartLostCommitAcknowledgement(t *testing.T) {
	var lost atomic.Bool
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"ok"}`, func(o *Options) {
		o.Store = &lostAckStore{DB: o.Store.(*sqlite.DB), lose: func(t *store.Turn) bool {
			return t.NewConversation != nil && t.NewConversation.Direction == store.DirectionOutgoing && lost.CompareAndSwap(false, true)
		}}
	})
	s := f.start("+15551110003", "k", "Hello once")
	f.waitStart(s.ID, store.StartStarted)
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110003"); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, f.eng.Close(ctx))
	if !lost.Load() {
		t.Fatal("the lost acknowledgement was not injected")
	}
	if got := f.sender.to("+15551110003"); len(got) != 1 {
		t.Fatalf("sent %q, want once", got)
	}
	var msgs int
	for _, e := range f.events(s.ConversationID) {
		if e.EventType == store.EventMessage {
			msgs++
		}
	}
	if msgs != 1 {
		t.Fatalf("%d messages stored, want 1 (the turn written once)", msgs)
	}
}

// TestStartRecovered: a start stored but never run (the process died
// before handing it over) runs at the next Recover, once.
func TestStartRecovered(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"ok"}`, nil)
	s, _, err := f.st.CreateStart(context.Background(), &store.Start{ProjectID: f.project.ID, IdempotencyKey: "k",
		ProviderID: f.channel.ID, To: "+15551110004", From: ourNumber, StageID: f.stage.ID, Text: "Recovered"})
	must(t, err)
	_, _, err = f.eng.Recover(context.Background())
	must(t, err)
	f.waitStart(s.ID, store.StartStarted)
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := f.sender.to("+15551110004"); len(got) != 1 || got[0] != "Recovered" {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
}

// TestStartJobPaced: a job's starts all run, in order, no faster than the
// per-number rate.
func TestStartJobPaced(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"ok"}`, func(o *Options) { o.SendRatePerNumber = 1000 })
	var starts []*store.Start
	for i := range 5 {
		starts = append(starts, &store.Start{ProviderID: f.channel.ID, To: fmt.Sprintf("+1555111100%d", i), From: ourNumber, StageID: f.stage.ID, Text: "News"})
	}
	j, _, err := f.st.CreateStartJob(context.Background(), &store.StartJob{ProjectID: f.project.ID, ProviderID: f.channel.ID, IdempotencyKey: "j"}, starts)
	must(t, err)
	f.eng.RunJob(starts)
	testutil.CheckFor(t, 5*time.Second, func() error {
		got, err := f.st.GetStartJob(context.Background(), f.project.ID, j.ID)
		if err != nil {
			return err
		}
		if !got.Done() || got.Counts[store.StartStarted] != 5 {
			return fmt.Errorf("job %v", got.Counts)
		}
		return nil
	})
	for _, s := range starts {
		if got := f.sender.to(s.To); len(got) != 1 {
			t.Fatalf("%s received %q", s.To, got)
		}
	}
}

// TestStartTemplateAndMedia: a start read back from the store keeps its
// template and media. A WhatsApp start naming a template sends it as the
// opening (no LLM text: the body describes the template); a start with
// media sends them on its first part, ahead of its text's images.
func TestStartTemplateAndMedia(t *testing.T) {
	f := newFixture(t, time.Minute, store.APITypeScripted, `{"defaultReply":"from the LLM"}`, nil)
	ctx := context.Background()
	const sid = "HX0123456789abcdef0123456789abcdef"
	tmpl, _, err := f.st.CreateStart(ctx, &store.Start{ProjectID: f.project.ID, IdempotencyKey: "t",
		ProviderID: f.channel.ID, To: "whatsapp:+15551110005", From: ourNumber, StageID: f.stage.ID,
		ContentSID: sid, ContentVariables: `{"1":"Ada"}`})
	must(t, err)
	media, _, err := f.st.CreateStart(ctx, &store.Start{ProjectID: f.project.ID, IdempotencyKey: "m",
		ProviderID: f.channel.ID, To: "+15551110006", From: ourNumber, StageID: f.stage.ID,
		Text: "See ![map](https://example.com/map.png)", MediaURLs: []string{"https://example.com/a.jpg"}})
	must(t, err)
	if got, err := f.st.GetStart(ctx, tmpl.ID); err != nil || got.ContentSID != sid || got.ContentVariables != `{"1":"Ada"}` {
		t.Fatalf("stored start %+v %v", got, err)
	}
	_, _, err = f.eng.Recover(ctx)
	must(t, err)
	f.waitStart(tmpl.ID, store.StartStarted)
	f.waitStart(media.ID, store.StartStarted)
	var tm, mm OutMessage
	testutil.CheckFor(t, 5*time.Second, func() error {
		f.sender.mu.Lock()
		defer f.sender.mu.Unlock()
		for _, m := range f.sender.sent {
			switch m.To {
			case tmpl.To:
				tm = m
			case media.To:
				mm = m
			}
		}
		if tm.To == "" || mm.To == "" {
			return fmt.Errorf("sent %+v", f.sender.sent)
		}
		return nil
	})
	if tm.ContentSID != sid || tm.ContentVariables != `{"1":"Ada"}` || tm.Body != `[template `+sid+` variables {"1":"Ada"}]` {
		t.Fatalf("template opening %+v", tm)
	}
	if mm.Body != "See" || len(mm.MediaURLs) != 2 || mm.MediaURLs[0] != "https://example.com/a.jpg" || mm.MediaURLs[1] != "https://example.com/map.png" {
		t.Fatalf("media opening %+v", mm)
	}
}
