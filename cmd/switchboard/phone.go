package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

// phoneOptions are the flags of `switchboard phone`.
type phoneOptions struct {
	Server     string
	Listen     string
	Webhook    string
	AuthToken  string
	AccountSID string
	Number     string
	From       string
	WhatsApp   bool
	Send       string
	Wait       bool
	Timeout    time.Duration
	Operator   string
	Password   string
}

const phoneUsage = `Usage: switchboard phone [flags]

A terminal SMS/WhatsApp phone that plays Twilio for one or more simulated
handsets: it signs and posts inbound webhooks as Twilio does, serves
Twilio's REST API on --listen so the server's replies arrive here, and
shows them with their delivery status.

Against a server started with 'switchboard serve --demo' it finds the demo
line by itself (it logs in as the demo operator, finds the demo project,
stage and Twilio provider, and creates an API key of its own, deleted on
exit). For any other line pass --webhook and --auth-token (the provider's
apiBaseUrl must point at this phone's --listen address).

Interactive commands:
  /from +15551230001    text as another handset
  /whatsapp on|off      use whatsapp: addresses
  /help                 list the commands
  /quit                 leave

Scripts: switchboard phone --from +15550001111 --send "hi" --wait
prints the reply (one line per message) and exits 0, or 1 on a timeout or
a webhook answer other than 200.

Flags:
`

// phoneHelp writes the usage of `switchboard phone` to w.
func phoneHelp(w io.Writer) {
	fs, _ := phoneFlags(w)
	fs.Usage()
}

// phoneFlags returns the flag set of `switchboard phone`, writing errors and
// usage to w, and the options it fills.
func phoneFlags(w io.Writer) (*flag.FlagSet, *phoneOptions) {
	var o phoneOptions
	fs := flag.NewFlagSet("switchboard phone", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), phoneUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Server, "server", "http://127.0.0.1:3000", "base URL of the switchboard server")
	fs.StringVar(&o.Listen, "listen", "", "address of the emulated Twilio API (default $PHONE_ADDR, else the demo line's apiBaseUrl, else "+defaultPhoneAddr+")")
	fs.StringVar(&o.Webhook, "webhook", "", "webhook URL of the line (skips demo discovery)")
	fs.StringVar(&o.AuthToken, "auth-token", "", "auth token of the line's Twilio provider (with --webhook)")
	fs.StringVar(&o.AccountSID, "account-sid", demoAccountSID, "account SID of the line's Twilio provider (with --webhook)")
	fs.StringVar(&o.Number, "number", demoNumber, "the line's Twilio number, the provider's fromNumber (with --webhook)")
	fs.StringVar(&o.From, "from", "+15551230000", "the handset's number")
	fs.BoolVar(&o.WhatsApp, "whatsapp", false, "use WhatsApp addresses (whatsapp:+1…)")
	fs.StringVar(&o.Send, "send", "", "send this text and exit (non-interactive)")
	fs.BoolVar(&o.Wait, "wait", false, "with --send: wait for the reply and print it")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "with --send --wait: how long to wait for the reply")
	fs.StringVar(&o.Operator, "operator", demoOperatorID, "operator id for demo discovery")
	fs.StringVar(&o.Password, "password", demoOperatorPassword, "operator password for demo discovery")
	return fs, &o
}

