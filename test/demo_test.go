package test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// The demo line's public constants (documented in cmd/switchboard/demo.go).
const (
	demoAuthToken  = "demoAuthTokenForLocalUseOnly0001"
	demoAccountSID = "ACde000000000000000000000000000000"
	demoNumber     = "+15005550006"
)

// startDemo starts `serve --demo` and waits for the demo printout.
func startDemo(t *testing.T, dir, phoneAddr string) (*server, *testutil.SyncBuffer) {
	t.Helper()
	s, out := startServerArgs(t, dir, map[string]string{"PHONE_ADDR": phoneAddr}, "--demo")
	testutil.CheckFor(t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), "open the phone:") {
			return fmt.Errorf("no demo printout yet:\n%s", out.String())
		}
		return nil
	})
	return s, out
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
//
// The port is drawn below the kernel's ephemeral range (32768 and up on
// Linux), which every listen on port 0 — the servers' own listeners,
// other tests' — takes its ports from: a port free now and closed again
// is then not handed to someone else before the caller listens on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// printed returns the value after "label:" in the demo printout.
func printed(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the demo printout:\n%s", label, out)
	}
	return m[1]
}

// runPhone runs `switchboard phone args...` to completion.
func runPhone(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return run(t, nil, append([]string{"phone"}, args...)...)
}

// namedCount counts the items called name on an API list page.
func namedCount(t *testing.T, s *server, token, path, name string) int {
	t.Helper()
	var page struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	s.mustAPI("GET", path, token, nil, &page, 200)
	n := 0
	for _, it := range page.Items {
		if it.Name == name {
			n++
		}
	}
	return n
}

