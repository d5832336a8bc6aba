package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"switchboard/store"
)

// Bonsai's contracts, written from its docs/api/authentication.md and
// docs/api/operators.md and from the console's generated client
// (src/api/generated/data-contracts.ts: LoginResponse,
// RefreshTokenResponse, InitialOperatorSetupResponse, ProfileResponse) —
// not from Switchboard's output. Each key maps to its JSON kind.
var (
	bonsaiLogin = map[string]string{
		"accessToken": "string", "refreshToken": "string", "expiresIn": "posint",
		"operatorId": "string", "displayName": "string", "roles": "strings", "permissions": "strings",
	}
	bonsaiRefresh = map[string]string{
		"accessToken": "string", "expiresIn": "posint", "roles": "strings", "permissions": "strings",
	}
	bonsaiSetup = map[string]string{
		"operator": "object", "accessToken": "string", "refreshToken": "string", "expiresIn": "posint",
	}
	bonsaiSetupOperator = map[string]string{"id": "string", "name": "string", "roles": "strings", "createdAt": "string"}
	bonsaiProfile       = map[string]string{
		"id": "string", "name": "string", "roles": "strings", "version": "posint", "createdAt": "string", "updatedAt": "string",
	}
)

// wantShape fails unless m has every key of want with the JSON kind it
// names (extra keys are allowed: Bonsai's console ignores them).
func wantShape(t *testing.T, what string, m map[string]any, want map[string]string) {
	t.Helper()
	for k, kind := range want {
		v, ok := m[k]
		if !ok {
			t.Errorf("%s: no %q in %v", what, k, m)
			continue
		}
		good := false
		switch kind {
		case "string":
			s, ok := v.(string)
			good = ok && s != ""
		case "posint":
			f, ok := v.(float64)
			good = ok && f > 0 && f == float64(int64(f))
		case "strings":
			l, ok := v.([]any)
			good = ok
			for _, x := range l {
				if _, ok := x.(string); !ok {
					good = false
				}
			}
		case "object":
			_, good = v.(map[string]any)
		}
		if !good {
			t.Errorf("%s: %q = %#v, want a %s", what, k, v, kind)
		}
	}
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestBonsaiAuthShapes(t *testing.T) {
	e := newEnv(t)
	s := e.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "admin-password"}).want(http.StatusCreated).obj()
	wantShape(t, "setup", s, bonsaiSetup)
	wantShape(t, "setup operator", s["operator"].(map[string]any), bonsaiSetupOperator)

	l := e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "admin-password"}).want(http.StatusOK).obj()
	wantShape(t, "login", l, bonsaiLogin)
	if l["operatorId"] != "admin" || l["displayName"] != "Admin" || !slices.Equal(stringsOf(l["roles"]), []string{RoleSuperAdmin}) {
		t.Fatalf("login identity = %v %v %v", l["operatorId"], l["displayName"], l["roles"])
	}
	if p := stringsOf(l["permissions"]); !slices.Equal(p, Permissions([]string{RoleSuperAdmin})) || !slices.Contains(p, "operator:write") {
		t.Fatalf("login permissions = %v", p)
	}
	if l["expiresIn"].(float64) != 3600 {
		t.Fatalf("expiresIn = %v, want 3600 (the access token's lifetime)", l["expiresIn"])
	}

	r := e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": l["refreshToken"]}).want(http.StatusOK).obj()
	wantShape(t, "refresh", r, bonsaiRefresh)

	// A viewer's permissions are the viewer's, not the union of all.
	admin := l["accessToken"].(string)
	e.do("POST", "/api/operators", admin, map[string]any{"id": "vera", "name": "Vera", "password": "password-vera", "roles": []string{"viewer"}}).want(http.StatusCreated)
	v := e.do("POST", "/api/auth/login", "", map[string]any{"id": "vera", "password": "password-vera"}).want(http.StatusOK).obj()
	if p := stringsOf(v["permissions"]); slices.Contains(p, "operator:write") || !slices.Contains(p, "project:read") {
		t.Fatalf("viewer permissions = %v", p)
	}
}

func TestProfileRead(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.do("GET", "/api/profile", "", nil).wantError(http.StatusUnauthorized)
	// Any operator, whatever its roles, reads its own profile.
	viewer := e.operator(admin, "vera", "viewer")
	p := e.do("GET", "/api/profile", viewer, nil).want(http.StatusOK).obj()
	wantShape(t, "profile", p, bonsaiProfile)
	if p["id"] != "vera" || p["name"] != "vera" || !slices.Equal(stringsOf(p["roles"]), []string{"viewer"}) {
		t.Fatalf("profile = %v", p)
	}
	if _, ok := p["passwordHash"]; ok {
		t.Fatal("profile carries the password hash")
	}
}

