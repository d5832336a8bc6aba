package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestProjects(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	e.do("POST", "/api/projects", tok, map[string]any{"description": "x"}).wantField("name")
	e.do("POST", "/api/projects", tok, map[string]any{"name": "   "}).wantField("name")
	e.do("POST", "/api/projects", tok, map[string]any{"name": 5}).wantField("name")

	// Bonsai's project fields are accepted and ignored.
	r := e.do("POST", "/api/projects", tok, map[string]any{
		"name": "Support line", "description": "SMS", "autoCreateUsers": true, "acceptVoice": false,
		"generateVoice": false, "timezone": "Europe/Berlin", "languageCode": "de-DE",
	}).want(http.StatusCreated)
	id := r.str("id")
	m := r.obj()
	if !strings.HasPrefix(id, "proj_") || m["name"] != "Support line" || m["description"] != "SMS" || r.version() != 1 {
		t.Fatalf("create = %s", r.body)
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		if _, ok := m[k].(string); !ok {
			t.Fatalf("no %s in %s", k, r.body)
		}
	}
	e.do("POST", "/api/projects", tok, map[string]any{"id": id, "name": "dup"}).wantError(http.StatusConflict)
	e.do("POST", "/api/projects", tok, map[string]any{"id": "my-project", "name": "chosen"}).want(http.StatusCreated)

	e.do("GET", "/api/projects/"+id, tok, nil).want(http.StatusOK)
	e.do("GET", "/api/projects/proj_nope", tok, nil).wantError(http.StatusNotFound)
	// Newest first: the project made second ("my-project") leads.
	if items := e.do("GET", "/api/projects?limit=1", tok, nil).items(2, 0, 1); len(items) != 1 || items[0]["id"] != "my-project" {
		t.Fatalf("page = %v", items)
	}
	if items := e.do("GET", "/api/projects?limit=1&orderBy=createdAt", tok, nil).items(2, 0, 1); len(items) != 1 || items[0]["id"] != id {
		t.Fatalf("oldest first = %v", items)
	}
	e.do("GET", "/api/projects?limit=1000", tok, nil).items(2, 0, 1000)
	e.do("GET", "/api/projects?limit=1001", tok, nil).wantField("limit") // Bonsai's maximum is 1000

	e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "x"}).wantField("version")
	e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "x", "version": "1"}).wantField("version")
	e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "x", "version": 2}).wantError(http.StatusConflict)
	u := e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "Renamed", "timezone": "UTC", "version": 1}).want(http.StatusOK)
	if u.str("name") != "Renamed" || u.str("description") != "SMS" || u.version() != 2 {
		t.Fatalf("update = %s", u.body)
	}
	e.do("DELETE", "/api/projects/"+id+"?version=1", tok, nil).wantError(http.StatusConflict)
	e.do("DELETE", "/api/projects/"+id+"?version=x", tok, nil).wantField("version")
	e.do("DELETE", "/api/projects/"+id+"?version=2", tok, nil).want(http.StatusNoContent)
	e.do("GET", "/api/projects/"+id, tok, nil).wantError(http.StatusNotFound)
}

