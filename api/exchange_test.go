package api

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"switchboard/store"
	"switchboard/store/sqlite"
)

// decodeAs decodes the body into v.
func (r *result) decodeAs(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("decode %T: %v: %s", v, err, r.body)
	}
}

// byName indexes list items by their name.
func byName(t *testing.T, items []map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, it := range items {
		out[it["name"].(string)] = it
	}
	return out
}

// withoutMeta drops what an import changes of a record: its id, project,
// times and version.
func withoutMeta(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch k {
		case "id", "projectId", "createdAt", "updatedAt", "version":
		default:
			out[k] = v
		}
	}
	return out
}

// TestExchangeRoundTrip: a project exported and imported again is the
// same project with new ids — its agents, its stages on the same
// providers (each stage's own, even with two providers of one apiType),
// the stages' agents remapped — named as Bonsai names an import; the
// bundle carries no provider config or secret; every created record has
// its CREATE audit entry.
func TestExchangeRoundTrip(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	const secret = "sk-exchange-secret-0123456789"
	scripted := e.scripted(admin)
	openai := func(name string) string {
		return e.do("POST", "/api/providers", admin, map[string]any{
			"name": name, "providerType": "llm", "apiType": "openai-legacy", "config": map[string]any{"apiKey": secret},
		}).want(http.StatusCreated).str("id")
	}
	openai1, openai2 := openai("first"), openai("second")
	src := e.do("POST", "/api/projects", admin, map[string]any{"name": "Support line", "description": "the help desk", "timezone": "Europe/Warsaw"}).
		want(http.StatusCreated).str("id")
	agent := func(name, prompt string) string {
		return e.do("POST", "/api/projects/"+src+"/agents", admin, map[string]any{"name": name, "description": name + " desc", "prompt": prompt}).
			want(http.StatusCreated).str("id")
	}
	ann, bob := agent("Ann", "You are Ann."), agent("Bob", "You are Bob.")
	stage := func(body map[string]any) {
		e.do("POST", "/api/projects/"+src+"/stages", admin, body).want(http.StatusCreated)
	}
	stage(map[string]any{"name": "greet", "description": "d1", "prompt": "Hello {{agent.name}}", "llmProviderId": scripted, "agentId": ann,
		"enterBehavior": "generate_response", "metadata": map[string]any{"replyFormat": "plain", "owner": "ops"}})
	stage(map[string]any{"name": "help", "prompt": "Help.", "llmProviderId": openai2, "agentId": bob,
		"llmSettings": map[string]any{"model": "gpt-x", "defaultTemperature": 0.3, "defaultMaxTokens": 300, "timeout": 9000, "maxInputTokens": 5000}})
	stage(map[string]any{"name": "bare", "prompt": "", "llmProviderId": openai1, "llmSettings": map[string]any{"model": "gpt-y"}})
	other := e.project(admin, "other")
	e.stage(admin, other, scripted)

	ex := e.do("GET", "/api/projects/"+src+"/export", admin, nil).want(http.StatusOK)
	if strings.Contains(string(ex.body), secret) || strings.Contains(string(ex.body), `"config"`) || strings.Contains(string(ex.body), "••••") {
		t.Fatalf("export carries provider config: %s", ex.body)
	}
	var bundle map[string]any
	ex.decodeAs(&bundle)
	if bundle["formatVersion"] != float64(1) {
		t.Fatalf("formatVersion = %v", bundle["formatVersion"])
	}
	if at, _ := bundle["exportedAt"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at) {
		t.Fatalf("exportedAt = %q, want JavaScript's toISOString form", at)
	}
	for _, section := range bonsaiOnlySections {
		if l, ok := bundle[section].([]any); !ok || len(l) != 0 {
			t.Fatalf("%s = %v, want []", section, bundle[section])
		}
	}
	proj := bundle["project"].(map[string]any)
	if proj["id"] != src || proj["name"] != "Support line" || proj["description"] != "the help desk" || proj["timezone"] != "Europe/Warsaw" {
		t.Fatalf("project = %v", proj)
	}
	if len(bundle["agents"].([]any)) != 2 || len(bundle["stages"].([]any)) != 3 {
		t.Fatalf("agents/stages = %v / %v", bundle["agents"], bundle["stages"])
	}
	for _, s := range bundle["stages"].([]any) {
		s := s.(map[string]any)
		if _, ok := s["llmProviderId"]; ok {
			t.Fatalf("stage carries its provider's id outside a hint: %v", s)
		}
		h := s["llmHint"].(map[string]any)
		want := map[string]map[string]any{
			"greet": {"type": "llm", "apiType": "scripted", "providerId": scripted},
			"help":  {"type": "llm", "apiType": "openai-legacy", "providerId": openai2},
			"bare":  {"type": "llm", "apiType": "openai-legacy", "providerId": openai1},
		}[s["name"].(string)]
		if !equalJSON(h, want) {
			t.Fatalf("stage %v: llmHint %v, want %v", s["name"], h, want)
		}
		if s["name"] == "greet" && s["agentId"] != ann || s["name"] == "bare" && s["agentId"] != "" {
			t.Fatalf("stage %v: agentId %v", s["name"], s["agentId"])
		}
	}

	// The source is archived before the import: an archived project
	// exports, and its copy is active.
	e.do("POST", "/api/projects/"+src+"/archive", admin, map[string]any{"version": 1}).want(http.StatusOK)
	e.do("GET", "/api/projects/"+src+"/export", admin, nil).want(http.StatusOK)

	e.advance(time.Minute)
	imp := e.do("POST", "/api/projects/import", admin, ex.body).want(http.StatusCreated)
	var res importResult
	imp.decodeAs(&res)
	if res.Counts != (importCounts{Agents: 2, Stages: 3}) {
		t.Fatalf("counts = %+v", res.Counts)
	}
	for _, section := range bonsaiOnlySections {
		if n, ok := res.Ignored[section]; !ok || n != 0 {
			t.Fatalf("ignored = %v", res.Ignored)
		}
	}
	if len(res.ProviderResolution) != 3 {
		t.Fatalf("providerResolution = %+v", res.ProviderResolution)
	}
	for _, pr := range res.ProviderResolution {
		if !pr.Resolved || pr.ResolvedProviderID == nil || *pr.ResolvedProviderID != pr.Hint.ProviderID || len(pr.Targets) != 1 ||
			pr.Targets[0].EntityType != "stage" || pr.Targets[0].Field != "llmProviderId" {
			t.Fatalf("resolution %+v", pr)
		}
	}
	dst := res.ProjectID
	if dst == src || !strings.HasPrefix(dst, store.PrefixProject) {
		t.Fatalf("projectId = %q", dst)
	}

	// The copy equals the original but for its ids and name.
	orig := e.do("GET", "/api/projects/"+src, admin, nil).want(http.StatusOK).obj()
	cp := e.do("GET", "/api/projects/"+dst, admin, nil).want(http.StatusOK).obj()
	wantName := "Support line (imported " + e.now().UTC().Format("2006-01-02 15:04:05") + " UTC)"
	if cp["name"] != wantName || cp["description"] != orig["description"] || cp["timezone"] != orig["timezone"] ||
		cp["archivedAt"] != nil || cp["archivedBy"] != nil || cp["version"] != float64(1) {
		t.Fatalf("copy %v of %v; want name %q", cp, orig, wantName)
	}
	origAgents := byName(t, e.do("GET", "/api/projects/"+src+"/agents", admin, nil).items(2, 0, 100))
	cpAgents := byName(t, e.do("GET", "/api/projects/"+dst+"/agents", admin, nil).items(2, 0, 100))
	newAgentID := map[string]string{}
	for name, a := range origAgents {
		c := cpAgents[name]
		if c == nil || !equalJSON(withoutMeta(c), withoutMeta(a)) || c["id"] == a["id"] || c["projectId"] != dst {
			t.Fatalf("agent %s: copy %v of %v", name, c, a)
		}
		newAgentID[a["id"].(string)] = c["id"].(string)
	}
	origStages := byName(t, e.do("GET", "/api/projects/"+src+"/stages", admin, nil).items(3, 0, 100))
	cpStages := byName(t, e.do("GET", "/api/projects/"+dst+"/stages", admin, nil).items(3, 0, 100))
	for name, s := range origStages {
		c := cpStages[name]
		want := withoutMeta(s)
		if a, ok := s["agentId"].(string); ok {
			want["agentId"] = newAgentID[a]
		}
		if c == nil || !equalJSON(withoutMeta(c), want) || c["id"] == s["id"] || c["projectId"] != dst {
			t.Fatalf("stage %s: copy %v, want %v", name, c, want)
		}
	}
	// Exported again, the copy is the same bundle but for ids and name.
	var again map[string]any
	e.do("GET", "/api/projects/"+dst+"/export", admin, nil).want(http.StatusOK).decodeAs(&again)
	if len(again["agents"].([]any)) != 2 || len(again["stages"].([]any)) != 3 {
		t.Fatalf("export of the copy: %v", again)
	}

	// Every created record has the API's CREATE entry, by the importer.
	var entries []map[string]any
	e.do("GET", "/api/audit-logs?filters[projectId]="+dst+"&limit=100", admin, nil).want(http.StatusOK).decodeAs(&struct {
		Items *[]map[string]any `json:"items"`
	}{&entries})
	got := map[string]int{}
	for _, en := range entries {
		if en["action"] != "CREATE" || en["userId"] != "admin" || en["newEntity"] == nil || en["newEntity"].(map[string]any)["id"] != en["entityId"] {
			t.Fatalf("entry %v", en)
		}
		got[en["entityType"].(string)]++
	}
	if got["project"] != 1 || got["agent"] != 2 || got["stage"] != 3 || len(entries) != 6 {
		t.Fatalf("audit entries by type %v (%d)", got, len(entries))
	}
	var projEntry []map[string]any
	e.do("GET", "/api/projects/"+dst+"/audit-logs", admin, nil).want(http.StatusOK).decodeAs(&projEntry)
	if len(projEntry) != 1 || projEntry[0]["newEntity"].(map[string]any)["name"] != wantName {
		t.Fatalf("project audit %v", projEntry)
	}
}

