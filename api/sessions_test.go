package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// authEnv is an env whose Server the test holds, with options it chose
// and a client address it can change.
type authEnv struct {
	*env
	srv *Server
	ip  atomic.Pointer[string]
}

// newAuthEnv is newEnv with opts (clock and bcrypt cost are filled in) and
// an optional wrapper around the store.
func newAuthEnv(t *testing.T, opts Options, wrap func(store.Store) store.Store) *authEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a := &authEnv{env: &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}}
	a.from("192.0.2.1")
	opts.BcryptCost, opts.Now = bcrypt.MinCost, a.now
	opts.ClientIP = func(*http.Request) string { return *a.ip.Load() }
	var s store.Store = st
	if wrap != nil {
		s = wrap(st)
	}
	a.srv = New(s, nil, opts)
	a.srv.Register(a.router)
	return a
}

// from makes the following requests come from client address ip.
func (a *authEnv) from(ip string) { a.ip.Store(&ip) }

// pair logs in and returns the access and refresh tokens.
func (e *env) pair(id, password string) (access, refresh string) {
	e.t.Helper()
	r := e.do("POST", "/api/auth/login", "", map[string]any{"id": id, "password": password}).want(http.StatusOK)
	return r.str("accessToken"), r.str("refreshToken")
}

// wantRevoked fails unless the access token no longer authenticates and
// the refresh token no longer refreshes.
func (e *env) wantRevoked(access, refresh string) {
	e.t.Helper()
	e.do("GET", "/api/auth/me", access, nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).wantError(http.StatusUnauthorized)
}

func TestOperatorChangesRevokeTokens(t *testing.T) {
	for _, tc := range []struct {
		name     string
		change   map[string]any
		revoke   bool
		password string // the password that works afterwards
	}{
		{"password", map[string]any{"password": "brand-new-password"}, true, "brand-new-password"},
		{"same password again", map[string]any{"password": "password-dev"}, true, "password-dev"},
		{"roles", map[string]any{"roles": []string{"viewer"}}, true, "password-dev"},
		{"deactivation", map[string]any{"isActive": false}, true, ""},
		{"name only", map[string]any{"name": "Dev Eloper"}, false, "password-dev"},
		{"same roles reordered", map[string]any{"roles": []string{"support", "developer"}}, false, "password-dev"},
		{"still active", map[string]any{"isActive": true}, false, "password-dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			admin := e.setup()
			e.operator(admin, "dev", "developer", "support")
			access, refresh := e.pair("dev", "password-dev")
			adminAccess, adminRefresh := e.pair("admin", "admin-password")
			v := e.do("GET", "/api/operators/dev", admin, nil).want(http.StatusOK).version()
			tc.change["version"] = v
			e.do("PUT", "/api/operators/dev", admin, tc.change).want(http.StatusOK)
			if !tc.revoke {
				e.do("GET", "/api/auth/me", access, nil).want(http.StatusOK)
				e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(http.StatusOK)
				return
			}
			e.wantRevoked(access, refresh)
			if n, err := e.st.DeleteOperatorTokens(t.Context(), "dev"); err != nil || n != 0 {
				t.Fatalf("dev still has %d tokens (%v)", n, err)
			}
			// Only dev's sessions end.
			e.do("GET", "/api/auth/me", adminAccess, nil).want(http.StatusOK)
			e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": adminRefresh}).want(http.StatusOK)
			if tc.password == "" {
				e.do("POST", "/api/auth/login", "", map[string]any{"id": "dev", "password": "password-dev"}).wantError(http.StatusUnauthorized)
				return
			}
			if tc.password != "password-dev" {
				e.do("POST", "/api/auth/login", "", map[string]any{"id": "dev", "password": "password-dev"}).wantError(http.StatusUnauthorized)
			}
			fresh, _ := e.pair("dev", tc.password)
			e.do("GET", "/api/auth/me", fresh, nil).want(http.StatusOK)
		})
	}
}

// An operator that changes its own password ends its own sessions too,
// the one it called with included.
func TestOwnPasswordChangeRevokesOwnTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	access, refresh := e.pair("admin", "admin-password")
	v := e.do("GET", "/api/operators/admin", admin, nil).want(http.StatusOK).version()
	e.do("PUT", "/api/operators/admin", admin, map[string]any{"version": v, "password": "another-password"}).want(http.StatusOK)
	e.do("GET", "/api/auth/me", admin, nil).wantError(http.StatusUnauthorized)
	e.wantRevoked(access, refresh)
	e.login("admin", "another-password")
}

func TestDeleteOperatorDeletesTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.operator(admin, "dev", "developer")
	access, refresh := e.pair("dev", "password-dev")
	v := e.do("GET", "/api/operators/dev", admin, nil).want(http.StatusOK).version()
	e.do("DELETE", "/api/operators/dev", admin, map[string]any{"version": v}).want(http.StatusNoContent)
	e.wantRevoked(access, refresh)
	for _, raw := range []string{access, refresh} {
		if _, err := e.st.GetToken(t.Context(), store.HashKey(raw), e.now()); store.ErrorCode(err) != store.ENOTFOUND {
			t.Fatalf("deleted operator's token still stored: %v", err)
		}
	}
}

func TestLogoutAll(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.operator(admin, "dev", "developer")
	a1, r1 := e.pair("dev", "password-dev")
	a2, r2 := e.pair("dev", "password-dev")
	adminRefresh := e.do("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "admin-password"}).want(http.StatusOK).str("refreshToken")

	e.do("POST", "/api/auth/logout-all", "", nil).wantError(http.StatusUnauthorized)
	e.do("POST", "/api/auth/logout-all", a1, nil).want(http.StatusNoContent)
	e.wantRevoked(a1, r1)
	e.wantRevoked(a2, r2)
	// Other operators keep their sessions; dev can log in again.
	e.do("GET", "/api/auth/me", admin, nil).want(http.StatusOK)
	e.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": adminRefresh}).want(http.StatusOK)
	e.do("GET", "/api/auth/me", e.login("dev", "password-dev"), nil).want(http.StatusOK)
	e.do("GET", "/api/auth/logout-all", a1, nil).wantError(http.StatusMethodNotAllowed)
}

func TestAdminRevokesTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	dev := e.operator(admin, "dev", "developer")
	a2, r2 := e.pair("dev", "password-dev")

	e.do("POST", "/api/operators/admin/revoke-tokens", dev, nil).wantError(http.StatusForbidden)
	e.do("POST", "/api/operators/nobody/revoke-tokens", admin, nil).wantError(http.StatusNotFound)
	m := e.do("POST", "/api/operators/dev/revoke-tokens", admin, nil).want(http.StatusOK).obj()
	if m["operatorId"] != "dev" || m["revokedTokens"] != float64(4) { // two logins, a pair each
		t.Fatalf("revoke answer = %v, want dev and 4 tokens", m)
	}
	e.do("GET", "/api/auth/me", dev, nil).wantError(http.StatusUnauthorized)
	e.wantRevoked(a2, r2)
	e.do("GET", "/api/auth/me", admin, nil).want(http.StatusOK)
	// The password is unchanged.
	e.login("dev", "password-dev")
	e.do("POST", "/api/operators/dev/revoke-tokens", admin, `{"x":`).wantError(http.StatusBadRequest)
}

// raceStore runs before once, just before the first token of a login is
// stored: it plays an admin whose change lands between the password check
// and the new session.
type raceStore struct {
	store.Store
	once   sync.Once
	before func()
}

func (r *raceStore) CreateToken(ctx context.Context, t *store.Token) error {
	r.once.Do(r.before)
	return r.Store.CreateToken(ctx, t)
}

// A login whose password was checked just before an admin changed it and
// revoked the sessions must not get a session that survives the change.
func TestLoginRacingPasswordChange(t *testing.T) {
	var rs *raceStore
	var armed atomic.Bool
	a := newAuthEnv(t, Options{}, func(s store.Store) store.Store {
		rs = &raceStore{Store: s, before: func() {}}
		return rs
	})
	admin := a.setup() // the setup's own tokens use up the once
	a.operator(admin, "dev", "developer")
	rs.once = sync.Once{}
	rs.before = func() {
		armed.Store(true)
		op, err := rs.Store.GetOperator(context.Background(), "dev")
		if err != nil {
			t.Errorf("get dev: %v", err)
			return
		}
		op.PasswordHash = "$2a$04$changedchangedchangedchangedchangedchangedchangedchang"
		if err := rs.Store.UpdateOperator(context.Background(), op, op.Version); err != nil {
			t.Errorf("update dev: %v", err)
		}
		if _, err := rs.Store.DeleteOperatorTokens(context.Background(), "dev"); err != nil {
			t.Errorf("revoke dev: %v", err)
		}
	}
	a.do("POST", "/api/auth/login", "", map[string]any{"id": "dev", "password": "password-dev"}).wantError(http.StatusUnauthorized)
	if !armed.Load() {
		t.Fatal("the racing change did not run")
	}
	if n, err := a.st.DeleteOperatorTokens(t.Context(), "dev"); err != nil || n != 0 {
		t.Fatalf("the racing login left %d tokens (%v)", n, err)
	}
}

