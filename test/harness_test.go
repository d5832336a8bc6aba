// Package test holds end-to-end tests: they build the real binary once,
// start it on a loopback port with a temporary SQLite database, set a line
// up through the REST API and drive it with signed webhooks from the
// simulated Twilio.
package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/opapi"
	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "switchboard")
	build := exec.Command("go", "build", "-o", binary, "switchboard/cmd/switchboard")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	testutil.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running switchboard binary.
type server struct {
	t   *testing.T
	cmd *exec.Cmd
	URL string
	// MetricsURL is the /metrics URL the server printed ("" when it
	// printed none: METRICS_ADDR=off or empty).
	MetricsURL string
	logs       *testutil.SyncBuffer
	exited     chan struct{}
	err        error
}

// startServer runs the binary with env on top of test defaults (loopback
// port, SQLite in dir) and waits until it listens.
func startServer(t *testing.T, dir string, env map[string]string) *server {
	t.Helper()
	s, _ := startServerArgs(t, dir, env)
	return s
}

// startServerArgs is startServer with extra arguments after `serve`; it
// also returns everything the server prints on stdout.
func startServerArgs(t *testing.T, dir string, env map[string]string, args ...string) (*server, *testutil.SyncBuffer) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	full := map[string]string{
		"SWITCHBOARD_ADDR": "127.0.0.1:0",
		"DATABASE_URL":     "sqlite:" + filepath.Join(dir, "switchboard.db"),
		"LOG_LEVEL":        "info",
		"METRICS_ADDR":     "127.0.0.1:0",
		// The tests' many simulated senders and Twilio all come from
		// 127.0.0.1; TestMaxConnectionsPerIP sets the cap itself.
		"MAX_CONNECTIONS_PER_IP": "0",
	}
	for k, v := range env {
		full[k] = v
	}
	s := &server{t: t, logs: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	s.cmd.Env = os.Environ()
	for k, v := range full {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	ready := make(chan string, 1)
	copied := make(chan struct{})
	var metricsURL string // printed before the listening line
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if u, ok := strings.CutPrefix(line, "switchboard: metrics on "); ok {
				metricsURL = u
			}
			if u, ok := strings.CutPrefix(line, "switchboard: listening on "); ok {
				ready <- u
			}
		}
		_, _ = io.Copy(out, stdout)
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.URL = <-ready:
		s.MetricsURL = metricsURL
	case <-s.exited:
		t.Fatalf("server exited during start-up: %v\n%s", s.err, s.logs.String())
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", s.logs.String())
	}
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server stdout:\n%s\nserver logs:\n%s", out.String(), tail(s.logs.String(), 60))
		}
	})
	return s, out
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// terminate sends SIGTERM and returns the exit code.
func (s *server) terminate() int {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatal("server did not exit after SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode()
}

// kill9 kills the server without warning.
func (s *server) kill9() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// api calls the operator API and decodes the JSON answer into out.
func (s *server) api(method, path, token string, body, out any) int {
	s.t.Helper()
	c := &opapi.Client{Base: s.URL, Token: token}
	code, b, err := c.Raw(context.Background(), method, path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, code, b, err)
		}
	}
	return code
}

func (s *server) mustAPI(method, path, token string, body, out any, want int) {
	s.t.Helper()
	var raw json.RawMessage
	code := s.api(method, path, token, body, &raw)
	if code != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

// line is a Twilio number set up end to end.
type line struct {
	srv        *server
	sim        *twiliosim.Server
	token      string
	ProjectID  string
	StageID    string
	LLMID      string
	ProviderID string
	APIKey     string
	AccountSID string
	AuthToken  string
	Number     string
	Webhook    string
}

type lineOptions struct {
	number        string // fromNumber, default +15550001000
	llmType       string // default scripted
	llmConfig     any    // default {"defaultReply":"R{{.Turn}}: {{.Text}}"}
	enterBehavior string
	model         string
}

var operatorSeq int

// setupLine creates (or logs in) the operator and a complete line through
// the REST API, as an operator would.
func setupLine(t *testing.T, s *server, sim *twiliosim.Server, o lineOptions) *line {
	t.Helper()
	if o.number == "" {
		o.number = "+15550001000"
	}
	if o.llmType == "" {
		o.llmType = "scripted"
	}
	if o.llmConfig == nil {
		o.llmConfig = map[string]any{"defaultReply": "R{{.Turn}}: {{.Text}}"}
	}
	if o.model == "" {
		o.model = "test-model"
	}
	l := &line{srv: s, sim: sim, Number: o.number, AuthToken: fmt.Sprintf("authtoken%023d", time.Now().UnixNano()%1e9)}
	l.AccountSID = "AC" + strings.Repeat("0", 24) + fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff)
	var setup struct {
		IsSetup bool `json:"isSetup"`
	}
	s.mustAPI("GET", "/api/setup/status", "", nil, &setup, 200)
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	if !setup.IsSetup {
		s.mustAPI("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "correct horse battery"}, &auth, 201)
	} else {
		s.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "correct horse battery"}, &auth, 200)
	}
	l.token = auth.AccessToken
	var rec struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	s.mustAPI("POST", "/api/projects", l.token, map[string]any{"name": "Support line", "autoCreateUsers": true, "timezone": "UTC"}, &rec, 201)
	l.ProjectID = rec.ID
	s.mustAPI("POST", "/api/providers", l.token, map[string]any{"name": "AI", "providerType": "llm", "apiType": o.llmType, "config": o.llmConfig}, &rec, 201)
	l.LLMID = rec.ID
	stage := map[string]any{"name": "Main", "prompt": "You are a helpful assistant.", "llmProviderId": l.LLMID,
		"llmSettings": map[string]any{"model": o.model, "timeout": 5000}}
	if o.enterBehavior != "" {
		stage["enterBehavior"] = o.enterBehavior
	}
	s.mustAPI("POST", "/api/projects/"+l.ProjectID+"/stages", l.token, stage, &rec, 201)
	l.StageID = rec.ID
	sim.AddAccount(l.AccountSID, l.AuthToken)
	s.mustAPI("POST", "/api/providers", l.token, map[string]any{"name": "Twilio", "providerType": "channel", "apiType": "twilio_messaging",
		"config": map[string]any{"accountSid": l.AccountSID, "authToken": l.AuthToken, "fromNumber": o.number, "apiBaseUrl": sim.URL()}}, &rec, 201)
	l.ProviderID = rec.ID
	s.mustAPI("POST", "/api/projects/"+l.ProjectID+"/api-keys", l.token, map[string]any{"name": "twilio",
		"keySettings": map[string]any{"allowedChannels": []string{"twilio_messaging"}, "allowedFeatures": nil}}, &rec, 201)
	l.APIKey = rec.Key
	if l.APIKey == "" {
		t.Fatal("API key value missing from create response")
	}
	l.Webhook = s.URL + "/api/twilio/messaging/webhook?" + url.Values{
		"apiKey": {l.APIKey}, "stageId": {l.StageID}, "channelProviderId": {l.ProviderID},
	}.Encode()
	return l
}

