package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/test/twiliosim"
)

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPhoneOptionsCheck(t *testing.T) {
	ok := phoneOptions{From: "+15551230000", Timeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*phoneOptions)
		want string // "" = valid
	}{
		{"defaults", func(*phoneOptions) {}, ""},
		{"webhook without token", func(o *phoneOptions) { o.Webhook = "http://h/x" }, "go together"},
		{"token without webhook", func(o *phoneOptions) { o.AuthToken = "t" }, "go together"},
		{"webhook not http", func(o *phoneOptions) { o.Webhook, o.AuthToken = "ftp://h/x", "t" }, "http(s) URL"},
		{"webhook and token", func(o *phoneOptions) { o.Webhook, o.AuthToken = "https://h/x?a=b", "t" }, ""},
		{"bad from", func(o *phoneOptions) { o.From = "12345" }, "--from"},
		{"whatsapp from", func(o *phoneOptions) { o.From = "whatsapp:+15551230000" }, ""},
		{"wait without send", func(o *phoneOptions) { o.Wait = true }, "--wait needs --send"},
		{"zero timeout", func(o *phoneOptions) { o.Timeout = 0 }, "--timeout"},
	} {
		o := ok
		tc.edit(&o)
		err := o.check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPhoneUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--wait"}, {"--from", "abc"}} {
		var out, errb bytes.Buffer
		if code := phone(args, strings.NewReader(""), &out, &errb); code != 2 {
			t.Errorf("phone %q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestPhoneCommands(t *testing.T) {
	var out bytes.Buffer
	p := newPhone(phoneOptions{From: "+15551230000"}, &phoneLine{Number: "+15005550006", AccountSID: demoAccountSID, AuthToken: demoAuthToken},
		http.DefaultClient, &out)
	t.Cleanup(p.sim.Close)
	steps := []struct {
		in       string
		quit     bool
		from, to string
		says     string
	}{
		{"/from +15550001111", false, "+15550001111", "+15005550006", "you are now +15550001111"},
		{"/whatsapp on", false, "whatsapp:+15550001111", "whatsapp:+15005550006", "you are now whatsapp:+15550001111"},
		{"/whatsapp off", false, "+15550001111", "+15005550006", "you are now +15550001111"},
		{"/from nope", false, "+15550001111", "+15005550006", "not a phone number"},
		{"/from whatsapp:+15550002222", false, "whatsapp:+15550002222", "whatsapp:+15005550006", "you are now whatsapp:+15550002222"},
		{"/whatsapp maybe", false, "whatsapp:+15550002222", "whatsapp:+15005550006", "usage: /whatsapp on|off"},
		{"/help", false, "whatsapp:+15550002222", "whatsapp:+15005550006", "/quit"},
		{"/dance", false, "whatsapp:+15550002222", "whatsapp:+15005550006", "unknown command /dance"},
		{"/quit", true, "whatsapp:+15550002222", "whatsapp:+15005550006", ""},
	}
	for _, s := range steps {
		out.Reset()
		if quit := p.command(s.in); quit != s.quit {
			t.Errorf("%s: quit %v", s.in, quit)
		}
		from, to := p.handset()
		if from != s.from || to != s.to {
			t.Errorf("%s: handset %s -> %s, want %s -> %s", s.in, from, to, s.from, s.to)
		}
		if !strings.Contains(out.String(), s.says) {
			t.Errorf("%s: printed %q, want %q", s.in, out.String(), s.says)
		}
	}
}

func TestShortSID(t *testing.T) {
	if got := shortSID("SM0123456789abcdef0123456789abcdef"); got != "SM012345…cdef" {
		t.Errorf("shortSID = %q", got)
	}
	if got := shortSID("SM1"); got != "SM1" {
		t.Errorf("shortSID = %q", got)
	}
}

func TestCarrierReply(t *testing.T) {
	for _, tc := range []struct {
		text     string
		whatsApp bool
		want     string
	}{
		{"STOP", false, twilioStopReply},
		{" stop ", false, twilioStopReply},
		{"Unsubscribe", false, twilioStopReply},
		{"start", false, twilioStartReply},
		{"help", false, twilioHelpReply},
		{"help me", false, ""},
		{"STOP", true, ""},
		{"hello", false, ""},
	} {
		if got := carrierReply(tc.text, tc.whatsApp); got != tc.want {
			t.Errorf("carrierReply(%q, %v) = %q, want %q", tc.text, tc.whatsApp, got, tc.want)
		}
	}
}

func TestPhoneHelp(t *testing.T) {
	var b bytes.Buffer
	phoneHelp(&b)
	for _, want := range []string{"Usage: switchboard phone", "-send", "-whatsapp", "/quit", "-listen"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPhoneShowsMediaAndTemplates: the phone shows a message's media URLs
// and a template send's sid and variables, not only its body.
func TestPhoneShowsMediaAndTemplates(t *testing.T) {
	cases := []struct {
		m    twiliosim.Message
		want string
	}{
		{twiliosim.Message{Body: "hi\nthere"}, "hi\n  there"},
		{twiliosim.Message{}, ""},
		{twiliosim.Message{Body: "map", MediaURLs: []string{"https://e.com/a.png", "https://e.com/b.png"}},
			"map\n  [media] https://e.com/a.png\n  [media] https://e.com/b.png"},
		{twiliosim.Message{MediaURLs: []string{"https://e.com/a.png"}}, "[media] https://e.com/a.png"},
		{twiliosim.Message{ContentSID: "HX0123456789abcdef0123456789abcdef", ContentVariables: `{"1":"Ada"}`},
			`[template HX0123456789abcdef0123456789abcdef variables {"1":"Ada"}]`},
		{twiliosim.Message{Body: "Hello Ada", ContentSID: "HX0123456789abcdef0123456789abcdef"},
			"Hello Ada\n  [template HX0123456789abcdef0123456789abcdef]"},
	}
	for _, tc := range cases {
		if got := shown(tc.m, "  "); got != tc.want {
			t.Errorf("shown(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