// A refresh with a stolen refresh token that races "log out everywhere"
// must not come out with a live pair.
func TestRefreshRacingLogoutAll(t *testing.T) {
	var rs *raceStore
	a := newAuthEnv(t, Options{}, func(s store.Store) store.Store {
		rs = &raceStore{Store: s, before: func() {}}
		return rs
	})
	a.setup()
	_, refresh := a.pair("admin", "admin-password")
	var ran atomic.Bool
	rs.once = sync.Once{}
	rs.before = func() {
		ran.Store(true)
		if _, err := rs.Store.DeleteOperatorTokens(context.Background(), "admin"); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).wantError(http.StatusUnauthorized)
	if !ran.Load() {
		t.Fatal("the racing logout-all did not run")
	}
	if n, err := a.st.DeleteOperatorTokens(t.Context(), "admin"); err != nil || n != 0 {
		t.Fatalf("the racing refresh left %d tokens (%v)", n, err)
	}
}

// Concurrent refreshes with one refresh token all succeed (the console's
// tabs share one refresh token), each with its own access token in the
// same session, and logging out of that session ends them all.
func TestConcurrentRefreshesShareSession(t *testing.T) {
	a := newAuthEnv(t, Options{}, nil)
	a.setup()
	if _, err := a.st.DeleteOperatorTokens(t.Context(), "admin"); err != nil {
		t.Fatal(err)
	}
	access, refresh := a.pair("admin", "admin-password")
	const n = 8
	tokens := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r := a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh})
			if r.code != http.StatusOK {
				t.Errorf("refresh answered %d", r.code)
				return
			}
			tokens <- r.str("accessToken")
		})
	}
	wg.Wait()
	close(tokens)
	distinct := map[string]bool{}
	for tok := range tokens {
		distinct[tok] = true
		a.do("GET", "/api/auth/me", tok, nil).want(http.StatusOK)
	}
	if len(distinct) != n {
		t.Fatalf("%d distinct access tokens from %d refreshes", len(distinct), n)
	}
	a.do("POST", "/api/auth/logout", access, nil).want(http.StatusNoContent)
	for tok := range distinct {
		a.do("GET", "/api/auth/me", tok, nil).wantError(http.StatusUnauthorized)
	}
	if left, err := a.st.DeleteOperatorTokens(t.Context(), "admin"); err != nil || left != 0 {
		t.Fatalf("%d tokens left after logging out of the session (%v), want 0", left, err)
	}
}

func TestPurgeExpiredTokens(t *testing.T) {
	a := newAuthEnv(t, Options{}, nil)
	a.setup()
	access, refresh := a.pair("admin", "admin-password")
	t0 := a.now()
	a.advance(2 * time.Hour) // access tokens (1 h) expired, refresh tokens (30 days) not
	n, err := a.srv.PurgeExpiredTokens(t.Context())
	if err != nil || n != 2 { // the setup's and the login's access tokens
		t.Fatalf("purge = %d, %v; want 2", n, err)
	}
	if _, err := a.st.GetToken(t.Context(), store.HashKey(access), t0); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("expired access token still stored: %v", err)
	}
	if _, err := a.st.GetToken(t.Context(), store.HashKey(refresh), t0); err != nil {
		t.Fatalf("live refresh token purged: %v", err)
	}

	// The background loop purges the refresh token once it expires, and
	// stops when asked.
	stop := a.srv.StartTokenPurge(t.Context(), 5*time.Millisecond)
	a.advance(31 * 24 * time.Hour)
	testutil.CheckFor(t, 10*time.Second, func() error {
		_, err := a.st.GetToken(t.Context(), store.HashKey(refresh), t0)
		if store.ErrorCode(err) != store.ENOTFOUND {
			return fmt.Errorf("expired refresh token still stored (%v)", err)
		}
		return nil
	})
	stop()

	// A loop whose context ends stops by itself; stop still returns.
	ctx, cancel := context.WithCancel(t.Context())
	stop = a.srv.StartTokenPurge(ctx, time.Hour)
	cancel()
	stop()
}

// failingRevoke is a store whose token revocation fails.
type failingRevoke struct{ store.Store }

func (failingRevoke) DeleteOperatorTokens(context.Context, string) (int, error) {
	return 0, errors.New("database is down")
}

// A password reset whose revocation fails changes nothing: the caller gets
// an error and retries, and the old password (and sessions) are not left
// half-changed — new password stored, stolen sessions alive.
func TestPasswordResetFailedRevocationChangesNothing(t *testing.T) {
	a := newAuthEnv(t, Options{}, func(st store.Store) store.Store { return failingRevoke{st} })
	tok := a.setup()
	a.do("POST", "/api/operators", tok, map[string]any{"id": "ops", "name": "Ops", "password": "old-password", "roles": []string{"viewer"}}).want(http.StatusCreated)
	a.do("PUT", "/api/operators/ops", tok, map[string]any{"version": 1, "password": "new-password"}).wantError(http.StatusInternalServerError)
	op, err := a.st.GetOperator(t.Context(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	if op.Version != 1 {
		t.Fatalf("operator changed (version %d) although its sessions could not be revoked", op.Version)
	}
	a.loginAs("ops", "old-password").want(http.StatusOK)
}