// restart stops the line's server with SIGTERM, which must exit 0, starts a
// new one on dir (the same database) with env and points the line at it.
func (l *line) restart(t *testing.T, dir string, env map[string]string) {
	t.Helper()
	if code := l.srv.terminate(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	l.moveTo(startServer(t, dir, env))
}

// moveTo points the line at s, a restarted server on the same database.
func (l *line) moveTo(s *server) {
	l.Webhook = strings.Replace(l.Webhook, l.srv.URL, s.URL, 1)
	l.srv = s
}

// text posts a signed webhook as Twilio would for a message from `from`
// and returns the status code and body.
func (l *line) text(from, body string) (int, string) {
	l.sim.RecordInbound(from, l.Number) // opens the WhatsApp window, as Twilio would
	return l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, from, l.Number, body, twiliosim.NewMessageSID()), nil)
}

func (l *line) post(rawURL string, params url.Values, header http.Header) (int, string) {
	req, err := twiliosim.NewSignedRequest(context.Background(), rawURL, l.AuthToken, params)
	if err != nil {
		panic(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustText texts and requires the webhook's 200 empty TwiML.
func (l *line) mustText(t *testing.T, from, body string) {
	t.Helper()
	code, resp := l.text(from, body)
	if code != 200 || resp != "<Response/>" {
		t.Fatalf("webhook: %d %q", code, resp)
	}
}

// replies returns the bodies the simulated Twilio received for to.
func (l *line) replies(to string) []string {
	var out []string
	for _, m := range l.sim.MessagesTo(to) {
		out = append(out, m.Body)
	}
	return out
}

// waitReplies waits until `to` has received at least n replies and
// returns them.
func (l *line) waitReplies(t *testing.T, to string, n int, timeout time.Duration) []string {
	t.Helper()
	var got []string
	testutil.CheckFor(t, timeout, func() error {
		got = l.replies(to)
		if len(got) < n {
			return fmt.Errorf("%s received %d replies, want %d: %q", to, len(got), n, got)
		}
		return nil
	})
	return got
}

type conversation struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	UserID        string          `json:"userId"`
	StageID       string          `json:"stageId"`
	StatusDetails json.RawMessage `json:"statusDetails"`
}

type event struct {
	ID        string          `json:"id"` // Bonsai's events have string IDs
	EventType string          `json:"eventType"`
	EventData json.RawMessage `json:"eventData"`
	Timestamp string          `json:"timestamp"`
}

func (l *line) conversations(t *testing.T) []conversation {
	t.Helper()
	var page struct {
		Items []conversation `json:"items"`
		Total int            `json:"total"`
	}
	l.srv.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations?limit=1000&orderBy=createdAt", l.token, nil, &page, 200)
	return page.Items
}

func (l *line) events(t *testing.T, convID string) []event {
	t.Helper()
	var page struct {
		Items []event `json:"items"`
	}
	l.srv.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations/"+convID+"/events?limit=1000&orderBy=timestamp", l.token, nil, &page, 200)
	return page.Items
}

// newSim starts a simulated Twilio on a loopback port.
func newSim(t *testing.T, opts twiliosim.Options) *twiliosim.Server {
	t.Helper()
	sim := twiliosim.New(opts)
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// httpClient is the tests' HTTP client.
var httpClient = &http.Client{Timeout: 30 * time.Second}
