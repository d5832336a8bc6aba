package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"switchboard/api"
	"switchboard/providers"
	"switchboard/store"
	"switchboard/store/sqlite"
)

func openTestStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnsureDemoIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Now().UTC()
	first, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4001"}), now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.KeyValue == "" {
		t.Fatalf("first setup: created %v, key %q", first.Created, first.KeyValue)
	}
	op, err := st.GetOperator(ctx, demoOperatorID)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(op.PasswordHash), []byte(demoOperatorPassword)) != nil || !op.IsActive {
		t.Fatal("demo operator cannot log in with the documented password")
	}
	k, err := st.GetAPIKeyByHash(ctx, store.HashKey(first.KeyValue))
	if err != nil || k.ID != first.APIKey.ID || k.ProjectID != first.Project.ID {
		t.Fatalf("key lookup by hash: %+v, %v", k, err)
	}
	if first.LLM.APIType != store.APITypeScripted {
		t.Fatalf("llm %s, want scripted", first.LLM.APIType)
	}
	cfg, err := providers.ParseTwilio(first.Channel.Config)
	if err != nil || cfg.APIBaseURL != "http://127.0.0.1:4001" || cfg.AuthToken != demoAuthToken || cfg.AccountSID != demoAccountSID {
		t.Fatalf("channel config %+v, %v", cfg, err)
	}

	second, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4001"}), now)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.KeyValue != "" {
		t.Fatalf("second setup created something: %+v", second)
	}
	if second.Project.ID != first.Project.ID || second.Stage.ID != first.Stage.ID || second.LLM.ID != first.LLM.ID ||
		second.Channel.ID != first.Channel.ID || second.APIKey.ID != first.APIKey.ID {
		t.Fatal("second setup did not reuse the records")
	}
	_, n, err := st.ListProjects(ctx, store.ListOptions{})
	if err != nil || n != 1 {
		t.Fatalf("%d projects, %v", n, err)
	}
	_, n, err = st.ListProviders(ctx, store.ListOptions{})
	if err != nil || n != 2 {
		t.Fatalf("%d providers, %v", n, err)
	}

	// A moved phone moves the provider's apiBaseUrl, nothing else.
	third, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4002"}), now)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = providers.ParseTwilio(third.Channel.Config)
	if err != nil || cfg.APIBaseURL != "http://127.0.0.1:4002" || third.Channel.ID != first.Channel.ID {
		t.Fatalf("after PHONE_ADDR moved: %+v, %v", cfg, err)
	}
}

func TestEnsureDemoOpenAI(t *testing.T) {
	st := openTestStore(t)
	l, err := ensureDemo(context.Background(), st, envOf(map[string]string{
		"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "tiny",
	}), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	c, err := providers.ParseOpenAI(l.LLM.Config)
	if err != nil || l.LLM.APIType != store.APITypeOpenAILegacy || c.APIKey != "sk-test" || c.BaseURL != "http://127.0.0.1:9/v1" {
		t.Fatalf("llm %s %+v, %v", l.LLM.APIType, c, err)
	}
	if l.Stage.LLMSettings.Model != "tiny" {
		t.Fatalf("model %q", l.Stage.LLMSettings.Model)
	}
	l2, err := ensureDemo(context.Background(), st, envOf(map[string]string{"OPENAI_API_KEY": "sk-test"}), time.Now().UTC())
	if err != nil || l2.Stage.ID != l.Stage.ID {
		t.Fatalf("second start: %v", err)
	}
}

// ANTHROPIC_API_KEY switches the demo stage to Anthropic (its base URL and
// model from ANTHROPIC_BASE_URL and ANTHROPIC_MODEL, else the default
// model); OPENAI_API_KEY wins when both are set.
func TestEnsureDemoAnthropic(t *testing.T) {
	st := openTestStore(t)
	l, err := ensureDemo(context.Background(), st, envOf(map[string]string{
		"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
	}), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	c, err := providers.ParseKeyConfig(store.APITypeAnthropic, l.LLM.Config)
	if err != nil || l.LLM.APIType != store.APITypeAnthropic || c.APIKey != "sk-ant-test" || c.BaseURL != "http://127.0.0.1:9" {
		t.Fatalf("llm %s %+v, %v", l.LLM.APIType, c, err)
	}
	if l.Stage.LLMSettings.Model != defaultAnthropicModel {
		t.Fatalf("model %q", l.Stage.LLMSettings.Model)
	}
	var out strings.Builder
	printDemo(&out, l, "http://127.0.0.1:3000", "http://127.0.0.1:3000")
	if !strings.Contains(out.String(), "anthropic, model "+defaultAnthropicModel) {
		t.Errorf("printed:\n%s", out.String())
	}

	both, err := ensureDemo(context.Background(), openTestStore(t), envOf(map[string]string{
		"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_MODEL": "claude-x", "OPENAI_API_KEY": "sk-test",
	}), time.Now().UTC())
	if err != nil || both.LLM.APIType != store.APITypeOpenAILegacy || both.Stage.LLMSettings.Model != defaultOpenAIModel {
		t.Fatalf("both keys: %v, %+v", err, both)
	}
}

func TestEnsureDemoRefusesOtherOperators(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Now().UTC()
	if err := st.CreateFirstOperator(ctx, &store.Operator{Meta: store.Meta{ID: "admin", CreatedAt: now, UpdatedAt: now, Version: 1},
		Name: "Admin", PasswordHash: "x", Roles: []string{api.RoleSuperAdmin}, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	_, err := ensureDemo(ctx, st, envOf(nil), now)
	if store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("err %v, want a conflict", err)
	}
	if _, n, _ := st.ListProjects(ctx, store.ListOptions{}); n != 0 {
		t.Fatalf("created %d projects anyway", n)
	}
}

func TestDemoScriptedConfigIsValid(t *testing.T) {
	if _, err := providers.ValidateConfig(store.APITypeScripted, mustJSON(t, demoScripted)); err != nil {
		t.Fatal(err)
	}
}

func TestPrintDemo(t *testing.T) {
	st := openTestStore(t)
	l, err := ensureDemo(context.Background(), st, envOf(nil), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printDemo(&b, l, "https://example.test", "http://127.0.0.1:3000")
	out := b.String()
	for _, want := range []string{
		"https://example.test/api/twilio/messaging/webhook?apiKey=" + l.KeyValue + "&stageId=" + l.Stage.ID + "&channelProviderId=" + l.Channel.ID,
		`password "demo-password"`, "http://127.0.0.1:3001", "switchboard phone --server http://127.0.0.1:3000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printout lacks %q:\n%s", want, out)
		}
	}
	value := l.KeyValue
	l.KeyValue = ""
	b.Reset()
	printDemo(&b, l, "https://example.test", "http://127.0.0.1:3000")
	if strings.Contains(b.String(), value) || !strings.Contains(b.String(), l.APIKey.KeyPreview) {
		t.Errorf("later printout shows the key or lacks its preview:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "apiKey=<the demo key printed at the first start>") {
		t.Errorf("later printout lacks the key placeholder:\n%s", b.String())
	}
}

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		":3000":          "127.0.0.1:3000",
		"[::]:3000":      "127.0.0.1:3000",
		"0.0.0.0:3000":   "127.0.0.1:3000",
		"127.0.0.1:3000": "127.0.0.1:3000",
		"[::1]:3000":     "[::1]:3000",
		"example:80":     "example:80",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
