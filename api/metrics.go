package api

import "github.com/prometheus/client_golang/prometheus"

// metrics are the operator API's security series: an operator alerts on a
// rise of failed or throttled credential checks (a guessing attack), sees
// revocations and purges, and audit entries that could not be written. A
// nil *metrics counts nothing.
type metrics struct {
	attempts      *prometheus.CounterVec
	deleted       *prometheus.CounterVec
	auditFailures prometheus.Counter
}

// Credential-check endpoints and outcomes (the labels of
// switchboard_auth_attempts_total).
var (
	authEndpoints = []string{"login", "refresh", "setup", "profile"}
	authOutcomes  = []string{"success", "failure", "throttled", "busy", "other"}
)

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_auth_attempts_total",
			Help: "Credential checks (login, token refresh, setup, the current password of a profile password change) by outcome: success, failure (bad credentials), throttled (429), busy (no password-hashing slot, 503), other.",
		}, []string{"endpoint", "outcome"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_operator_tokens_deleted_total",
			Help: "Operator access and refresh tokens deleted by revocation (password_changed, roles_changed, deactivated, logout_all, admin_revoke) or because they expired (expired).",
		}, []string{"reason"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_audit_write_failures_total",
			Help: "Audit log entries that could not be written after their change succeeded.",
		}),
	}
	for _, e := range authEndpoints {
		for _, o := range authOutcomes {
			m.attempts.WithLabelValues(e, o)
		}
	}
	for _, r := range []string{revokePasswordChanged, revokeRolesChanged, revokeDeactivated, revokeLogoutAll, revokeAdmin, "expired"} {
		m.deleted.WithLabelValues(r)
	}
	reg.MustRegister(m.attempts, m.deleted, m.auditFailures)
	return m
}

func (m *metrics) attempt(endpoint, outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(endpoint, outcome).Inc()
	}
}

func (m *metrics) tokensDeleted(reason string, n int) {
	if m != nil && n > 0 {
		m.deleted.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *metrics) auditFailure() {
	if m != nil {
		m.auditFailures.Inc()
	}
}
