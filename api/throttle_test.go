package api

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// loginAs attempts a login.
func (e *env) loginAs(id, password string) *result {
	e.t.Helper()
	return e.do("POST", "/api/auth/login", "", map[string]any{"id": id, "password": password})
}

// wantThrottled fails unless r is a 429 with the Retry-After (seconds) and
// returns the error message.
func (r *result) wantThrottled(retryAfter string) string {
	r.t.Helper()
	msg := r.wantError(http.StatusTooManyRequests)
	if got := r.hdr.Get("Retry-After"); got != retryAfter {
		r.t.Fatalf("Retry-After = %q, want %q", got, retryAfter)
	}
	return msg
}

func TestLoginThrottlePerAccount(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 3, MaxFailuresPerAddress: 100, FailureWindow: 10 * time.Minute}, nil)
	a.setup()
	const guesser = "203.0.113.9"
	a.from(guesser)
	hashes := a.srv.hash.ops.Load()
	for range 3 {
		a.loginAs("admin", "wrong-password").wantError(http.StatusUnauthorized)
		a.loginAs("nobody", "wrong-password").wantError(http.StatusUnauthorized)
	}
	if got := a.srv.hash.ops.Load() - hashes; got != 6 {
		t.Fatalf("%d password checks for 6 failed logins", got)
	}
	hashes = a.srv.hash.ops.Load()

	// The fourth attempt is refused before any password check, the right
	// password included, and a known and an unknown id answer alike.
	a.advance(time.Minute)
	known := a.loginAs("admin", "wrong-password")
	known.wantThrottled("540")
	right := a.loginAs("admin", "admin-password")
	right.wantThrottled("540")
	unknown := a.loginAs("nobody", "wrong-password")
	unknown.wantThrottled("540")
	if string(known.body) != string(unknown.body) || string(known.body) != string(right.body) {
		t.Fatalf("throttled answers differ: known %s, right password %s, unknown %s", known.body, right.body, unknown.body)
	}
	if got := a.srv.hash.ops.Load() - hashes; got != 0 {
		t.Fatalf("%d password checks while throttled, want 0", got)
	}
	// Other accounts are not blocked from there, and the operator is not
	// locked out elsewhere: the limit is per account and address (one
	// address cannot lock an operator out; the account-wide limit is far
	// higher, see TestThrottleOneAddressCannotLockOut).
	a.loginAs("nobody-else", "wrong-password").wantError(http.StatusUnauthorized)
	a.from("198.51.100.7")
	a.loginAs("admin", "admin-password").want(http.StatusOK)

	// When the window ends the account is free again where it was blocked.
	a.from(guesser)
	a.loginAs("admin", "admin-password").wantThrottled("540")
	a.advance(9*time.Minute - time.Second)
	a.loginAs("admin", "admin-password").wantThrottled("1")
	a.advance(time.Second)
	a.loginAs("admin", "admin-password").want(http.StatusOK)
}

func TestLoginSuccessForgivesAccountFailures(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 3, MaxFailuresPerAddress: 100}, nil)
	a.setup()
	a.loginAs("admin", "wrong-password").wantError(http.StatusUnauthorized)
	a.loginAs("admin", "wrong-password").wantError(http.StatusUnauthorized)
	a.login("admin", "admin-password")
	for range 3 {
		a.loginAs("admin", "wrong-password").wantError(http.StatusUnauthorized)
	}
	a.loginAs("admin", "wrong-password").wantError(http.StatusTooManyRequests)
}

func TestThrottlePerAddress(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 100, MaxFailuresPerAddress: 4, FailureWindow: time.Minute}, nil)
	admin := a.setup()
	a.operator(admin, "dev", "developer")
	refresh := a.do("POST", "/api/auth/login", "", map[string]any{"id": "dev", "password": "password-dev"}).want(http.StatusOK).str("refreshToken")

	// A spray over many ids from one address: failed logins and failed
	// refreshes share the address's budget.
	a.from("2001:db8:1:2::10")
	for i := range 3 {
		a.loginAs(fmt.Sprintf("guess-%d", i), "wrong-password").wantError(http.StatusUnauthorized)
	}
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": "forged"}).wantError(http.StatusUnauthorized)
	hashes := a.srv.hash.ops.Load()
	a.loginAs("dev", "password-dev").wantThrottled("60")
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).wantThrottled("60")
	a.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "x", "name": "x", "password": "long-enough"}).wantThrottled("60")
	// Another address in the same IPv6 /64 is the same client.
	a.from("2001:db8:1:2::99")
	a.loginAs("dev", "password-dev").wantThrottled("60")
	if got := a.srv.hash.ops.Load() - hashes; got != 0 {
		t.Fatalf("%d password checks while throttled, want 0", got)
	}
	// Other addresses are not affected.
	a.from("2001:db8:1:3::10")
	a.login("dev", "password-dev")
	a.from("192.0.2.200")
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": refresh}).want(http.StatusOK)

	// The window passes.
	a.from("2001:db8:1:2::10")
	a.advance(time.Minute)
	a.login("dev", "password-dev")
}