// phone runs `switchboard phone`; it returns the exit code.
func phone(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, o := phoneFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "switchboard phone: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "switchboard phone:", err)
		return 2
	}
	if o.Listen == "" {
		o.Listen = strings.TrimSpace(os.Getenv("PHONE_ADDR"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runPhone(ctx, *o, stdin, stdout, stderr)
}

// check validates the flags that do not need the network.
func (o *phoneOptions) check() error {
	if (o.Webhook == "") != (o.AuthToken == "") {
		return errors.New("--webhook and --auth-token go together")
	}
	if o.Webhook != "" {
		u, err := url.Parse(o.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--webhook must be an http(s) URL, got %q", o.Webhook)
		}
	}
	if _, err := twilio.ParseAddress(o.From); err != nil {
		return fmt.Errorf("--from must be a phone number like +15551230000, got %q", o.From)
	}
	if o.Wait && o.Send == "" {
		return errors.New("--wait needs --send")
	}
	if o.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

// runPhone finds the line, starts the emulated Twilio and runs the chosen
// mode.
func runPhone(ctx context.Context, o phoneOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: 15 * time.Second}
	var line *phoneLine
	if o.Webhook != "" {
		line = &phoneLine{Webhook: o.Webhook, AuthToken: o.AuthToken, AccountSID: o.AccountSID, Number: o.Number,
			Desc: "line " + o.Number + " at " + webhookOrigin(o.Webhook)}
	} else {
		var err error
		if line, err = discoverDemo(ctx, client, o.Server, o.Operator, o.Password); err != nil {
			fmt.Fprintln(stderr, "switchboard phone:", err)
			return 1
		}
	}
	defer line.Close(context.WithoutCancel(ctx))
	if o.Listen == "" {
		o.Listen = defaultPhoneAddr
		if u, err := url.Parse(line.APIBaseURL); err == nil && u.Host != "" {
			o.Listen = u.Host
		}
	}

	p := newPhone(o, line, client, stdout)
	if err := p.sim.Start(o.Listen); err != nil {
		fmt.Fprintf(stderr, "switchboard phone: cannot serve the Twilio API on %s (is another phone running?): %v\n", o.Listen, err)
		return 1
	}
	defer p.sim.Close()
	if line.APIBaseURL != "" && strings.TrimRight(line.APIBaseURL, "/") != p.sim.URL() {
		fmt.Fprintf(stderr, "switchboard phone: warning: the line sends to %s but this phone listens on %s; replies will not arrive here\n", line.APIBaseURL, p.sim.URL())
	}
	if o.Send != "" {
		return p.sendOnce(ctx, o, stderr)
	}
	return p.interactive(ctx, stdin, stderr)
}

// webhookOrigin is scheme://host of a webhook URL, for display (the query
// string carries the API key).
func webhookOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// phoneEmu is a running phone: the emulated Twilio and the handset state.
type phoneEmu struct {
	line   *phoneLine
	client *http.Client
	sim    *twiliosim.Server

	mu       sync.Mutex // guards out, from, whatsApp, tty
	out      io.Writer
	from     string // E.164, without whatsapp:
	whatsApp bool
	tty      bool
}

func newPhone(o phoneOptions, line *phoneLine, client *http.Client, out io.Writer) *phoneEmu {
	// The prefix is matched in any case, as the webhook does.
	from, err := twilio.ParseAddress(o.From)
	if err != nil {
		from = twilio.Address{Channel: twilio.ChannelSMS, Number: o.From}
	}
	p := &phoneEmu{line: line, client: client, out: out, from: from.Number,
		whatsApp: o.WhatsApp || from.IsWhatsApp()}
	// The phone enforces WhatsApp's 24-hour window (its texts open it) and
	// takes any Content template, whose sid and variables it shows.
	p.sim = twiliosim.New(twiliosim.Options{Callbacks: true, WhatsAppWindow: true, AnyContent: true})
	p.sim.AddAccount(line.AccountSID, line.AuthToken)
	return p
}

// address returns number in the current mode's form.
func address(number string, whatsApp bool) string {
	number = strings.TrimPrefix(number, "whatsapp:")
	if whatsApp {
		return "whatsapp:" + number
	}
	return number
}

// handset returns the current sender address and the line's address in the
// same mode.
func (p *phoneEmu) handset() (from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return address(p.from, p.whatsApp), address(p.line.Number, p.whatsApp)
}

// text posts the signed webhook Twilio would post for a text from `from`,
// and returns the webhook's status and body.
func (p *phoneEmu) text(ctx context.Context, from, to, body string) (int, string, error) {
	p.sim.RecordInbound(from, to)
	params := twiliosim.InboundParamsFor(p.line.AccountSID, from, to, body, twiliosim.NewMessageSID())
	req, err := twiliosim.NewSignedRequest(ctx, p.line.Webhook, p.line.AuthToken, params)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("I-Twilio-Idempotency-Token", twiliosim.NewMessageSID())
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("phone: post webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// replySettle is how long --wait keeps listening after a reply for further
// messages (the other parts of a long reply, or a second message): nothing
// on the wire says which part is the last.
const replySettle = 750 * time.Millisecond

// sendOnce is the non-interactive mode: text, optionally wait for the
// reply and print it.
func (p *phoneEmu) sendOnce(ctx context.Context, o phoneOptions, stderr io.Writer) int {
	from, to := p.handset()
	code, body, err := p.text(ctx, from, to, o.Send)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard phone:", err)
		return 1
	}
	if code != http.StatusOK {
		fmt.Fprintf(stderr, "switchboard phone: webhook answered %d: %s\n", code, body)
		return 1
	}
	if !o.Wait {
		return 0
	}
	replies := func() []twiliosim.Message {
		var out []twiliosim.Message
		for _, m := range p.sim.MessagesTo(from) {
			if m.From == to || m.From == "" {
				out = append(out, m)
			}
		}
		return out
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := p.sim.Wait(wctx, func() bool { return len(replies()) > 0 }); err != nil {
		fmt.Fprintf(stderr, "switchboard phone: no reply within %s\n", o.Timeout)
		return 1
	}
	for {
		n := len(replies())
		sctx, scancel := context.WithTimeout(wctx, replySettle)
		err := p.sim.Wait(sctx, func() bool { return len(replies()) > n })
		scancel()
		if err != nil {
			break
		}
	}
	got := replies()
	for _, m := range got {
		fmt.Fprintln(p.out, shown(m, ""))
	}
	// Let the delivery receipts reach the server before the emulator
	// closes, so the server records the messages delivered.
	final := func() bool {
		done := map[string]bool{}
		for _, cb := range p.sim.Callbacks() {
			if cb.Status == "delivered" || cb.Status == "undelivered" {
				done[cb.MessageSID] = true
			}
		}
		for _, m := range got {
			if m.StatusCallback != "" && !done[m.SID] {
				return false
			}
		}
		return true
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	_ = p.sim.Wait(cctx, final)
	return 0
}

// interactive is the terminal phone: one line typed is one text.
func (p *phoneEmu) interactive(ctx context.Context, stdin io.Reader, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	from, _ := p.handset()
	p.printf("switchboard phone: Twilio emulator on %s for the %s\n", p.sim.URL(), p.line.Desc)
	p.printf("You are %s. Type a message and press Enter; /help lists the commands.\n", from)

	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.watch(wctx)
	}()
	defer wg.Wait()
	defer cancel() // runs first: stops the watcher that wg waits for

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-wctx.Done():
				return
			}
		}
	}()
	for {
		p.prompt()
		var in string
		var ok bool
		select {
		case <-ctx.Done():
			p.printf("\n")
			return 0
		case in, ok = <-lines:
			if !ok {
				return 0
			}
		}
		in = strings.TrimSpace(in)
		switch {
		case in == "":
		case strings.HasPrefix(in, "/"):
			if quit := p.command(in); quit {
				return 0
			}
		default:
			from, to := p.handset()
			code, body, err := p.text(ctx, from, to, in)
			switch {
			case err != nil:
				p.printf("  ! %v\n", err)
			case code != http.StatusOK:
				p.printf("  ! webhook answered %d: %s\n", code, body)
			default:
				p.printf("  (sent; webhook 200)\n")
				if reply := carrierReply(in, p.whatsAppMode()); reply != "" {
					p.printf("[%s -> %s] %s  (Twilio's automatic answer)\n", to, from, reply)
				}
			}
		}
	}
}

// Twilio's default answers to the carrier keywords on a long code (it sends
// them itself; the server is told about the text but does not answer it).
const (
	twilioStopReply  = "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe."
	twilioStartReply = "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
	twilioHelpReply  = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)

// carrierReply returns what Twilio itself answers to an SMS that is exactly
// one of its default opt-out, opt-in or help keywords ("" otherwise, and on
// WhatsApp, which has no such keywords).
func carrierReply(text string, whatsApp bool) string {
	if whatsApp {
		return ""
	}
	switch strings.ToUpper(strings.TrimSpace(text)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT":
		return twilioStopReply
	case "START", "YES", "UNSTOP":
		return twilioStartReply
	case "HELP", "INFO":
		return twilioHelpReply
	}
	return ""
}

func (p *phoneEmu) whatsAppMode() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.whatsApp
}