func TestProfileEditName(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	viewer := e.operator(admin, "vera", "viewer")
	before := e.do("GET", "/api/profile", viewer, nil).want(http.StatusOK)
	p := e.do("POST", "/api/profile", viewer, map[string]any{"name": "  Vera Viewer "}).want(http.StatusOK)
	wantShape(t, "updated profile", p.obj(), bonsaiProfile)
	if p.str("name") != "Vera Viewer" || p.version() != before.version()+1 {
		t.Fatalf("after edit: name %q version %d (was %d)", p.str("name"), p.version(), before.version())
	}
	if got := e.do("GET", "/api/operators/vera", admin, nil).want(http.StatusOK).str("name"); got != "Vera Viewer" {
		t.Fatalf("stored name = %q", got)
	}
	// A name change ends no session.
	e.do("GET", "/api/profile", viewer, nil).want(http.StatusOK)
	es := e.entityAudit(admin, "/api/operators/vera/audit-logs")
	if len(es) == 0 || es[0].Action != "UPDATE" || es[0].UserID != "vera" || !strings.Contains(string(es[0].NewEntity), "Vera Viewer") {
		t.Fatalf("audit after the name change: %s", actions(es))
	}
}

func TestProfileBadInput(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	tok := e.operator(admin, "vera", "viewer")
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"newPassword": "brand-new-password"}, "oldPassword"},
		{map[string]any{"oldPassword": "", "newPassword": "brand-new-password"}, "oldPassword"},
		{map[string]any{"oldPassword": "password-vera"}, "newPassword"},
		{map[string]any{"oldPassword": "password-vera", "newPassword": "short"}, "newPassword"},
		{map[string]any{"oldPassword": "password-vera", "newPassword": strings.Repeat("x", 73)}, "newPassword"},
		{map[string]any{"name": "Vera\x1b[31m"}, "name"},
		{map[string]any{"name": "  "}, "name"},
	} {
		e.do("POST", "/api/profile", tok, c.body).wantField(c.field)
	}
	e.do("POST", "/api/profile", tok, `{"name": `).wantError(http.StatusBadRequest)
	e.do("POST", "/api/profile", "", map[string]any{"name": "x"}).wantError(http.StatusUnauthorized)
	// Nothing changed: the old password works, the name is the same.
	if p := e.do("GET", "/api/profile", tok, nil).want(http.StatusOK); p.str("name") != "vera" || p.version() != 1 {
		t.Fatalf("profile after bad input: %s", p.body)
	}
	e.login("vera", "password-vera")
}

func TestProfilePasswordChange(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 3}, nil)
	admin := a.setup()
	a.operator(admin, "vera", "viewer")
	access, refresh := a.pair("vera", "password-vera")
	otherAccess, otherRefresh := a.pair("vera", "password-vera")
	adminAccess, adminRefresh := a.pair("admin", "admin-password")

	// A wrong current password: 400 naming the field (as Bonsai answers; a
	// 401 makes the console refresh and retry), nothing changes.
	msg := a.do("POST", "/api/profile", access, map[string]any{"name": "V", "oldPassword": "wrong-password", "newPassword": "brand-new-password"}).wantError(http.StatusBadRequest)
	if !strings.Contains(msg, "oldPassword") {
		t.Fatalf("400 says %q, want it to name oldPassword", msg)
	}
	a.do("GET", "/api/profile", otherAccess, nil).want(http.StatusOK)
	if a.do("GET", "/api/profile", access, nil).str("name") != "vera" {
		t.Fatal("a refused change renamed the operator")
	}

	// Throttled like a login: the account's failures count together.
	a.do("POST", "/api/profile", access, map[string]any{"oldPassword": "wrong-password", "newPassword": "brand-new-password"}).wantError(http.StatusBadRequest)
	a.do("POST", "/api/auth/login", "", map[string]any{"id": "vera", "password": "wrong-password"}).wantError(http.StatusUnauthorized)
	r := a.do("POST", "/api/profile", access, map[string]any{"oldPassword": "password-vera", "newPassword": "brand-new-password"})
	r.wantError(http.StatusTooManyRequests)
	if r.hdr.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	a.from("192.0.2.99") // another address is not locked out

	p := a.do("POST", "/api/profile", access, map[string]any{"oldPassword": "password-vera", "newPassword": "brand-new-password"}).want(http.StatusOK)
	wantShape(t, "profile after password change", p.obj(), bonsaiProfile)

	// The caller's session survives (the console keeps using it) ...
	a.do("GET", "/api/profile", access, nil).want(http.StatusOK)
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(http.StatusOK)
	// ... the operator's other sessions end, other operators' do not.
	a.wantRevoked(otherAccess, otherRefresh)
	a.do("GET", "/api/profile", adminAccess, nil).want(http.StatusOK)
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": adminRefresh}).want(http.StatusOK)
	// Only the new password logs in.
	a.do("POST", "/api/auth/login", "", map[string]any{"id": "vera", "password": "password-vera"}).wantError(http.StatusUnauthorized)
	a.login("vera", "brand-new-password")

	es := a.entityAudit(admin, "/api/operators/vera/audit-logs")
	var upd, revoked, failed int
	for _, e := range es {
		switch e.Action {
		case "UPDATE":
			upd++
			var o, n map[string]any
			if json.Unmarshal(e.OldEntity, &o) != nil || json.Unmarshal(e.NewEntity, &n) != nil ||
				o["passwordChanged"] != false || n["passwordChanged"] != true || n["id"] != "vera" || o["name"] != "vera" {
				t.Errorf("UPDATE entry %s -> %s does not say the password changed (Bonsai's flat shape)", e.OldEntity, e.NewEntity)
			}
		case "TOKENS_REVOKED":
			revoked++
		case "LOGIN_FAILED":
			failed++
		}
		if strings.Contains(string(e.NewEntity), "$2a$") || strings.Contains(string(e.NewEntity), "brand-new-password") {
			t.Fatalf("audit entry holds a password or its hash: %s", e.NewEntity)
		}
	}
	if upd != 1 || revoked != 1 || failed < 3 {
		t.Fatalf("audit: %d UPDATE, %d TOKENS_REVOKED, %d LOGIN_FAILED; want 1, 1, >= 3 (%s)", upd, revoked, failed, actions(es))
	}
}

