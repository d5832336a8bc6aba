package test

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"

	"github.com/creack/pty"
)

// phoneTerm is `switchboard phone` running in a pseudo-terminal.
type phoneTerm struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	screen *testutil.SyncBuffer
	exited chan struct{}
}

func startPhoneTerm(t *testing.T, args ...string) *phoneTerm {
	t.Helper()
	p := &phoneTerm{t: t, screen: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"phone"}, args...)...)
	p.cmd.Env = append(os.Environ(), "TERM=dumb")
	tty, err := pty.StartWithSize(p.cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	p.tty = tty
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(p.screen, tty) // ends with EIO when the phone exits
	}()
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		tty.Close()
		<-read
		if t.Failed() {
			t.Logf("phone screen:\n%s", p.screen.String())
		}
	})
	return p
}

// waitScreen waits until the screen shows want (n times at least).
func (p *phoneTerm) waitScreen(want string, n int) {
	p.t.Helper()
	testutil.CheckFor(p.t, 30*time.Second, func() error {
		if got := strings.Count(p.screen.String(), want); got < n {
			return fmt.Errorf("screen shows %q %d times, want %d", want, got, n)
		}
		return nil
	})
}

// typeLine types a line and presses Enter.
func (p *phoneTerm) typeLine(s string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(s + "\r")); err != nil {
		p.t.Fatal(err)
	}
}

func TestPhoneInteractiveInTerminal(t *testing.T) {
	phoneAddr := freeAddr(t)
	s, _ := startDemo(t, "", phoneAddr)
	p := startPhoneTerm(t, "--server", s.URL, "--listen", phoneAddr)

	p.waitScreen("+15551230000> ", 1)
	p.typeLine("hello")
	p.waitScreen("[+15005550006 -> +15551230000] Hello from Switchboard!", 1)
	p.waitScreen("status: delivered", 1)

	p.typeLine("how are you")
	p.waitScreen(`[+15005550006 -> +15551230000] Message 2: you said "how are you"`, 1)

	p.typeLine("about")
	p.waitScreen("its rules live in", 1)
	p.typeLine("help") // a carrier keyword: Twilio answers it, not the stage
	p.waitScreen("Reply STOP to unsubscribe. Msg&Data Rates May Apply.  (Twilio's automatic answer)", 1)

	// A second handset, then WhatsApp: each is its own conversation.
	p.typeLine("/from +15550004444")
	p.waitScreen("you are now +15550004444", 1)
	p.typeLine("first")
	p.waitScreen(`[+15005550006 -> +15550004444] Message 1: you said "first"`, 1)
	p.typeLine("/whatsapp on")
	p.waitScreen("you are now whatsapp:+15550004444", 1)
	p.typeLine("on whatsapp")
	p.waitScreen(`[whatsapp:+15005550006 -> whatsapp:+15550004444] Message 1: you said "on whatsapp"`, 1)

	p.typeLine("/quit")
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the phone did not exit after /quit")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestPhoneInteractiveThroughPipes(t *testing.T) {
	phoneAddr := freeAddr(t)
	s, _ := startDemo(t, "", phoneAddr)
	cmd := exec.Command(binary, "phone", "--server", s.URL, "--listen", phoneAddr, "--from", "+15550006666")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	testutil.CheckFor(t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), "You are +15550006666") {
			return fmt.Errorf("no banner yet: %q", out.String())
		}
		return nil
	})
	fmt.Fprintln(stdin, "hi")
	testutil.CheckFor(t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), "[+15005550006 -> +15550006666] Hello from Switchboard!") {
			return fmt.Errorf("no reply yet: %q", out.String())
		}
		return nil
	})
	if strings.Contains(out.String(), "+15550006666> ") || strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("prompt or escape codes written to a pipe: %q", out.String())
	}
	stdin.Close() // end of input quits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("phone after end of input: %v\n%s", err, out.String())
	}
}

// TestPhoneReceivesStartedConversation: a conversation started from the
// API (POST /api/twilio/messaging/send with the demo's key) reaches the
// phone emulator, which shows the opening with its media; the handset's
// answer continues that conversation.
func TestPhoneReceivesStartedConversation(t *testing.T) {
	phoneAddr := freeAddr(t)
	s, demoOut := startDemo(t, "", phoneAddr)
	const handset = "+15550008888"
	cmd := exec.Command(binary, "phone", "--server", s.URL, "--listen", phoneAddr, "--from", handset)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitOut := func(want string) {
		t.Helper()
		testutil.CheckFor(t, 30*time.Second, func() error {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("phone shows no %q yet: %q", want, out.String())
			}
			return nil
		})
	}
	waitOut("You are " + handset)

	q := url.Values{"apiKey": {printed(t, demoOut.String(), "api key value")},
		"channelProviderId": {printed(t, demoOut.String(), "channel provider")}, "stageId": {printed(t, demoOut.String(), "stage")}}
	var a sendAnswer
	code, _, raw := postJSON(t, s.URL+"/api/twilio/messaging/send?"+q.Encode(), map[string]any{
		"to": handset, "text": "Reminder: your appointment is tomorrow at 10:00.", "mediaUrls": []string{"https://example.com/map.png"}}, nil, &a)
	if code != 201 {
		t.Fatalf("send: %d %s", code, raw)
	}
	waitOut("[+15005550006 -> " + handset + "] Reminder: your appointment is tomorrow at 10:00.\n    [media] https://example.com/map.png")

	fmt.Fprintln(stdin, "see you then")
	waitOut(`you said "see you then"`)
	var convs struct {
		Items []struct {
			ID        string `json:"id"`
			Direction string `json:"direction"`
		} `json:"items"`
	}
	token := login(t, s, "demo", "demo-password").want(t, 200).str(t, "accessToken")
	s.mustAPI("GET", "/api/projects/"+printed(t, demoOut.String(), "project")+"/conversations", token, nil, &convs, 200)
	if len(convs.Items) != 1 || convs.Items[0].ID != a.ConversationID || convs.Items[0].Direction != "outgoing" {
		t.Fatalf("conversations %+v, want only the started %s", convs.Items, a.ConversationID)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("phone after end of input: %v\n%s", err, out.String())
	}
}