func TestSetupThrottledPerAddress(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAddress: 2}, nil)
	// Invalid input is no failed attempt.
	for range 3 {
		a.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "admin", "name": "Admin", "password": "short"}).wantField("password")
	}
	a.setup()
	for range 2 {
		a.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "x", "name": "x", "password": "long-enough"}).wantError(http.StatusConflict)
	}
	a.do("POST", "/api/setup/initial-operator", "", map[string]any{"id": "x", "name": "x", "password": "long-enough"}).wantThrottled("900")
}

// Bad input and oversized bodies are answered before the throttle counts
// anything.
func TestThrottleIgnoresBadInput(t *testing.T) {
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 1, MaxFailuresPerAddress: 1}, nil)
	a.setup()
	for range 3 {
		a.do("POST", "/api/auth/login", "", map[string]any{"id": "admin"}).wantField("password")
		a.do("POST", "/api/auth/login", "", `{"id":"admin","password":"`+strings.Repeat("x", maxBodyBytes)+`"}`).wantError(http.StatusRequestEntityTooLarge)
		a.do("POST", "/api/auth/refresh", "", map[string]any{}).wantField("refreshToken")
	}
	a.login("admin", "admin-password")
}

func TestHashGateBusy(t *testing.T) {
	a := newAuthEnv(t, Options{HashConcurrency: 1, HashWait: 20 * time.Millisecond, MaxFailuresPerAccount: 2}, nil)
	admin := a.setup()
	v := a.do("GET", "/api/operators/admin", admin, nil).want(http.StatusOK).version()
	if got := cap(a.srv.hash.slots); got != 1 {
		t.Fatalf("gate has %d slots, want 1", got)
	}
	// Hold the only slot: a login waits HashWait, then gets 503 with
	// Retry-After, and that is no failed attempt.
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- a.srv.hash.run(context.Background(), func() { close(held); <-release })
	}()
	<-held
	for range 3 {
		r := a.loginAs("admin", "admin-password")
		r.wantError(http.StatusServiceUnavailable)
		if r.hdr.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q, want 1", r.hdr.Get("Retry-After"))
		}
	}
	// An operator update that sets a password is gated too, and changes
	// nothing when refused.
	a.do("PUT", "/api/operators/admin", admin, map[string]any{"version": v, "password": "another-password"}).wantError(http.StatusServiceUnavailable)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.login("admin", "admin-password")
	a.do("GET", "/api/auth/me", admin, nil).want(http.StatusOK)

	// Beyond the queue bound a request is refused without waiting.
	a.srv.hash.queued.Store(a.srv.hash.maxQueue)
	a.loginAs("admin", "admin-password").wantError(http.StatusServiceUnavailable)
	a.srv.hash.queued.Store(0)
	a.login("admin", "admin-password")
}

func TestHashGateDefaultConcurrency(t *testing.T) {
	g := newHashGate(0, time.Second)
	if want := max(1, runtime.GOMAXPROCS(0)/2); cap(g.slots) != want {
		t.Fatalf("default concurrency %d, want %d", cap(g.slots), want)
	}
	if g.maxQueue != int64(cap(g.slots)*hashQueuePerSlot) {
		t.Fatalf("queue bound %d", g.maxQueue)
	}
}