func TestDemoPhoneRoundTripAndIdempotentRestart(t *testing.T) {
	dir := t.TempDir()
	phoneAddr := freeAddr(t)
	s, out := startDemo(t, dir, phoneAddr)
	first := out.String()
	for _, want := range []string{"demo line created", `id "demo", password "demo-password"`, "FOR LOCAL USE ONLY", "http://" + phoneAddr} {
		if !strings.Contains(first, want) {
			t.Fatalf("demo printout lacks %q:\n%s", want, first)
		}
	}
	projectID, providerID := printed(t, first, "project"), printed(t, first, "channel provider")
	webhook := printed(t, first, "webhook")
	if !strings.Contains(webhook, "apiKey=akey_live_") || !strings.HasPrefix(webhook, s.URL+"/api/twilio/messaging/webhook?") {
		t.Fatalf("printed webhook %q", webhook)
	}

	code, stdout, stderr := runPhone(t, "--server", s.URL, "--listen", phoneAddr, "--from", "+15550001111", "--send", "hi", "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(stdout, "Hello from Switchboard!") {
		t.Fatalf("phone --send hi: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runPhone(t, "--server", s.URL, "--listen", phoneAddr, "--from", "+15550001111", "--send", "how are you", "--wait")
	if code != 0 || strings.TrimSpace(stdout) != `Message 2: you said "how are you"` {
		t.Fatalf("phone second text: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// The printed webhook works as printed, signed with the documented
	// demo auth token, and replies go to PHONE_ADDR.
	sim := twiliosim.New(twiliosim.Options{})
	sim.AddAccount(demoAccountSID, demoAuthToken)
	if err := sim.Start(phoneAddr); err != nil {
		t.Fatal(err)
	}
	resp, err := twiliosim.SignedWebhook(context.Background(), nil, webhook, demoAuthToken,
		twiliosim.InboundParamsFor(demoAccountSID, "+15550003333", demoNumber, "plain", twiliosim.NewMessageSID()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("printed webhook answered %d", resp.StatusCode)
	}
	testutil.CheckFor(t, 30*time.Second, func() error {
		if got := sim.MessagesTo("+15550003333"); len(got) != 1 || got[0].Body != `Message 1: you said "plain"` {
			return fmt.Errorf("replies to +15550003333: %+v", got)
		}
		return nil
	})
	sim.Close()

	if code := s.terminate(); code != 0 {
		t.Fatalf("server exit code %d", code)
	}

	// Second start on the same database: everything is reused.
	s2, out2 := startDemo(t, dir, phoneAddr)
	second := out2.String()
	if !strings.Contains(second, "demo line reused") {
		t.Fatalf("second start did not reuse the demo line:\n%s", second)
	}
	if got := printed(t, second, "project"); got != projectID {
		t.Fatalf("project %s after restart, was %s", got, projectID)
	}
	if got := printed(t, second, "channel provider"); got != providerID {
		t.Fatalf("channel provider %s after restart, was %s", got, providerID)
	}
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	s2.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": "demo", "password": "demo-password"}, &auth, 200)
	if n := namedCount(t, s2, auth.AccessToken, "/api/projects?limit=1000", "Switchboard demo"); n != 1 {
		t.Fatalf("%d demo projects", n)
	}
	if n := namedCount(t, s2, auth.AccessToken, "/api/providers?limit=1000", "Switchboard demo phone"); n != 1 {
		t.Fatalf("%d demo channel providers", n)
	}
	if n := namedCount(t, s2, auth.AccessToken, "/api/providers?limit=1000", "Switchboard demo LLM"); n != 1 {
		t.Fatalf("%d demo LLM providers", n)
	}
	if n := namedCount(t, s2, auth.AccessToken, "/api/projects/"+projectID+"/stages?limit=1000", "Demo"); n != 1 {
		t.Fatalf("%d demo stages", n)
	}
	// The demo stage has its agent, as Bonsai's console requires, and every
	// demo record the history the API would have given it: one CREATE by
	// the demo operator (the console's History tabs and audit page), none
	// added by the restart.
	stageID, agentID := printed(t, first, "stage"), printed(t, first, "agent")
	var stage struct {
		AgentID string `json:"agentId"`
	}
	s2.mustAPI("GET", "/api/projects/"+projectID+"/stages/"+stageID, auth.AccessToken, nil, &stage, 200)
	if stage.AgentID != agentID {
		t.Fatalf("demo stage's agentId %q, printed agent %s", stage.AgentID, agentID)
	}
	s2.mustAPI("GET", "/api/projects/"+projectID+"/agents/"+agentID, auth.AccessToken, nil, nil, 200)
	for _, path := range []string{
		"/api/operators/demo", "/api/projects/" + projectID, "/api/projects/" + projectID + "/stages/" + stageID,
		"/api/projects/" + projectID + "/agents/" + agentID, "/api/providers/" + providerID,
		"/api/providers/" + printed(t, first, "llm provider"), "/api/projects/" + projectID + "/api-keys/" + printed(t, first, "api key"),
	} {
		var history []struct {
			Action    string `json:"action"`
			UserID    string `json:"userId"`
			UserAgent string `json:"userAgent"`
		}
		s2.mustAPI("GET", path+"/audit-logs", auth.AccessToken, nil, &history, 200)
		creates := 0
		for _, h := range history { // the operator's has its logins too
			if h.Action == "CREATE" && h.UserID == "demo" && h.UserAgent == "switchboard serve --demo" {
				creates++
			} else if h.Action == "CREATE" || h.Action == "UPDATE" {
				creates = -100
			}
		}
		if creates != 1 {
			t.Errorf("%s history: %+v, want one CREATE by the demo", path, history)
		}
	}

	keys := "/api/projects/" + projectID + "/api-keys?limit=1000"
	if n := namedCount(t, s2, auth.AccessToken, keys, "demo"); n != 1 {
		t.Fatalf("%d demo api keys", n)
	}
	if n := namedCount(t, s2, auth.AccessToken, keys, "switchboard phone"); n != 0 {
		t.Fatalf("the phone left %d api keys behind", n)
	}

	// The line still works after the restart.
	code, stdout, stderr = runPhone(t, "--server", s2.URL, "--listen", phoneAddr, "--from", "+15550005555", "--send", "again", "--wait")
	if code != 0 || strings.TrimSpace(stdout) != `Message 1: you said "again"` {
		t.Fatalf("phone after restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestPhoneFailures(t *testing.T) {
	s, _ := startDemo(t, "", freeAddr(t))
	phoneAddr := freeAddr(t)

	// A webhook answer other than 200 exits 1.
	bad := s.URL + "/api/twilio/messaging/webhook?apiKey=akey_live_nope&stageId=stag_x&channelProviderId=prov_x"
	code, _, stderr := runPhone(t, "--webhook", bad, "--auth-token", "abc", "--listen", phoneAddr, "--send", "hi", "--wait")
	if code != 1 || !strings.Contains(stderr, "webhook answered 400") {
		t.Fatalf("bad webhook: exit %d, stderr %q", code, stderr)
	}

	// No reply within the timeout exits 1: the server's sends go to the
	// demo's PHONE_ADDR, not to this phone.
	code, _, stderr = runPhone(t, "--server", s.URL, "--listen", phoneAddr, "--send", "hi", "--wait", "--timeout", "1s")
	if code != 1 || !strings.Contains(stderr, "no reply within 1s") {
		t.Fatalf("timeout: exit %d, stderr %q", code, stderr)
	}

	// A server that is not in demo mode is named as such.
	plain := startServer(t, "", nil)
	code, _, stderr = runPhone(t, "--server", plain.URL, "--listen", phoneAddr, "--send", "hi")
	if code != 1 || !strings.Contains(stderr, "not a demo server") {
		t.Fatalf("plain server: exit %d, stderr %q", code, stderr)
	}
}

func TestDemoRefusesDatabaseWithOperators(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	s.mustAPI("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "correct horse battery"}, nil, 201)
	if code := s.terminate(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	cmd := exec.Command(binary, "serve", "--demo")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_ADDR=127.0.0.1:0", "METRICS_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:"+filepath.Join(dir, "switchboard.db"),
		"PHONE_ADDR="+freeAddr(t))
	var out, logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve --demo kept running on a database with operators")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(logs.String(), "empty database") {
		t.Fatalf("exit %d, stderr:\n%s", code, logs.String())
	}
	if strings.Contains(out.String(), "demo-password") {
		t.Fatalf("printed the demo login although it refused:\n%s", out.String())
	}
}