// equalJSON compares two values by their JSON.
func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestExchangeBonsaiBundle: a bundle as Bonsai's own export writes it (from
// Bonsai's ProjectExchangeBundleV1 schema, with every section Switchboard
// does not have) imports: hints resolve as Bonsai resolves them — by type
// and apiType, else to the oldest LLM provider — Bonsai's fields and
// sections Switchboard lacks are skipped and counted, and a stage without
// enterBehavior gets Bonsai's import default.
func TestExchangeBonsaiBundle(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	scripted := e.scripted(admin)
	openai := e.do("POST", "/api/providers", admin, map[string]any{
		"name": "oa", "providerType": "llm", "apiType": "openai", "config": map[string]any{"apiKey": "sk-bonsai-0123456789"},
	}).want(http.StatusCreated).str("id")
	e.twilio(admin) // a channel provider is never an LLM hint's answer
	raw, err := os.ReadFile("testdata/bonsai_project_export.json")
	if err != nil {
		t.Fatal(err)
	}
	var res importResult
	e.do("POST", "/api/projects/import", admin, raw).want(http.StatusCreated).decodeAs(&res)
	if res.Counts != (importCounts{Agents: 2, Stages: 2}) {
		t.Fatalf("counts = %+v", res.Counts)
	}
	wantIgnored := map[string]int{"classifiers": 1, "contextTransformers": 1, "tools": 2, "globalActions": 1, "guardrails": 1,
		"knowledgeCategories": 1, "knowledgeItems": 2}
	if !equalJSON(res.Ignored, wantIgnored) {
		t.Fatalf("ignored = %v, want %v", res.Ignored, wantIgnored)
	}
	stages := byName(t, e.do("GET", "/api/projects/"+res.ProjectID+"/stages", admin, nil).items(2, 0, 100))
	agents := byName(t, e.do("GET", "/api/projects/"+res.ProjectID+"/agents", admin, nil).items(2, 0, 100))
	want := []hintResolution{
		{Hint: providerHint{Type: "llm", APIType: "openai"}, ResolvedProviderID: &openai, Resolved: true,
			Targets: []hintTarget{{"stage", stages["Order"]["id"].(string), "Order", "llmProviderId"}}},
		{Hint: providerHint{Type: "llm", APIType: "anthropic", PreferredModel: "claude-sonnet-4-5"}, ResolvedProviderID: &scripted, Resolved: true,
			Targets: []hintTarget{{"stage", stages["Ingredients"]["id"].(string), "Ingredients", "llmProviderId"}}},
	}
	if !equalJSON(res.ProviderResolution, want) {
		t.Fatalf("providerResolution = %+v, want %+v", res.ProviderResolution, want)
	}

	p := e.do("GET", "/api/projects/"+res.ProjectID, admin, nil).want(http.StatusOK).obj()
	if !strings.HasPrefix(p["name"].(string), "Pizzeria bot (imported ") || p["description"] != "Takes orders and answers questions" || p["timezone"] != "Europe/Warsaw" {
		t.Fatalf("project %v", p)
	}
	marco, chef := agents["Marco"], agents["Chef"]
	if marco["prompt"] != "You are Marco, a friendly waiter at {{project.name}}." || marco["description"] != "Friendly waiter" || chef["description"] != "" {
		t.Fatalf("agents %v", agents)
	}
	order, ingr := stages["Order"], stages["Ingredients"]
	wantOrder := map[string]any{"name": "Order", "description": "Takes the order", "prompt": "Take the customer's pizza order. Be brief.",
		"llmProviderId": openai, "llmSettings": map[string]any{"model": "gpt-4.1", "defaultTemperature": 0.4, "defaultMaxTokens": 400, "timeout": 20000},
		"agentId": marco["id"], "enterBehavior": "await_user_input", "metadata": map[string]any{"owner": "ops"}}
	if !equalJSON(withoutMeta(order), wantOrder) {
		t.Fatalf("stage Order = %v, want %v", withoutMeta(order), wantOrder)
	}
	if ingr["llmProviderId"] != scripted || ingr["agentId"] != chef["id"] || ingr["enterBehavior"] != "generate_response" || ingr["description"] != "" {
		t.Fatalf("stage Ingredients = %v", ingr)
	}
	// None of Bonsai's sections became anything: their lists stay empty.
	e.do("GET", "/api/projects/"+res.ProjectID+"/classifiers", admin, nil).items(0, 0, 100)
}

