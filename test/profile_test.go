package test

import (
	"net/http"
	"testing"
)

// wantKeys fails unless body has every key, with a non-empty value. The
// keys are Bonsai's documented contract (docs/api/authentication.md,
// docs/api/operators.md and its console's generated data-contracts.ts),
// not Switchboard's output.
func wantKeys(t *testing.T, what string, body map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, ok := body[k]
		if !ok || v == nil || v == "" {
			t.Fatalf("%s: %q missing or empty in %v", what, k, body)
		}
	}
}

// Bonsai's admin console (issue 14 #3, #4) against the real binary: it
// logs in and reads the flat identity fields, reads /api/profile on every
// page load, refreshes again and again with the refresh token of its
// login (it never stores another), edits the name and changes the
// password, and keeps working; the operator's other clients are signed
// out by the password change.
func TestConsoleSessionAndProfile(t *testing.T) {
	s := startServer(t, "", nil)
	admin := setupAdmin(t, s)
	call(t, s, "POST", "/api/operators", admin, map[string]any{
		"id": "ops", "name": "Ops", "password": "old-password", "roles": []string{"developer"},
	}).want(t, http.StatusCreated)

	console := login(t, s, "ops", "old-password").want(t, http.StatusOK)
	wantKeys(t, "login", console.body, "accessToken", "refreshToken", "expiresIn", "operatorId", "displayName", "roles", "permissions")
	if console.body["operatorId"] != "ops" || console.body["displayName"] != "Ops" {
		t.Fatalf("login identity: %v", console.body)
	}
	firstRefresh := console.str(t, "refreshToken")
	// Another client of the same operator (a script, another browser).
	other := login(t, s, "ops", "old-password").want(t, http.StatusOK)

	p := call(t, s, "GET", "/api/profile", console.str(t, "accessToken"), nil).want(t, http.StatusOK)
	wantKeys(t, "profile", p.body, "id", "name", "roles", "version", "createdAt", "updatedAt")
	if p.body["id"] != "ops" || p.body["name"] != "Ops" {
		t.Fatalf("profile: %v", p.body)
	}

	// Two refreshes with the first refresh token, as the console makes
	// them: both work, each access token works.
	access := ""
	for range 2 {
		r := call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": firstRefresh}).want(t, http.StatusOK)
		wantKeys(t, "refresh", r.body, "accessToken", "expiresIn", "roles", "permissions")
		access = r.str(t, "accessToken")
		call(t, s, "GET", "/api/profile", access, nil).want(t, http.StatusOK)
	}

	// Edit profile: the name.
	call(t, s, "POST", "/api/profile", access, map[string]any{"name": "Ops Team"}).want(t, http.StatusOK)
	if got := call(t, s, "GET", "/api/profile", access, nil).want(t, http.StatusOK).str(t, "name"); got != "Ops Team" {
		t.Fatalf("name after edit = %q", got)
	}

	// Edit profile: the password. The wrong current password is refused
	// and changes nothing.
	call(t, s, "POST", "/api/profile", access, map[string]any{"oldPassword": "not-the-password", "newPassword": "new-password"}).want(t, http.StatusBadRequest)
	call(t, s, "GET", "/api/projects", other.str(t, "accessToken"), nil).want(t, http.StatusOK)
	call(t, s, "POST", "/api/profile", access, map[string]any{"oldPassword": "old-password", "newPassword": "new-password"}).want(t, http.StatusOK)

	// The console carries on: its access token, and its first refresh
	// token once more.
	call(t, s, "GET", "/api/profile", access, nil).want(t, http.StatusOK)
	r := call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": firstRefresh}).want(t, http.StatusOK)
	call(t, s, "GET", "/api/profile", r.str(t, "accessToken"), nil).want(t, http.StatusOK)
	// The other client is signed out; the admin is not.
	call(t, s, "GET", "/api/projects", other.str(t, "accessToken"), nil).want(t, http.StatusUnauthorized)
	call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": other.str(t, "refreshToken")}).want(t, http.StatusUnauthorized)
	call(t, s, "GET", "/api/projects", admin, nil).want(t, http.StatusOK)
	// Only the new password logs in.
	login(t, s, "ops", "old-password").want(t, http.StatusUnauthorized)
	login(t, s, "ops", "new-password").want(t, http.StatusOK)

	// Logging out ends the console's session: every access token it was
	// given and its refresh token.
	call(t, s, "POST", "/api/auth/logout", access, nil).want(t, http.StatusNoContent)
	call(t, s, "GET", "/api/profile", r.str(t, "accessToken"), nil).want(t, http.StatusUnauthorized)
	call(t, s, "POST", "/api/auth/refresh", "", map[string]any{"refreshToken": firstRefresh}).want(t, http.StatusUnauthorized)
}
