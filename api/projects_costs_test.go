package api

import (
	"net/http"
	"testing"
)

// TestProjectCostManagementConfig: Bonsai's project token caps are kept
// (normalised), absent keeps them, null removes them, and a bad config is
// a 400 naming the field that changes nothing.
func TestProjectCostManagementConfig(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	r := e.do("POST", "/api/projects", tok, map[string]any{"name": "plain"}).want(http.StatusCreated)
	if v, ok := r.obj()["costManagementConfig"]; !ok || v != nil {
		t.Fatalf("costManagementConfig of a new project = %v (present %v), want null", v, ok)
	}
	caps := map[string]any{"limits": map[string]any{"*": map[string]any{"*": map[string]any{
		"inputTokensLimits": map[string]any{"completion": 1000}, "outputTokensLimits": map[string]any{"completion": 200}, "unknown": 1}}}}
	r = e.do("POST", "/api/projects", tok, map[string]any{"name": "capped", "costManagementConfig": caps}).want(http.StatusCreated)
	id := r.str("id")
	const want = `{"limits":{"*":{"*":{"outputTokensLimits":{"completion":200},"inputTokensLimits":{"completion":1000}}}}}`
	if got := string(e.do("GET", "/api/projects/"+id, tok, nil).want(http.StatusOK).raw("costManagementConfig")); got != want {
		t.Fatalf("stored caps %s, want %s", got, want)
	}
	for _, bad := range []struct {
		value any
		field string
	}{
		{map[string]any{}, "costManagementConfig.limits"},
		{"caps", "costManagementConfig"},
		{map[string]any{"limits": map[string]any{"*": map[string]any{"*": map[string]any{"inputTokensLimits": map[string]any{"completion": 0}}}}},
			"costManagementConfig.limits.*.*.inputTokensLimits.completion"},
	} {
		e.do("POST", "/api/projects", tok, map[string]any{"name": "x", "costManagementConfig": bad.value}).wantField(bad.field)
		e.do("PUT", "/api/projects/"+id, tok, map[string]any{"costManagementConfig": bad.value, "name": "changed", "version": 1}).wantField(bad.field)
	}
	if got := e.do("GET", "/api/projects/"+id, tok, nil).want(http.StatusOK); got.version() != 1 || string(got.raw("costManagementConfig")) != want {
		t.Fatalf("a refused update changed the project: %s", got.body)
	}
	if u := e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "renamed", "version": 1}).want(http.StatusOK); string(u.raw("costManagementConfig")) != want {
		t.Fatalf("absent caps changed them: %s", u.body)
	}
	if u := e.do("PUT", "/api/projects/"+id, tok, map[string]any{"costManagementConfig": nil, "version": 2}).want(http.StatusOK); string(u.raw("costManagementConfig")) != "null" {
		t.Fatalf("null did not remove the caps: %s", u.body)
	}
}