// TestExchangeBadBundles: a malformed bundle, or one Switchboard cannot
// store, is a 400 naming the place in the bundle, and nothing is created
// — not the project, not an agent of a bundle whose last stage is wrong,
// no audit entry.
func TestExchangeBadBundles(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.scripted(admin)
	e.do("POST", "/api/providers", admin, map[string]any{
		"name": "oa", "providerType": "llm", "apiType": "openai-legacy", "config": map[string]any{"apiKey": "sk-bad-0123456789"},
	}).want(http.StatusCreated)

	// valid returns a good bundle changed by edit.
	valid := func(edit func(b map[string]any)) map[string]any {
		b := map[string]any{
			"formatVersion": 1, "exportedAt": "2026-11-30T09:41:12.345Z",
			"project": map[string]any{"id": "p1", "name": "P", "timezone": nil},
			"agents":  []any{map[string]any{"id": "a1", "name": "A", "prompt": "p"}},
			"stages": []any{
				map[string]any{"id": "s1", "name": "S", "prompt": "p", "agentId": "a1", "llmHint": map[string]any{"type": "llm", "apiType": "scripted"}},
				map[string]any{"id": "s2", "name": "T", "prompt": "p", "agentId": "", "llmHint": map[string]any{"type": "llm", "apiType": "openai-legacy"},
					"llmSettings": map[string]any{"model": "m"}},
			},
			"classifiers": []any{},
		}
		if edit != nil {
			edit(b)
		}
		return b
	}
	stage := func(b map[string]any, i int) map[string]any { return b["stages"].([]any)[i].(map[string]any) }
	agent := func(b map[string]any, i int) map[string]any { return b["agents"].([]any)[i].(map[string]any) }
	e.do("POST", "/api/projects/import", admin, valid(nil)).want(http.StatusCreated) // the base is good

	// Projects and audit entries (an agent or stage cannot outlive its
	// project: the foreign keys cascade).
	countAll := func() (n int) {
		for _, path := range []string{"/api/projects", "/api/projects?archived=true", "/api/audit-logs"} {
			var l struct{ Total int }
			e.do("GET", path, admin, nil).want(http.StatusOK).decodeAs(&l)
			n += l.Total
		}
		return n
	}
	before := countAll()

	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"not an object", `[1]`, ""},
		{"no formatVersion", valid(func(b map[string]any) { delete(b, "formatVersion") }), "formatVersion"},
		{"formatVersion 2", valid(func(b map[string]any) { b["formatVersion"] = 2 }), "formatVersion"},
		{"formatVersion a string", valid(func(b map[string]any) { b["formatVersion"] = "1" }), "formatVersion"},
		{"no exportedAt", valid(func(b map[string]any) { delete(b, "exportedAt") }), "exportedAt"},
		{"exportedAt not a time", valid(func(b map[string]any) { b["exportedAt"] = "yesterday" }), "exportedAt"},
		{"no project", valid(func(b map[string]any) { delete(b, "project") }), "project"},
		{"project an array", valid(func(b map[string]any) { b["project"] = []any{} }), "project"},
		{"project without id", valid(func(b map[string]any) { delete(b["project"].(map[string]any), "id") }), "project.id"},
		{"project name empty", valid(func(b map[string]any) { b["project"].(map[string]any)["name"] = "" }), "project.name"},
		{"project name a number", valid(func(b map[string]any) { b["project"].(map[string]any)["name"] = 5 }), "project.name"},
		{"project timezone unknown", valid(func(b map[string]any) { b["project"].(map[string]any)["timezone"] = "Mars/Olympus" }), "project.timezone"},
		{"no agents", valid(func(b map[string]any) { delete(b, "agents") }), "agents"},
		{"agents null", valid(func(b map[string]any) { b["agents"] = nil }), "agents"},
		{"agents an object", valid(func(b map[string]any) { b["agents"] = map[string]any{} }), "agents"},
		{"agent a string", valid(func(b map[string]any) { b["agents"] = []any{"a1"} }), "agents[0]"},
		{"agent without id", valid(func(b map[string]any) { delete(agent(b, 0), "id") }), "agents[0].id"},
		{"agent without prompt", valid(func(b map[string]any) { delete(agent(b, 0), "prompt") }), "agents[0].prompt"},
		{"agent name with a line break", valid(func(b map[string]any) { agent(b, 0)["name"] = "a\nb" }), "agents[0].name"},
		{"two agents with one id", valid(func(b map[string]any) {
			b["agents"] = append(b["agents"].([]any), map[string]any{"id": "a1", "name": "B", "prompt": ""})
		}), "agents[1].id"},
		{"no stages", valid(func(b map[string]any) { delete(b, "stages") }), "stages"},
		{"stage without name", valid(func(b map[string]any) { delete(stage(b, 1), "name") }), "stages[1].name"},
		{"stage without prompt", valid(func(b map[string]any) { delete(stage(b, 1), "prompt") }), "stages[1].prompt"},
		{"two stages with one id", valid(func(b map[string]any) { stage(b, 1)["id"] = "s1" }), "stages[1].id"},
		{"stage of an agent not in the bundle", valid(func(b map[string]any) { stage(b, 1)["agentId"] = "agnt_elsewhere" }), "stages[1].agentId"},
		{"stage without llmHint", valid(func(b map[string]any) { stage(b, 1)["llmHint"] = nil }), "stages[1].llmHint"},
		{"stage with a tts hint", valid(func(b map[string]any) {
			stage(b, 1)["llmHint"] = map[string]any{"type": "tts", "apiType": "elevenlabs"}
		}), "stages[1].llmHint.type"},
		{"hint without apiType", valid(func(b map[string]any) { stage(b, 1)["llmHint"] = map[string]any{"type": "llm"} }), "stages[1].llmHint.apiType"},
		{"hint a string", valid(func(b map[string]any) { stage(b, 1)["llmHint"] = "openai" }), "stages[1].llmHint"},
		{"llmSettings.timeout a string", valid(func(b map[string]any) { stage(b, 1)["llmSettings"] = map[string]any{"model": "m", "timeout": "5s"} }), "stages[1].llmSettings.timeout"},
		{"llmSettings.defaultTemperature 3", valid(func(b map[string]any) {
			stage(b, 1)["llmSettings"] = map[string]any{"model": "m", "defaultTemperature": 3}
		}), "stages[1].llmSettings.defaultTemperature"},
		{"no model for an openai-legacy provider", valid(func(b map[string]any) { delete(stage(b, 1), "llmSettings") }), "stages[1].llmSettings.model"},
		{"enterBehavior unknown", valid(func(b map[string]any) { stage(b, 1)["enterBehavior"] = "wait" }), "stages[1].enterBehavior"},
		{"metadata a list", valid(func(b map[string]any) { stage(b, 1)["metadata"] = []any{1} }), "stages[1].metadata"},
		{"replyFormat unknown", valid(func(b map[string]any) { stage(b, 1)["metadata"] = map[string]any{"replyFormat": "html"} }), "stages[1].metadata.replyFormat"},
		{"prompt not a template", valid(func(b map[string]any) { stage(b, 1)["prompt"] = "{{#if x}}" }), "stages[1].prompt"},
		{"classifiers not an array", valid(func(b map[string]any) { b["classifiers"] = map[string]any{} }), "classifiers"},
		{"classifiers null", valid(func(b map[string]any) { b["classifiers"] = nil }), "classifiers"},
		{"a tool not an object", valid(func(b map[string]any) { b["tools"] = []any{map[string]any{}, 7} }), "tools[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/api/projects/import", admin, c.body)
			if c.field == "" {
				r.wantError(http.StatusBadRequest)
				return
			}
			r.wantField(c.field)
			if msg := r.str("error"); !strings.HasPrefix(msg, c.field+": ") {
				t.Fatalf("message %q does not start with the field", msg)
			}
		})
	}
	if after := countAll(); after != before {
		t.Fatalf("records and audit entries: %d after the bad bundles, %d before", after, before)
	}

	// A server with no LLM provider at all cannot resolve a hint: Bonsai
	// would leave the stage without a provider; Switchboard's stage needs
	// one.
	bare := newEnv(t)
	tok := bare.setup()
	msg := bare.do("POST", "/api/projects/import", tok, valid(nil)).wantError(http.StatusBadRequest)
	if !strings.Contains(msg, "stages[0].llmHint") || !strings.Contains(msg, "POST /api/providers") {
		t.Fatalf("message %q", msg)
	}
	bare.do("GET", "/api/projects", tok, nil).items(0, 0, 100)

	// Wrong media type and a body over the import's limit.
	r := e.do("POST", "/api/projects/import", admin, nil)
	r.wantError(http.StatusBadRequest)
	big := valid(func(b map[string]any) {
		b["knowledgeItems"] = []any{map[string]any{"answer": strings.Repeat("x", maxImportBytes)}}
	})
	e.do("POST", "/api/projects/import", admin, big).wantError(http.StatusRequestEntityTooLarge)
	// A bundle over the 1 MiB of other requests but within the import's
	// limit (a Bonsai knowledge base) imports.
	kb := valid(func(b map[string]any) {
		b["knowledgeItems"] = []any{map[string]any{"id": "k", "categoryId": "c", "question": "q", "answer": strings.Repeat("x", 2<<20)}}
	})
	e.do("POST", "/api/projects/import", admin, kb).want(http.StatusCreated)
}