// A login or a refresh of another session that races a password change
// through the profile must not come out with a live session: the change
// runs between the credential check and the new token being stored, and
// afterwards only the caller's own session (its access and refresh token)
// is left.
func TestProfilePasswordChangeRacingOtherSessions(t *testing.T) {
	for _, tc := range []struct {
		name string
		race func(a *authEnv, refresh string) *result
	}{
		{"login", func(a *authEnv, _ string) *result {
			return a.do("POST", "/api/auth/login", "", map[string]any{"id": "vera", "password": "password-vera"})
		}},
		{"refresh", func(a *authEnv, refresh string) *result {
			return a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs *raceStore
			a := newAuthEnv(t, Options{}, func(s store.Store) store.Store {
				rs = &raceStore{Store: s, before: func() {}}
				return rs
			})
			admin := a.setup()
			a.operator(admin, "vera", "viewer")
			if _, err := a.st.DeleteOperatorTokens(t.Context(), "vera"); err != nil {
				t.Fatal(err)
			}
			caller, _ := a.pair("vera", "password-vera")
			_, otherRefresh := a.pair("vera", "password-vera")
			var ran atomic.Bool
			rs.once = sync.Once{}
			rs.before = func() {
				ran.Store(true)
				a.do("POST", "/api/profile", caller, map[string]any{"oldPassword": "password-vera", "newPassword": "brand-new-password"}).want(http.StatusOK)
			}
			tc.race(a, otherRefresh).wantError(http.StatusUnauthorized)
			if !ran.Load() {
				t.Fatal("the racing password change did not run")
			}
			a.do("GET", "/api/profile", caller, nil).want(http.StatusOK)
			if n, err := a.st.DeleteOperatorTokens(t.Context(), "vera"); err != nil || n != 2 {
				t.Fatalf("%d tokens left (%v), want 2: the caller's session alone", n, err)
			}
		})
	}
}

type failingOtherSessions struct{ store.Store }

func (failingOtherSessions) DeleteOtherSessions(context.Context, string, string) (int, error) {
	return 0, errors.New("database is down")
}

// A password change whose revocation fails changes nothing: the old
// password still works, and so do the other sessions it would have ended.
func TestProfilePasswordChangeFailedRevocationChangesNothing(t *testing.T) {
	a := newAuthEnv(t, Options{}, func(st store.Store) store.Store { return failingOtherSessions{st} })
	admin := a.setup()
	tok := a.operator(admin, "vera", "viewer")
	other := a.login("vera", "password-vera")
	a.do("POST", "/api/profile", tok, map[string]any{"name": "V", "oldPassword": "password-vera", "newPassword": "brand-new-password"}).wantError(http.StatusInternalServerError)
	if p := a.do("GET", "/api/profile", other, nil).want(http.StatusOK); p.version() != 1 || p.str("name") != "vera" {
		t.Fatalf("operator changed although its other sessions could not be ended: %s", p.body)
	}
	a.login("vera", "password-vera")
}