// command runs a /command and reports whether it asks to quit.
func (p *phoneEmu) command(in string) bool {
	fields := strings.Fields(in)
	switch fields[0] {
	case "/quit", "/exit", "/q":
		return true
	case "/help", "/?":
		p.printf("  /from +15551230001    text as another handset\n" +
			"  /whatsapp on|off      use whatsapp: addresses\n" +
			"  /help                 this list\n" +
			"  /quit                 leave\n")
	case "/from":
		if len(fields) != 2 {
			p.printf("  usage: /from +15551230001\n")
			break
		}
		a, err := twilio.ParseAddress(fields[1])
		if err != nil {
			p.printf("  ! not a phone number: %q\n", fields[1])
			break
		}
		p.mu.Lock()
		p.from = a.Number
		if a.IsWhatsApp() {
			p.whatsApp = true
		}
		p.mu.Unlock()
		from, _ := p.handset()
		p.printf("  you are now %s\n", from)
	case "/whatsapp", "/wa":
		on := len(fields) == 1
		if len(fields) == 2 {
			switch fields[1] {
			case "on":
				on = true
			case "off":
				on = false
			default:
				p.printf("  usage: /whatsapp on|off\n")
				return false
			}
		}
		p.mu.Lock()
		p.whatsApp = on
		p.mu.Unlock()
		from, _ := p.handset()
		p.printf("  you are now %s\n", from)
	default:
		p.printf("  unknown command %s; /help lists the commands\n", fields[0])
	}
	return false
}

