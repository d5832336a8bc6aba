package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
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

// The demo's records have the history the API would have given them: one
// CREATE each by the demo operator, the entry api.CreatedEntry makes of the
// stored record (secrets masked), marked as the demo's; restarts add
// nothing, and a moved phone is an UPDATE of the channel provider.
func TestEnsureDemoAuditHistory(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	l, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4001"}), now)
	if err != nil {
		t.Fatal(err)
	}
	if l.Stage.AgentID == "" || l.Stage.AgentID != l.Agent.ID || l.Agent.ProjectID != l.Project.ID {
		t.Fatalf("stage agent %q, demo agent %+v", l.Stage.AgentID, l.Agent)
	}
	op, err := st.GetOperator(ctx, demoOperatorID)
	if err != nil {
		t.Fatal(err)
	}
	stored := func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	records := []any{op,
		stored(st.GetProject(ctx, l.Project.ID)), stored(st.GetProvider(ctx, l.LLM.ID)),
		stored(st.GetAgent(ctx, l.Project.ID, l.Agent.ID)), stored(st.GetStage(ctx, l.Project.ID, l.Stage.ID)),
		stored(st.GetProvider(ctx, l.Channel.ID)), stored(st.GetAPIKey(ctx, l.APIKey.ID))}
	es, total, err := st.ListAudit(ctx, store.ListOptions{OrderBy: []store.Order{{Field: "createdAt"}}})
	if err != nil || total != len(records) {
		t.Fatalf("%d audit entries, want %d: %v", total, len(records), err)
	}
	for i, rec := range records {
		want, got := api.CreatedEntry(demoOperatorID, rec), es[i]
		if want == nil {
			t.Fatalf("no entry for %T", rec)
		}
		if got.Action != store.AuditCreate || got.UserID != demoOperatorID || got.EntityType != want.EntityType ||
			got.EntityID != want.EntityID || got.ProjectID != want.ProjectID || got.OldEntity != nil ||
			got.UserAgent != demoUserAgent || got.ClientIP != "" || !got.CreatedAt.Equal(now) {
			t.Errorf("entry %d = %+v, want %+v by the demo", i, got, want)
		}
		if !sameJSON(t, got.NewEntity, want.NewEntity) {
			t.Errorf("%s snapshot\n %s\nwant\n %s", got.EntityType, got.NewEntity, want.NewEntity)
		}
	}
	for _, e := range es {
		if strings.Contains(string(e.NewEntity), demoAuthToken) || strings.Contains(string(e.NewEntity), l.KeyValue) {
			t.Errorf("%s entry holds a secret: %s", e.EntityType, e.NewEntity)
		}
	}

	if _, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4001"}), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := st.ListAudit(ctx, store.ListOptions{}); n != len(records) {
		t.Fatalf("a restart added %d audit entries", n-len(records))
	}

	later := now.Add(time.Hour)
	if _, err := ensureDemo(ctx, st, envOf(map[string]string{"PHONE_ADDR": "127.0.0.1:4002"}), later); err != nil {
		t.Fatal(err)
	}
	es, n, err := st.ListAudit(ctx, store.ListOptions{})
	if err != nil || n != len(records)+1 {
		t.Fatalf("after PHONE_ADDR moved: %d entries, %v", n, err)
	}
	u := es[0] // newest first
	if u.Action != store.AuditUpdate || u.EntityID != l.Channel.ID || u.UserID != demoOperatorID || !u.CreatedAt.Equal(later) ||
		!strings.Contains(string(u.OldEntity), "127.0.0.1:4001") || !strings.Contains(string(u.NewEntity), "127.0.0.1:4002") ||
		strings.Contains(string(u.OldEntity)+string(u.NewEntity), demoAuthToken) {
		t.Fatalf("channel update entry %+v: old %s new %s", u, u.OldEntity, u.NewEntity)
	}
}

// A demo database from before the demo had an agent: the next start
// creates the agent and gives it to the stage (one UPDATE). A stage whose
// agent an operator took away while the agent exists stays without one.
func TestEnsureDemoGivesAnOldStageItsAgent(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	now := time.Now().UTC()
	l, err := ensureDemo(ctx, st, envOf(nil), now)
	if err != nil {
		t.Fatal(err)
	}
	// Take the agent away (as the API would let an operator) and delete it.
	s := l.Stage
	s.AgentID = ""
	if err := st.UpdateStage(ctx, s, s.Version); err != nil {
		t.Fatal(err)
	}
	again, err := ensureDemo(ctx, st, envOf(nil), now)
	if err != nil || again.Stage.AgentID != "" {
		t.Fatalf("the operator's stage without an agent got %q back: %v", again.Stage.AgentID, err)
	}
	if err := st.DeleteAgent(ctx, l.Project.ID, l.Agent.ID, l.Agent.Version); err != nil {
		t.Fatal(err)
	}
	_, before, _ := st.ListAudit(ctx, store.ListOptions{})

	old, err := ensureDemo(ctx, st, envOf(nil), now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetStage(ctx, l.Project.ID, l.Stage.ID)
	if err != nil || got.AgentID == "" || got.AgentID != old.Agent.ID || old.Agent.ID == l.Agent.ID {
		t.Fatalf("stage agent %q, new agent %+v: %v", got.AgentID, old.Agent, err)
	}
	es, n, err := st.ListAudit(ctx, store.ListOptions{})
	if err != nil || n != before+2 {
		t.Fatalf("%d new audit entries, want 2 (agent created, stage updated): %v", n-before, err)
	}
	if es[0].Action != store.AuditUpdate || es[0].EntityID != l.Stage.ID || !strings.Contains(string(es[0].NewEntity), old.Agent.ID) ||
		es[1].Action != store.AuditCreate || es[1].EntityID != old.Agent.ID {
		t.Fatalf("entries %+v, %+v", es[0], es[1])
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s, %s", a, b)
	}
	return reflect.DeepEqual(x, y)
}
