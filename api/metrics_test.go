package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counter returns the value of the counter series name{labels} in reg and
// how many series name has.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (value float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		series = len(mf.GetMetric())
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			value = m.GetCounter().GetValue()
		}
	}
	return value, series
}

func TestAuthMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newAuthEnv(t, Options{MaxFailuresPerAccount: 1, Registerer: reg}, nil)
	a.setup()
	a.loginAs("admin", "wrong-password").wantError(http.StatusUnauthorized)
	a.loginAs("admin", "admin-password").wantError(http.StatusTooManyRequests)
	a.advance(15 * time.Minute)
	access := a.login("admin", "admin-password")
	a.do("POST", "/api/auth/refresh", "", map[string]any{"refreshToken": "forged"}).wantError(http.StatusUnauthorized)
	a.do("POST", "/api/auth/logout-all", access, nil).want(http.StatusNoContent)

	for _, c := range []struct {
		endpoint, outcome string
		want              float64
	}{
		{"setup", "success", 1},
		{"login", "failure", 1},
		{"login", "throttled", 1},
		{"login", "success", 1},
		{"refresh", "failure", 1},
		{"refresh", "success", 0},
	} {
		if got, _ := counter(t, reg, "switchboard_auth_attempts_total", map[string]string{"endpoint": c.endpoint, "outcome": c.outcome}); got != c.want {
			t.Errorf("attempts{%s,%s} = %v, want %v", c.endpoint, c.outcome, got, c.want)
		}
	}
	// setup's pair and the login's pair.
	if got, _ := counter(t, reg, "switchboard_operator_tokens_deleted_total", map[string]string{"reason": revokeLogoutAll}); got != 4 {
		t.Errorf("tokens deleted by logout_all = %v, want 4", got)
	}
	a.advance(31 * 24 * time.Hour)
	a.login("admin", "admin-password")
	a.advance(2 * time.Hour)
	if _, err := a.srv.PurgeExpiredTokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := counter(t, reg, "switchboard_operator_tokens_deleted_total", map[string]string{"reason": "expired"}); got != 1 {
		t.Errorf("tokens deleted as expired = %v, want 1", got)
	}
	if _, n := counter(t, reg, "switchboard_auth_attempts_total", nil); n != 20 {
		t.Errorf("attempt series = %d, want 20 (every endpoint and outcome from the start)", n)
	}
}
