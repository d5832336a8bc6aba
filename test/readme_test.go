package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/test/twiliosim"
)

// The README's "Setting up a line (curl)" script, run as a reader runs it:
// taken from README.md (the code block after readmeSetupMarker), with only
// the values its top asks a reader to replace changed, and run with bash
// against the real binary. A README edit that breaks the walk-through, or a
// server change that breaks the README, fails here.

// readmeSetupMarker is the HTML comment line just before the script's fence.
const readmeSetupMarker = "<!-- readme-test: setup-line -->"

// readmeBlock returns the body of the fenced code block on the line after
// marker in ../README.md.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != marker {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("README.md: %s is not followed by a ``` fence", marker)
		}
		for j := i + 2; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "```" {
				return strings.Join(lines[i+2:j], "\n") + "\n"
			}
		}
		t.Fatalf("README.md: the code block after %s is not closed", marker)
	}
	t.Fatalf("README.md has no %s line", marker)
	return ""
}

// setScriptVars replaces the assignments NAME=… at the start of a line of
// script by NAME='value', as a reader edits the script's top. Every name
// must be assigned there exactly once: a renamed variable fails the test
// rather than leaving a placeholder in.
func setScriptVars(t *testing.T, script string, vars map[string]string) string {
	t.Helper()
	for name, v := range vars {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `=.*$`)
		if n := len(re.FindAllStringIndex(script, -1)); n != 1 {
			t.Fatalf("the README script assigns %s on %d lines, want 1", name, n)
		}
		quoted := name + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		script = re.ReplaceAllLiteralString(script, quoted)
	}
	return script
}

// runBash runs script with bash and returns its exit code and its output
// (stdout and stderr together, as a terminal shows them).
func runBash(t *testing.T, script string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), out.String()
	default:
		t.Fatalf("bash: %v\n%s", err, out.String())
		return -1, ""
	}
}

// needTools skips the test when the script's tools are missing (.ci/run
// installs them, so CI always runs it).
func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's set-up script needs %s, which is not installed", tool)
		}
	}
	if err := exec.Command("curl", "--fail-with-body", "--version").Run(); err != nil {
		t.Skip("the README's set-up script needs curl 7.76 or later (--fail-with-body)")
	}
}

// printedWebhook returns the URL on the script's "webhook:" line, checked:
// it is the server's webhook path with three real ids.
func printedWebhook(t *testing.T, out, base string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^webhook: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the script printed no webhook line:\n%s", out)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != base+"/api/twilio/messaging/webhook" {
		t.Fatalf("webhook %s, want %s/api/twilio/messaging/webhook?…", m[1], base)
	}
	q := u.Query()
	for name, prefix := range map[string]string{"apiKey": "akey_", "stageId": "stag_", "channelProviderId": "prov_"} {
		if v := q.Get(name); !strings.HasPrefix(v, prefix) || len(v) <= len(prefix) {
			t.Fatalf("webhook %s: %s=%q, want an id %s…", m[1], name, v, prefix)
		}
	}
	return m[1]
}

