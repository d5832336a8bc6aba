package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestOperators(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()

	// Create: validation first.
	e.do("POST", "/api/operators", admin, map[string]any{"id": "ann", "name": "Ann", "password": "long-enough", "roles": []string{"wizard"}}).wantField("roles")
	e.do("POST", "/api/operators", admin, map[string]any{"id": "ann", "name": "Ann", "password": "long-enough"}).wantField("roles")
	e.do("POST", "/api/operators", admin, map[string]any{"id": "ann", "name": "Ann", "password": "short", "roles": []string{"viewer"}}).wantField("password")
	e.do("POST", "/api/operators", admin, map[string]any{"id": "ann", "name": "Ann", "password": "long-enough", "roles": "viewer"}).wantField("roles")
	e.do("POST", "/api/operators", admin, map[string]any{"id": "bad id", "name": "Ann", "password": "long-enough", "roles": []string{"viewer"}}).wantField("id")

	r := e.do("POST", "/api/operators", admin, map[string]any{
		"id": "ann", "name": "Ann", "password": "long-enough", "roles": []string{"viewer", "support", "viewer"}, "team": "ignored",
	}).want(http.StatusCreated)
	if strings.Contains(strings.ToLower(string(r.body)), "password") {
		t.Fatalf("create response mentions the password: %s", r.body)
	}
	if roles := r.obj()["roles"].([]any); len(roles) != 2 {
		t.Fatalf("roles not de-duplicated: %v", roles)
	}
	e.do("POST", "/api/operators", admin, map[string]any{"id": "ann", "name": "Ann", "password": "long-enough", "roles": []string{"viewer"}}).wantError(http.StatusConflict)

	// Generated ids carry the oper_ prefix.
	gen := e.do("POST", "/api/operators", admin, map[string]any{"name": "Gen", "password": "long-enough", "roles": []string{"viewer"}}).want(http.StatusCreated)
	if !strings.HasPrefix(gen.str("id"), "oper_") {
		t.Fatalf("generated id = %q", gen.str("id"))
	}

	// Read.
	items := e.do("GET", "/api/operators", admin, nil).items(3, 0, 100)
	if len(items) != 3 {
		t.Fatalf("list = %v", items)
	}
	page := e.do("GET", "/api/operators?offset=1&limit=1", admin, nil).items(3, 1, 1)
	if len(page) != 1 || page[0]["id"] != "ann" {
		t.Fatalf("page = %v", page)
	}
	got := e.do("GET", "/api/operators/ann", admin, nil).want(http.StatusOK)
	if got.str("name") != "Ann" || got.version() != 1 {
		t.Fatalf("get = %s", got.body)
	}
	e.do("GET", "/api/operators/nobody", admin, nil).wantError(http.StatusNotFound)

	// Update.
	e.do("PUT", "/api/operators/ann", admin, map[string]any{"name": "Ann B"}).wantField("version")
	e.do("PUT", "/api/operators/ann", admin, map[string]any{"name": "Ann B", "version": 9}).wantError(http.StatusConflict)
	e.do("PUT", "/api/operators/ann", admin, map[string]any{"roles": []string{"king"}, "version": 1}).wantField("roles")
	e.do("PUT", "/api/operators/ann", admin, map[string]any{"isActive": "no", "version": 1}).wantField("isActive")
	e.do("PUT", "/api/operators/nobody", admin, map[string]any{"version": 1}).wantError(http.StatusNotFound)
	up := e.do("PUT", "/api/operators/ann", admin, map[string]any{
		"name": "Ann B", "roles": []string{"developer"}, "password": "new-password", "version": 1,
	}).want(http.StatusOK)
	if up.str("name") != "Ann B" || up.version() != 2 {
		t.Fatalf("update = %s", up.body)
	}
	e.do("POST", "/api/auth/login", "", map[string]any{"id": "ann", "password": "long-enough"}).wantError(http.StatusUnauthorized)
	annTok := e.login("ann", "new-password")
	e.do("POST", "/api/providers", annTok, map[string]any{}).wantField("name") // developer now
	e.do("GET", "/api/operators", annTok, nil).wantError(http.StatusForbidden)

	// Admins cannot lock themselves out.
	av := e.do("GET", "/api/operators/admin", admin, nil).want(http.StatusOK).version()
	e.do("PUT", "/api/operators/admin", admin, map[string]any{"isActive": false, "version": av}).wantError(http.StatusConflict)
	e.do("PUT", "/api/operators/admin", admin, map[string]any{"roles": []string{"viewer"}, "version": av}).wantError(http.StatusConflict)
	e.do("DELETE", "/api/operators/admin", admin, map[string]any{"version": av}).wantError(http.StatusConflict)

	// Delete, by body and by query.
	e.do("DELETE", "/api/operators/ann", admin, nil).wantField("version")
	e.do("DELETE", "/api/operators/ann", admin, map[string]any{"version": 1}).wantError(http.StatusConflict)
	e.do("DELETE", "/api/operators/ann", admin, map[string]any{"version": 2}).want(http.StatusNoContent)
	e.do("GET", "/api/operators/ann", admin, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects", annTok, nil).wantError(http.StatusUnauthorized)
	e.do("DELETE", "/api/operators/"+gen.str("id")+"?version=1", admin, nil).want(http.StatusNoContent)
	e.do("DELETE", "/api/operators/"+gen.str("id")+"?version=1", admin, nil).wantError(http.StatusNotFound)
}