// TestExchangePermissions: export needs project:read (and the agents and
// stages it holds), import project:write (and agent:write, stage:write),
// as Bonsai's; an unknown project is 404; the routes are no longer
// caught by /projects/{id}.
func TestExchangePermissions(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}
	New(st, nil, Options{BcryptCost: bcrypt.MinCost, Now: e.now, Registerer: reg}).Register(e.router)
	admin := e.setup()
	provider := e.scripted(admin)
	p := e.project(admin, "p")
	e.stage(admin, p, provider)
	tokens := map[string]string{}
	for _, role := range Roles() {
		tokens[role] = e.operator(admin, "op-"+strings.ReplaceAll(role, "_", "-"), role)
	}
	ex := e.do("GET", "/api/projects/"+p+"/export", admin, nil).want(http.StatusOK).body
	for _, role := range Roles() {
		exp := e.do("GET", "/api/projects/"+p+"/export", tokens[role], nil)
		imp := e.do("POST", "/api/projects/import", tokens[role], ex)
		canWrite := slices.Contains([]string{RoleSuperAdmin, RoleDeveloper, RoleContentManager}, role)
		exp.want(http.StatusOK)
		if canWrite {
			imp.want(http.StatusCreated)
		} else if msg := imp.wantError(http.StatusForbidden); !strings.Contains(msg, "project:write") {
			t.Fatalf("%s: %s", role, msg)
		}
	}
	e.do("GET", "/api/projects/"+p+"/export", "", nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/projects/import", "", ex).wantError(http.StatusUnauthorized)
	e.do("GET", "/api/projects/proj_nope/export", admin, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/import", admin, nil).wantError(http.StatusNotFound) // a project named "import"
	e.do("PUT", "/api/projects/import", admin, `{"version":1}`).wantError(http.StatusNotFound)
	e.do("POST", "/api/projects/"+p+"/export", admin, nil).wantError(http.StatusMethodNotAllowed)
	e.do("POST", "/api/projects/import", admin, `{}`).wantError(http.StatusBadRequest)

	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		// Refusals before the handler (no token, a missing route
		// permission) are not the exchange's: they are not counted.
		{"export", "ok", 6}, {"export", "rejected", 1}, {"import", "ok", 3}, {"import", "rejected", 1}, {"import", "failed", 0},
	} {
		if got, _ := counter(t, reg, "switchboard_project_exchange_total", map[string]string{"operation": c.op, "outcome": c.outcome}); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.op, c.outcome, got, c.want)
		}
	}
}