func TestReadmeSetupLine(t *testing.T) {
	block := readmeBlock(t, readmeSetupMarker)
	if _, err := exec.LookPath("bash"); err == nil {
		if code, out := runBash(t, "set -n\n"+block); code != 0 {
			t.Fatalf("bash -n: the README script does not parse:\n%s", out)
		}
	}
	needTools(t)

	s := startServer(t, "", nil)
	sim := newSim(t, twiliosim.Options{Callbacks: true})
	const password = "correct horse battery"
	l := &line{srv: s, sim: sim, Number: "+15550001000",
		AccountSID: "AC" + strings.Repeat("0", 24) + fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff),
		AuthToken:  fmt.Sprintf("%032x", time.Now().UnixNano())}
	sim.AddAccount(l.AccountSID, l.AuthToken)

	t.Run("placeholders", func(t *testing.T) {
		// A reader who sets the password but leaves the Twilio placeholders
		// in: the script must stop at the Twilio provider with the server's
		// reason, and create nothing after it.
		script := setScriptVars(t, block, map[string]string{"B": s.URL, "ADMIN_PASSWORD": password})
		if !strings.Contains(script, "ACCOUNT_SID='AC…'") {
			t.Fatalf("the README's placeholder SID is no longer 'AC…': update this test and the README's text")
		}
		code, out := runBash(t, script)
		if code == 0 {
			t.Fatalf("the script with the placeholder SID exited 0:\n%s", out)
		}
		if !strings.Contains(out, "config.accountSid") || !strings.Contains(out, "32 hex digits") {
			t.Fatalf("the output does not show the server's error for config.accountSid:\n%s", out)
		}
		if strings.Contains(out, "webhook:") || strings.Contains(out, "null") {
			t.Fatalf("the script went on after the failed step:\n%s", out)
		}
		var auth struct {
			AccessToken string `json:"accessToken"`
		}
		s.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": password}, &auth, 200)
		var projects struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		s.mustAPI("GET", "/api/projects", auth.AccessToken, nil, &projects, 200)
		for _, p := range projects.Items {
			var keys struct {
				Total int `json:"total"`
			}
			s.mustAPI("GET", "/api/projects/"+p.ID+"/api-keys", auth.AccessToken, nil, &keys, 200)
			if keys.Total != 0 {
				t.Fatalf("project %s has %d API keys: the script ran step 4 after step 3 failed", p.ID, keys.Total)
			}
		}
	})

	t.Run("simulated Twilio", func(t *testing.T) {
		// Runs on a server the previous subtest already set up, as a
		// second run of the script does.
		script := setScriptVars(t, block, map[string]string{
			"B": s.URL, "ADMIN_PASSWORD": password, "PUBLIC_BASE_URL": s.URL,
			"ACCOUNT_SID": l.AccountSID, "AUTH_TOKEN": l.AuthToken, "FROM_NUMBER": l.Number,
			"API_BASE_URL": sim.URL(),
		})
		code, out := runBash(t, script)
		if code != 0 {
			t.Fatalf("the script exited %d:\n%s", code, out)
		}
		l.Webhook = printedWebhook(t, out, s.URL)

		l.mustText(t, "+15557770001", "hi")
		if got := l.waitReplies(t, "+15557770001", 1, 30*time.Second); got[0] != "Hello! How can I help?" {
			t.Fatalf("reply to hi: %q", got)
		}
		l.mustText(t, "+15557770001", "what are your hours")
		if got := l.waitReplies(t, "+15557770001", 2, 30*time.Second); got[1] != "R2: what are your hours" {
			t.Fatalf("reply to the second text: %q", got)
		}
	})

	t.Run("OpenAI", func(t *testing.T) {
		// The script's other AI branch: its provider and stage are accepted
		// (nothing calls OpenAI until a text arrives).
		script := setScriptVars(t, block, map[string]string{
			"B": s.URL, "ADMIN_PASSWORD": password, "PUBLIC_BASE_URL": s.URL,
			"ACCOUNT_SID": l.AccountSID, "AUTH_TOKEN": l.AuthToken, "FROM_NUMBER": l.Number,
			"API_BASE_URL": sim.URL(), "OPENAI_API_KEY": "sk-readme-test",
		})
		code, out := runBash(t, script)
		if code != 0 {
			t.Fatalf("the script exited %d:\n%s", code, out)
		}
		printedWebhook(t, out, s.URL)
	})

	t.Run("phone emulator", func(t *testing.T) {
		// The README's "Testing your own line without Twilio": the script
		// with API_BASE_URL at the phone, then the phone command it prints.
		phoneAddr := freeAddr(t)
		script := setScriptVars(t, block, map[string]string{
			"B": s.URL, "ADMIN_PASSWORD": password, "PUBLIC_BASE_URL": s.URL,
			"ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "AUTH_TOKEN": strings.Repeat("0", 32),
			"API_BASE_URL": "http://" + phoneAddr,
		})
		code, out := runBash(t, script)
		if code != 0 {
			t.Fatalf("the script exited %d:\n%s", code, out)
		}
		printedWebhook(t, out, s.URL)
		m := regexp.MustCompile(`(?m)^phone: +\./switchboard (phone .*)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the script printed no phone command:\n%s", out)
		}
		phone := "PHONE_ADDR=" + phoneAddr + " '" + binary + "' " + m[1] + ` --from +15557770002 --send "hi" --wait`
		code, out = runBash(t, phone)
		if code != 0 || strings.TrimSpace(out) != "Hello! How can I help?" {
			t.Fatalf("%s\nexited %d:\n%s", phone, code, out)
		}
	})
}