func TestThrottleTableIsBounded(t *testing.T) {
	th := newThrottle(3, 3, 1000, time.Hour)
	now := time.Now()
	// A targeted account with failures, then a spray of one-off ids.
	for range 3 {
		if b := th.begin("target", "a", now); b != nil {
			t.Fatal("target blocked early")
		}
	}
	for i := range maxTrackedKeys + 500 {
		th.begin(fmt.Sprintf("spray-%d", i), fmt.Sprintf("addr-%d", i), now)
	}
	if n := len(th.accounts.entries); n > maxTrackedKeys {
		t.Fatalf("%d account keys tracked, cap %d", n, maxTrackedKeys)
	}
	if n := len(th.pairs.entries); n > maxTrackedKeys {
		t.Fatalf("%d account/address keys tracked, cap %d", n, maxTrackedKeys)
	}
	if n := len(th.addrs.entries); n > maxTrackedKeys {
		t.Fatalf("%d address keys tracked, cap %d", n, maxTrackedKeys)
	}
	if b := th.begin("target", "fresh", now); b == nil {
		t.Fatal("the spray pushed the targeted account out of the table")
	}
	// When the table is full again, closed windows are dropped first.
	later := now.Add(2 * time.Hour)
	old := len(th.accounts.entries)
	fresh := maxTrackedKeys - old + 1
	for i := range fresh {
		th.begin(fmt.Sprintf("later-%d", i), "b", later)
	}
	if n := len(th.accounts.entries); n != fresh {
		t.Fatalf("%d account keys after every old window closed, want %d", n, fresh)
	}
}

func TestThrottleKeys(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":             "192.0.2.1",
		"::ffff:192.0.2.1":      "192.0.2.1",
		"2001:db8:1:2::1":       "2001:db8:1:2::/64",
		"2001:db8:1:2:ff::9":    "2001:db8:1:2::/64",
		"fe80::1%eth0":          "fe80::/64",
		"not-an-address":        "not-an-address",
		strings.Repeat("x", 65): "sha256:" + store.HashKey(strings.Repeat("x", 65)),
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("a", maxAccountKey+1)
	if got := accountKey(long); got != "sha256:"+store.HashKey(long) {
		t.Errorf("accountKey(long) = %q", got)
	}
	if got := accountKey("admin"); got != "admin" {
		t.Errorf("accountKey(admin) = %q", got)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::5]:4431"
	if got := remoteHost(r); got != "2001:db8::5" {
		t.Errorf("remoteHost = %q", got)
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	big := `{"name":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	for _, p := range []struct{ method, path string }{
		{"POST", "/api/operators"},
		{"PUT", "/api/operators/admin"},
		{"POST", "/api/projects"},
		{"POST", "/api/auth/login"},
	} {
		msg := e.do(p.method, p.path, admin, big).wantError(http.StatusRequestEntityTooLarge)
		if !strings.Contains(msg, fmt.Sprintf("exceeds %d bytes", maxBodyBytes)) {
			t.Fatalf("%s %s: 413 says %q", p.method, p.path, msg)
		}
	}
	// Nothing was created.
	e.do("GET", "/api/projects", admin, nil).items(0, 0, 100)
}

func TestNamesCountCharacters(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	ok := strings.Repeat("é", maxNameChars) // 400 bytes
	e.do("POST", "/api/projects", admin, map[string]any{"name": ok}).want(http.StatusCreated)
	r := e.do("POST", "/api/projects", admin, map[string]any{"name": ok + "é"})
	r.wantField("name")
	if !strings.Contains(r.str("error"), "200 characters") {
		t.Fatalf("message = %s", r.body)
	}
	// Passwords: at least 8 characters, however many bytes they take.
	e.do("POST", "/api/operators", admin, map[string]any{"name": "u", "password": "ééééééé", "roles": []string{"viewer"}}).wantField("password")
	e.do("POST", "/api/operators", admin, map[string]any{"id": "u", "name": "u", "password": "éééééééé", "roles": []string{"viewer"}}).want(http.StatusCreated)
	e.login("u", "éééééééé")
}

// One address guessing an operator's password locks that operator out for
// itself only; the owner, elsewhere, still logs in. Spread over many
// addresses, the guesses are bounded by the account-wide limit.
func TestThrottleOneAddressCannotLockOut(t *testing.T) {
	th := newThrottle(3, 10, 1000, time.Hour)
	now := time.Now()
	for range 3 {
		if b := th.begin("admin", "attacker", now); b != nil {
			t.Fatal("blocked early")
		}
	}
	if b := th.begin("admin", "attacker", now); b == nil || b.scope != "account" {
		t.Fatalf("the guessing address is not blocked: %+v", b)
	}
	if b := th.begin("admin", "home", now); b != nil {
		t.Fatalf("the owner's address is blocked: %+v", b)
	}
	th.succeed("admin", "home", now) // the owner logs in: all forgiven
	for i := range 10 {
		if b := th.begin("admin", fmt.Sprintf("bot-%d", i), now); b != nil {
			t.Fatalf("guess %d blocked before the account-wide limit", i)
		}
	}
	if b := th.begin("admin", "home", now); b == nil {
		t.Fatal("a guesser spread over 10 addresses is not bounded by the account-wide limit")
	}
}
