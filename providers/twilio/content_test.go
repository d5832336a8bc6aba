package twilio_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

// wireServer is a fake Twilio that records the form of each Messages.json
// call and answers with Twilio's Message JSON (or the given error).
func wireServer(t *testing.T, status int, answer string) (*httptest.Server, *[]url.Values) {
	t.Helper()
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		forms = append(forms, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv, &forms
}

const okAnswer = `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"1","num_media":"2"}`

func TestSendWireMediaAndContent(t *testing.T) {
	media := []string{"https://example.com/a.png", "https://example.com/b.jpg?x=1&y=2"}
	cases := []struct {
		name string
		msg  twilio.Message
		want url.Values // the form fields checked, besides To/From
		none []string   // fields that must be absent
	}{
		{"media with body", twilio.Message{To: testTo, Body: "look", MediaURLs: media},
			url.Values{"Body": {"look"}, "MediaUrl": media}, []string{"ContentSid", "ContentVariables"}},
		{"media alone", twilio.Message{To: testTo, MediaURLs: media[:1]},
			url.Values{"MediaUrl": media[:1]}, []string{"Body", "ContentSid"}},
		{"template", twilio.Message{To: "whatsapp:" + testTo, From: "whatsapp:" + testFrom, Body: "described", MediaURLs: media,
			ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: `{"1":"Ada"}`},
			url.Values{"ContentSid": {"HX0123456789abcdef0123456789abcdef"}, "ContentVariables": {`{"1":"Ada"}`}},
			[]string{"Body", "MediaUrl"}},
		{"template without variables", twilio.Message{To: testTo, ContentSID: "HX0123456789abcdef0123456789abcdef"},
			url.Values{"ContentSid": {"HX0123456789abcdef0123456789abcdef"}}, []string{"Body", "ContentVariables"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, forms := wireServer(t, http.StatusCreated, okAnswer)
			s := newSender(t, twilio.SenderOptions{})
			if _, err := s.Send(context.Background(), config(srv.URL), tc.msg); err != nil {
				t.Fatal(err)
			}
			if len(*forms) != 1 {
				t.Fatalf("%d calls", len(*forms))
			}
			f := (*forms)[0]
			for k, v := range tc.want {
				if got := f[k]; len(got) != len(v) || (len(v) > 0 && got[0] != v[0]) || (len(v) > 1 && got[1] != v[1]) {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tc.none {
				if f.Has(k) {
					t.Errorf("%s sent: %q", k, f[k])
				}
			}
		})
	}
}

func TestSendRefusesBadMediaAndContent(t *testing.T) {
	srv, forms := wireServer(t, http.StatusCreated, okAnswer)
	s := newSender(t, twilio.SenderOptions{})
	eleven := make([]string, twilio.MaxMedia+1)
	for i := range eleven {
		eleven[i] = "https://example.com/i.png"
	}
	for _, m := range []twilio.Message{
		{To: testTo, Body: "x", MediaURLs: eleven},
		{To: testTo, Body: "x", ContentVariables: `{"1":"a"}`},
	} {
		_, err := s.Send(context.Background(), config(srv.URL), m)
		if se := sendErr(t, err); se.Class != twilio.ClassPermanent {
			t.Fatalf("%+v: class %s", m, se.Class)
		}
	}
	if len(*forms) != 0 {
		t.Fatalf("refused messages reached Twilio: %v", *forms)
	}
}

// TestWindowClosedIsPermanentWithReason: Twilio's 63016 is never retried
// and its reason says what to do.
func TestWindowClosedIsPermanentWithReason(t *testing.T) {
	srv, _ := wireServer(t, http.StatusBadRequest, `{"code":63016,"message":"Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.","status":400}`)
	s := newSender(t, twilio.SenderOptions{})
	_, err := s.Send(context.Background(), config(srv.URL), twilio.Message{To: "whatsapp:" + testTo, From: "whatsapp:" + testFrom, Body: "hi"})
	se := sendErr(t, err)
	if se.Class != twilio.ClassPermanent || se.Code != twilio.CodeWhatsAppWindow {
		t.Fatalf("%+v", se)
	}
	if r := se.Reason(); r[:len(twilio.WindowClosedReason)] != twilio.WindowClosedReason || len(r) <= len(twilio.WindowClosedReason) {
		t.Fatalf("reason %q", r)
	}
	if twilio.Reason(21211, "bad To") != "bad To" {
		t.Fatal("other codes keep Twilio's message")
	}
	if twilio.ClassifyStatus(400, twilio.CodeContentSIDInvalid) != twilio.ClassPermanent {
		t.Fatal("21655 must be permanent")
	}
}

// TestSimWhatsAppWindowAndTemplates: against the simulated Twilio, a
// free-form WhatsApp message to someone who has not written in 24 hours
// fails with 63016 (permanent), one inside the window passes, a template
// passes outside it, and an unknown template is Twilio's 21655.
func TestSimWhatsAppWindowAndTemplates(t *testing.T) {
	sim := startSim(t, twiliosim.Options{WhatsAppWindow: true})
	const contentSID = "HX0123456789abcdef0123456789abcdef"
	sim.AddContent(testSID, contentSID, "Hello {{1}}, your appointment is {{2}}.")
	s := newSender(t, twilio.SenderOptions{})
	from, to := "whatsapp:"+testFrom, "whatsapp:"+testTo
	send := func(m twilio.Message) error {
		m.From, m.To = from, to
		_, err := s.Send(context.Background(), config(sim.URL()), m)
		return err
	}

	err := send(twilio.Message{Body: "free-form"})
	if se := sendErr(t, err); se.Code != twilio.CodeWhatsAppWindow || se.Class != twilio.ClassPermanent {
		t.Fatalf("outside the window: %+v", se)
	}
	sim.RecordInboundAt(to, from, time.Now().Add(-25*time.Hour))
	if se := sendErr(t, send(twilio.Message{Body: "free-form"})); se.Code != twilio.CodeWhatsAppWindow {
		t.Fatalf("25 h after the last message: %+v", se)
	}
	if err := send(twilio.Message{ContentSID: contentSID, ContentVariables: `{"1":"Ada","2":"at 10"}`}); err != nil {
		t.Fatalf("template outside the window: %v", err)
	}
	if se := sendErr(t, send(twilio.Message{ContentSID: "HXffffffffffffffffffffffffffffffff"})); se.Code != twilio.CodeContentSIDInvalid || se.Class != twilio.ClassPermanent {
		t.Fatalf("unknown template: %+v", se)
	}
	sim.RecordInbound(to, from)
	if err := send(twilio.Message{Body: "inside", MediaURLs: []string{"https://example.com/a.png", "https://example.com/b.png"}}); err != nil {
		t.Fatalf("inside the window: %v", err)
	}
	// SMS has no window.
	if _, err := s.Send(context.Background(), config(sim.URL()), twilio.Message{To: "+15557654321", Body: "sms"}); err != nil {
		t.Fatal(err)
	}
	msgs := sim.MessagesTo(to)
	if len(msgs) != 2 {
		t.Fatalf("%d accepted", len(msgs))
	}
	if m := msgs[0]; m.ContentSID != contentSID || m.ContentVariables != `{"1":"Ada","2":"at 10"}` || m.Body != "Hello Ada, your appointment is at 10." {
		t.Fatalf("template message %+v", m)
	}
	if m := msgs[1]; len(m.MediaURLs) != 2 || m.ContentSID != "" {
		t.Fatalf("media message %+v", m)
	}
}
