package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRBAC drives one representative route per permission with an operator
// of each role. Allowed requests are built to fail after the permission
// check with a known status (400 for an empty body, 404 for a missing id),
// so "allowed" is observable without side effects.
func TestRBAC(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	pid := e.project(admin, "p")

	// The RBAC table, written out independently of rbac.go; the second
	// line of each role is Bonsai's grants (src/permissions.ts) of its
	// features Switchboard answers empty (bonsai_only.go).
	const content = "classifier:%[1]s context_transformer:%[1]s tool:%[1]s global_action:%[1]s guardrail:%[1]s sample_copy:%[1]s copy_decorator:%[1]s knowledge:%[1]s "
	granted := map[string]string{
		"super_admin": "provider:rwd api_key:rwd project:rwd agent:rwd stage:rwd conversation:rwd operator:rwd audit:r " +
			fmt.Sprintf(content, "rwd") + "environment:rwd issue:rwd migration:i user:rwd",
		"developer": "provider:rwd api_key:rwd project:rwd agent:rwd stage:rwd conversation:rwd audit:r " +
			fmt.Sprintf(content, "r") + "issue:r user:r",
		"content_manager": "provider:r api_key:r project:rwd agent:rwd stage:rwd conversation:rwd audit:r " +
			fmt.Sprintf(content, "rw") + "user:rw",
		"support": "project:r agent:r stage:r conversation:rw audit:r " +
			"issue:rw user:rw",
		"viewer": "provider:r api_key:r project:r agent:r stage:r conversation:r audit:r " +
			fmt.Sprintf(content, "r") + "issue:r user:r",
	}
	allows := func(role, permission string) bool {
		ent, act, _ := strings.Cut(permission, ":")
		for _, g := range strings.Fields(granted[role]) {
			e2, acts, _ := strings.Cut(g, ":")
			if e2 == ent && strings.Contains(acts, act[:1]) {
				return true
			}
		}
		return false
	}

	type route struct {
		permission, method, path string
		body                     any
		allowedStatus            int
	}
	pp := "/api/projects/" + pid
	routes := []route{
		{"provider:read", "GET", "/api/providers", nil, 200},
		{"provider:write", "POST", "/api/providers", map[string]any{}, 400},
		{"provider:delete", "DELETE", "/api/providers/nope?version=1", nil, 404},
		{"api_key:read", "GET", "/api/api-keys", nil, 200},
		{"api_key:write", "POST", "/api/api-keys", map[string]any{}, 400},
		{"api_key:delete", "DELETE", "/api/api-keys/nope?version=1", nil, 404},
		{"project:read", "GET", "/api/projects", nil, 200},
		{"project:write", "POST", "/api/projects", map[string]any{}, 400},
		{"project:delete", "DELETE", "/api/projects/nope?version=1", nil, 404},
		{"project:write", "POST", "/api/projects/nope/archive", map[string]any{"version": 1}, 404},
		{"project:write", "POST", "/api/projects/nope/unarchive", map[string]any{"version": 1}, 404},
		{"agent:read", "GET", pp + "/agents", nil, 200},
		{"agent:write", "POST", pp + "/agents", map[string]any{}, 400},
		{"agent:delete", "DELETE", pp + "/agents/nope?version=1", nil, 404},
		{"stage:read", "GET", pp + "/stages", nil, 200},
		{"stage:write", "POST", pp + "/stages", map[string]any{}, 400},
		{"stage:delete", "DELETE", pp + "/stages/nope?version=1", nil, 404},
		{"conversation:read", "GET", pp + "/conversations", nil, 200},
		{"conversation:read", "GET", pp + "/conversations/nope/events/1", nil, 404},
		{"conversation:delete", "DELETE", pp + "/conversations/nope?version=1", nil, 404},
		{"operator:read", "GET", "/api/operators", nil, 200},
		{"operator:write", "POST", "/api/operators", map[string]any{}, 400},
		{"operator:delete", "DELETE", "/api/operators/nope?version=1", nil, 404},
		{"audit:read", "GET", "/api/audit-logs", nil, 200},
		// A per-entity audit route also needs read permission on the
		// entity (every role has audit:read): support may not read
		// providers, nor their audit entries.
		{"provider:read", "GET", "/api/providers/nope/audit-logs", nil, 200},
		{"operator:read", "GET", "/api/operators/nope/audit-logs", nil, 200},
		// Bonsai's features Switchboard answers empty: a list is a page, a
		// change refused (400), one per permission entity.
		{"classifier:read", "GET", pp + "/classifiers", nil, 200},
		{"classifier:write", "POST", pp + "/classifiers", map[string]any{}, 400},
		{"classifier:delete", "DELETE", pp + "/classifiers/nope", nil, 400},
		{"context_transformer:read", "GET", pp + "/context-transformers", nil, 200},
		{"tool:write", "PUT", pp + "/tools/nope", map[string]any{}, 400},
		{"global_action:read", "GET", pp + "/global-actions/nope", nil, 404},
		{"guardrail:write", "POST", pp + "/guardrails/nope/clone", nil, 400},
		{"sample_copy:read", "GET", pp + "/sample-copies", nil, 200},
		{"copy_decorator:delete", "DELETE", pp + "/copy-decorators/nope", nil, 400},
		{"knowledge:read", "GET", pp + "/knowledge/items", nil, 200},
		{"knowledge:write", "POST", pp + "/knowledge/categories", map[string]any{}, 400},
		{"environment:read", "GET", "/api/environments", nil, 200},
		{"environment:write", "POST", "/api/environments", map[string]any{}, 400},
		{"migration:import", "GET", "/api/environments/nope/migration/scope", nil, 404},
		{"issue:read", "GET", "/api/issues", nil, 200},
		{"issue:write", "POST", "/api/issues", map[string]any{}, 400},
		{"issue:delete", "DELETE", "/api/issues/nope", nil, 400},
		{"classifier:read", "GET", pp + "/classifiers/nope/audit-logs", nil, 200},
		// Users (users.go): read, and changes refused (400) to whoever
		// Bonsai lets make them.
		{"user:read", "GET", pp + "/users", nil, 200},
		{"user:read", "GET", pp + "/users/nope", nil, 404},
		{"user:write", "POST", pp + "/users", map[string]any{}, 400},
		{"user:write", "PUT", pp + "/users/nope", map[string]any{}, 400},
		{"user:delete", "DELETE", pp + "/users/nope", nil, 400},
		{"user:read", "GET", pp + "/users/nope/audit-logs", nil, 200},
	}

	for _, role := range Roles() {
		tok := e.operator(admin, "op-"+role, role)
		for _, rt := range routes {
			t.Run(fmt.Sprintf("%s/%s", role, rt.permission), func(t *testing.T) {
				outer := e.t
				e.t = t
				defer func() { e.t = outer }()
				r := e.do(rt.method, rt.path, tok, rt.body)
				if allows(role, rt.permission) {
					r.want(rt.allowedStatus)
					return
				}
				msg := r.wantError(http.StatusForbidden)
				if msg != "missing permission "+rt.permission {
					t.Fatalf("error = %q", msg)
				}
				d, _ := r.obj()["details"].(map[string]any)
				if d["permission"] != rt.permission {
					t.Fatalf("details = %v", r.obj()["details"])
				}
			})
		}
	}
}

// TestRBACTableMatchesPermissions checks the exported view of the table.
func TestRBACTableMatchesPermissions(t *testing.T) {
	tests := []struct {
		roles []string
		n     int
	}{
		// Switchboard's own, then Bonsai's features (bonsai_only.go),
		// then users (users.go).
		{[]string{"super_admin"}, 22 + 8*3 + 3 + 3 + 1 + 3},
		{[]string{"developer"}, 19 + 8 + 1 + 1},
		{[]string{"content_manager"}, 15 + 8*2 + 2},
		{[]string{"support"}, 6 + 2 + 2},
		{[]string{"viewer"}, 7 + 8 + 1 + 1},
		{[]string{"support", "viewer"}, 18 + 2},
		{[]string{"unknown"}, 0},
	}
	for _, tt := range tests {
		if got := Permissions(tt.roles); len(got) != tt.n {
			t.Errorf("Permissions(%v) = %v (%d), want %d", tt.roles, got, len(got), tt.n)
		}
	}
}