// watch shows what the server sends (messages, rejected sends) and the
// delivery receipts as they happen.
func (p *phoneEmu) watch(ctx context.Context) {
	var msgs, cbs, fails int
	for {
		err := p.sim.Wait(ctx, func() bool {
			return p.sim.Count() > msgs || len(p.sim.Callbacks()) > cbs || len(p.sim.Failures()) > fails
		})
		if err != nil {
			return
		}
		all := p.sim.Messages()
		for _, m := range all[min(msgs, len(all)):] {
			p.async(fmt.Sprintf("[%s -> %s] %s", m.From, m.To, shown(m, "    ")))
		}
		msgs = len(all)
		callbacks := p.sim.Callbacks()
		for _, cb := range callbacks[min(cbs, len(callbacks)):] {
			s := fmt.Sprintf("  status: %s (%s)", cb.Status, shortSID(cb.MessageSID))
			if cb.ErrorCode != 0 {
				s += fmt.Sprintf(" error %d", cb.ErrorCode)
			}
			if cb.Err != "" {
				s += "; the receipt did not reach the server: " + cb.Err
			} else if cb.HTTPStatus != http.StatusOK && cb.HTTPStatus != http.StatusNoContent {
				s += fmt.Sprintf("; the server answered the receipt with %d", cb.HTTPStatus)
			}
			p.async(s)
		}
		cbs = len(callbacks)
		failures := p.sim.Failures()
		for _, f := range failures[min(fails, len(failures)):] {
			s := fmt.Sprintf("  ! the server's send to %s was refused: HTTP %d, Twilio code %d", f.To, f.Status, f.Code)
			if f.Code == twiliosim.CodeWindowClosed {
				s += " (WhatsApp's 24-hour window is closed: only a Content template goes through)"
			}
			p.async(s)
		}
		fails = len(failures)
	}
}

// shown is a received message as the phone shows it: its body, then a
// line for each media URL and, for a Content template send, its sid and
// variables; continuation lines start with indent.
func shown(m twiliosim.Message, indent string) string {
	lines := []string{}
	if m.Body != "" || (len(m.MediaURLs) == 0 && m.ContentSID == "") {
		lines = append(lines, strings.Split(m.Body, "\n")...)
	}
	for _, u := range m.MediaURLs {
		lines = append(lines, "[media] "+u)
	}
	if m.ContentSID != "" {
		t := "[template " + m.ContentSID
		if m.ContentVariables != "" {
			t += " variables " + m.ContentVariables
		}
		lines = append(lines, t+"]")
	}
	return strings.Join(lines, "\n"+indent)
}

// shortSID abbreviates a message SID for display.
func shortSID(sid string) string {
	if len(sid) > 12 {
		return sid[:8] + "…" + sid[len(sid)-4:]
	}
	return sid
}

// printf writes to the terminal.
func (p *phoneEmu) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

// prompt shows the sender on a terminal.
func (p *phoneEmu) prompt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.out, "%s> ", address(p.from, p.whatsApp))
	}
}

// async prints a line that arrived while the user may be typing: on a
// terminal it replaces the prompt line and redraws the prompt.
func (p *phoneEmu) async(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.out, "\r\x1b[K%s\n%s> ", line, address(p.from, p.whatsApp))
		return
	}
	fmt.Fprintln(p.out, line)
}