func TestAgents(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	base := "/api/projects/" + pid + "/agents"
	e.do("POST", "/api/projects/proj_nope/agents", tok, map[string]any{"name": "a"}).wantError(http.StatusNotFound)
	e.do("POST", base, tok, map[string]any{"prompt": "You are kind."}).wantField("name")
	e.do("POST", base, tok, map[string]any{"name": "a", "prompt": 3}).wantField("prompt")

	r := e.do("POST", base, tok, map[string]any{"name": "Ava"}).want(http.StatusCreated)
	id := r.str("id")
	if !strings.HasPrefix(id, "agnt_") || r.str("projectId") != pid || r.str("prompt") != "" {
		t.Fatalf("create = %s", r.body)
	}
	e.do("GET", base, tok, nil).items(1, 0, 100)
	e.do("GET", "/api/projects/proj_nope/agents", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", base+"/"+id, tok, nil).want(http.StatusOK)
	other := e.project(tok, "other")
	e.do("GET", "/api/projects/"+other+"/agents/"+id, tok, nil).wantError(http.StatusNotFound)

	u := e.do("PUT", base+"/"+id, tok, map[string]any{"prompt": "You are Ava.", "version": 1}).want(http.StatusOK)
	if u.str("prompt") != "You are Ava." || u.str("name") != "Ava" || u.version() != 2 {
		t.Fatalf("update = %s", u.body)
	}
	e.do("PUT", base+"/"+id, tok, map[string]any{"prompt": "x", "version": 1}).wantError(http.StatusConflict)
	e.do("PUT", base+"/"+id, tok, map[string]any{"name": "", "version": 2}).wantField("name")
	e.do("DELETE", base+"/"+id, tok, map[string]any{"version": 1}).wantError(http.StatusConflict)
	e.do("DELETE", base+"/"+id, tok, map[string]any{"version": 2}).want(http.StatusNoContent)
	e.do("GET", base+"/"+id, tok, nil).wantError(http.StatusNotFound)
}

func TestStages(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	other := e.project(tok, "other")
	llm := e.scripted(tok)
	channel := e.twilio(tok)
	openai := e.do("POST", "/api/providers", tok, map[string]any{
		"name": "gpt", "apiType": "openai-legacy", "config": map[string]any{"apiKey": "sk-test"},
	}).want(http.StatusCreated).str("id")
	agent := e.do("POST", "/api/projects/"+pid+"/agents", tok, map[string]any{"name": "Ava", "prompt": "You are Ava."}).want(http.StatusCreated).str("id")
	foreign := e.do("POST", "/api/projects/"+other+"/agents", tok, map[string]any{"name": "Bob"}).want(http.StatusCreated).str("id")
	base := "/api/projects/" + pid + "/stages"

	bad := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"llmProviderId": llm}, "name"},
		{"no provider", map[string]any{"name": "s"}, "llmProviderId"},
		{"unknown provider", map[string]any{"name": "s", "llmProviderId": "prov_nope"}, "llmProviderId"},
		{"channel provider", map[string]any{"name": "s", "llmProviderId": channel}, "llmProviderId"},
		{"model required", map[string]any{"name": "s", "llmProviderId": openai}, "llmSettings.model"},
		{"unknown agent", map[string]any{"name": "s", "llmProviderId": llm, "agentId": "agnt_nope"}, "agentId"},
		{"agent of another project", map[string]any{"name": "s", "llmProviderId": llm, "agentId": foreign}, "agentId"},
		{"bad enterBehavior", map[string]any{"name": "s", "llmProviderId": llm, "enterBehavior": "shout"}, "enterBehavior"},
		{"zero timeout", map[string]any{"name": "s", "llmProviderId": llm, "llmSettings": map[string]any{"timeout": 0}}, "llmSettings.timeout"},
		{"timeout type", map[string]any{"name": "s", "llmProviderId": llm, "llmSettings": map[string]any{"timeout": "5s"}}, "llmSettings.timeout"},
		{"model type", map[string]any{"name": "s", "llmProviderId": openai, "llmSettings": map[string]any{"model": 4}}, "llmSettings.model"},
		{"temperature range", map[string]any{"name": "s", "llmProviderId": llm, "llmSettings": map[string]any{"defaultTemperature": 9}}, "llmSettings.defaultTemperature"},
		{"max tokens", map[string]any{"name": "s", "llmProviderId": llm, "llmSettings": map[string]any{"defaultMaxTokens": -1}}, "llmSettings.defaultMaxTokens"},
		{"metadata type", map[string]any{"name": "s", "llmProviderId": llm, "metadata": []int{1}}, "metadata"},
		{"llmSettings type", map[string]any{"name": "s", "llmProviderId": llm, "llmSettings": "fast"}, "llmSettings"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			e.do("POST", base, tok, tt.body).wantField(tt.field)
		})
	}
	e.do("POST", "/api/projects/proj_nope/stages", tok, map[string]any{"name": "s", "llmProviderId": llm}).wantError(http.StatusNotFound)

	// Scripted needs no model; enterBehavior defaults; Bonsai extras ignored.
	r := e.do("POST", base, tok, map[string]any{
		"name": "main", "prompt": "Be brief.", "llmProviderId": llm, "agentId": agent, "useKnowledge": true,
		"llmSettings": map[string]any{"timeout": 5000, "stream": true},
	}).want(http.StatusCreated)
	id := r.str("id")
	m := r.obj()
	if !strings.HasPrefix(id, "stag_") || m["enterBehavior"] != "await_user_input" || m["agentId"] != agent || m["projectId"] != pid {
		t.Fatalf("create = %s", r.body)
	}
	if ls := m["llmSettings"].(map[string]any); ls["timeout"] != float64(5000) {
		t.Fatalf("llmSettings = %v", ls)
	}
	full := e.do("POST", base, tok, map[string]any{
		"name": "gpt", "llmProviderId": openai, "enterBehavior": "generate_response", "metadata": map[string]any{"k": "v"},
		"llmSettings": map[string]any{"model": "gpt-4o-mini", "defaultTemperature": 0.2, "defaultMaxTokens": 300},
	}).want(http.StatusCreated).obj()
	if full["enterBehavior"] != "generate_response" || full["llmSettings"].(map[string]any)["model"] != "gpt-4o-mini" {
		t.Fatalf("create = %v", full)
	}

	e.do("GET", base, tok, nil).items(2, 0, 100)
	e.do("GET", base+"/"+id, tok, nil).want(http.StatusOK)
	e.do("GET", "/api/projects/"+other+"/stages/"+id, tok, nil).wantError(http.StatusNotFound)

	// Update merges: only present fields change; references re-checked.
	e.do("PUT", base+"/"+id, tok, map[string]any{"prompt": "x"}).wantField("version")
	e.do("PUT", base+"/"+id, tok, map[string]any{"llmProviderId": openai, "version": 1}).wantField("llmSettings.model")
	e.do("PUT", base+"/"+id, tok, map[string]any{"agentId": foreign, "version": 1}).wantField("agentId")
	e.do("PUT", base+"/"+id, tok, map[string]any{"prompt": "x", "version": 3}).wantError(http.StatusConflict)
	u := e.do("PUT", base+"/"+id, tok, map[string]any{
		"enterBehavior": "generate_response", "agentId": nil, "llmSettings": map[string]any{"defaultMaxTokens": 100}, "version": 1,
	}).want(http.StatusOK)
	um := u.obj()
	ls := um["llmSettings"].(map[string]any)
	if um["enterBehavior"] != "generate_response" || um["prompt"] != "Be brief." || um["agentId"] != nil ||
		ls["timeout"] != float64(5000) || ls["defaultMaxTokens"] != float64(100) || u.version() != 2 {
		t.Fatalf("update = %s", u.body)
	}
	u = e.do("PUT", base+"/"+id, tok, map[string]any{"llmSettings": map[string]any{"timeout": nil}, "version": 2}).want(http.StatusOK)
	if _, ok := u.obj()["llmSettings"].(map[string]any)["timeout"]; ok {
		t.Fatalf("timeout not reset: %s", u.body)
	}

	e.do("DELETE", base+"/"+id, tok, map[string]any{"version": 1}).wantError(http.StatusConflict)
	e.do("DELETE", base+"/"+id, tok, map[string]any{"version": 3}).want(http.StatusNoContent)
	e.do("GET", base+"/"+id, tok, nil).wantError(http.StatusNotFound)
}
