package storetest

import (
	"fmt"
	"testing"
	"time"

	"switchboard/store"
)

// testOperatorTokens checks revoking all of one operator's tokens and
// purging expired ones: only the named operator's tokens go, only expired
// tokens are purged, and the counts are exact.
func testOperatorTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := &store.Operator{Name: "a", PasswordHash: "h"}
	b := &store.Operator{Name: "b", PasswordHash: "h"}
	must(t, s.CreateOperator(ctx, a))
	must(t, s.CreateOperator(ctx, b))
	now := time.Now().UTC().Truncate(time.Microsecond)
	mk := func(hash, op, kind string, exp time.Time) {
		t.Helper()
		must(t, s.CreateToken(ctx, &store.Token{Hash: hash, OperatorID: op, Kind: kind, ExpiresAt: exp}))
	}
	for i := range 3 {
		mk(fmt.Sprintf("a-access-%d", i), a.ID, store.TokenAccess, now.Add(time.Hour))
		mk(fmt.Sprintf("a-refresh-%d", i), a.ID, store.TokenRefresh, now.Add(24*time.Hour))
	}
	mk("b-access", b.ID, store.TokenAccess, now.Add(time.Hour))
	mk("b-refresh", b.ID, store.TokenRefresh, now.Add(24*time.Hour))

	n, err := s.DeleteOperatorTokens(ctx, a.ID)
	must(t, err)
	if n != 6 {
		t.Fatalf("DeleteOperatorTokens(a) = %d, want 6", n)
	}
	for i := range 3 {
		for _, h := range []string{fmt.Sprintf("a-access-%d", i), fmt.Sprintf("a-refresh-%d", i)} {
			_, err := s.GetToken(ctx, h, now)
			wantCode(t, err, store.ENOTFOUND)
		}
	}
	for _, h := range []string{"b-access", "b-refresh"} {
		if _, err := s.GetToken(ctx, h, now); err != nil {
			t.Fatalf("b's token %s after revoking a's: %v", h, err)
		}
	}
	// Nothing left, or an unknown operator: 0, no error.
	if n, err := s.DeleteOperatorTokens(ctx, a.ID); err != nil || n != 0 {
		t.Fatalf("DeleteOperatorTokens(a) again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteOperatorTokens(ctx, "oper_nobody"); err != nil || n != 0 {
		t.Fatalf("DeleteOperatorTokens(unknown) = %d, %v; want 0, nil", n, err)
	}

	// Purge: expired at or before now goes (the boundary GetToken uses),
	// anything later stays.
	mk("old-1", a.ID, store.TokenAccess, now.Add(-time.Hour))
	mk("old-2", b.ID, store.TokenRefresh, now.Add(-time.Minute))
	mk("edge", a.ID, store.TokenAccess, now)
	mk("live", a.ID, store.TokenAccess, now.Add(time.Microsecond))
	n, err = s.PurgeExpiredTokens(ctx, now)
	must(t, err)
	if n != 3 {
		t.Fatalf("PurgeExpiredTokens = %d, want 3", n)
	}
	for _, h := range []string{"old-1", "old-2", "edge"} {
		if err := s.DeleteToken(ctx, h); store.ErrorCode(err) != store.ENOTFOUND {
			t.Fatalf("expired token %s still stored (delete: %v)", h, err)
		}
	}
	for _, h := range []string{"live", "b-access", "b-refresh"} {
		if _, err := s.GetToken(ctx, h, now); err != nil {
			t.Fatalf("unexpired token %s purged: %v", h, err)
		}
	}
	if n, err := s.PurgeExpiredTokens(ctx, now); err != nil || n != 0 {
		t.Fatalf("PurgeExpiredTokens again = %d, %v; want 0, nil", n, err)
	}
}

// testTokenSessions checks that a token keeps its session, and that
// deleting one session, or every session but one, deletes exactly those
// tokens of that operator (tokens without a session count as another
// session).
func testTokenSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := &store.Operator{Name: "a", PasswordHash: "h"}
	b := &store.Operator{Name: "b", PasswordHash: "h"}
	must(t, s.CreateOperator(ctx, a))
	must(t, s.CreateOperator(ctx, b))
	exp := time.Now().UTC().Add(time.Hour)
	mk := func(hash, op, session string) {
		t.Helper()
		must(t, s.CreateToken(ctx, &store.Token{Hash: hash, OperatorID: op, Kind: store.TokenAccess, Session: session, ExpiresAt: exp}))
	}
	mk("s1-a", a.ID, "s1")
	mk("s1-b", a.ID, "s1")
	mk("s2-a", a.ID, "s2")
	mk("s3-a", a.ID, "s3")
	mk("none", a.ID, "")
	mk("b-s1", b.ID, "s1")
	got, err := s.GetToken(ctx, "s1-a", time.Now())
	must(t, err)
	if got.Session != "s1" {
		t.Fatalf("GetToken session = %q, want s1", got.Session)
	}
	live := func(hash string) bool {
		t.Helper()
		_, err := s.GetToken(ctx, hash, time.Now())
		if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}

	n, err := s.DeleteSession(ctx, a.ID, "s2")
	must(t, err)
	if n != 1 || live("s2-a") || !live("s1-a") || !live("s3-a") || !live("b-s1") {
		t.Fatalf("DeleteSession(a, s2) = %d; s2-a live %v, s1-a %v, s3-a %v, b-s1 %v", n, live("s2-a"), live("s1-a"), live("s3-a"), live("b-s1"))
	}
	n, err = s.DeleteOtherSessions(ctx, a.ID, "s1")
	must(t, err)
	if n != 2 || live("s3-a") || live("none") || !live("s1-a") || !live("s1-b") || !live("b-s1") {
		t.Fatalf("DeleteOtherSessions(a, s1) = %d, want 2 (s3-a, none); s1 and b's tokens must stay", n)
	}
	if n, err := s.DeleteOtherSessions(ctx, a.ID, "s1"); err != nil || n != 0 {
		t.Fatalf("DeleteOtherSessions again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteSession(ctx, "oper_nobody", "s1"); err != nil || n != 0 {
		t.Fatalf("DeleteSession(unknown) = %d, %v; want 0, nil", n, err)
	}
	if !live("b-s1") {
		t.Fatal("another operator's token with the same session name was deleted")
	}
}
