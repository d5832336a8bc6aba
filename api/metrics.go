package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/store"
)

// metrics are the operator API's security series: an operator alerts on a
// rise of failed or throttled credential checks (a guessing attack), sees
// revocations and purges, and audit entries that could not be written;
// and its project exports and imports. A nil *metrics counts nothing.
type metrics struct {
	attempts      *prometheus.CounterVec
	deleted       *prometheus.CounterVec
	auditFailures prometheus.Counter
	exchanges     *prometheus.CounterVec
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
	m.exchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_project_exchange_total",
		Help: "Project exports and imports (Bonsai's exchange bundle) by operation (export, import) and outcome: ok, rejected (a 4xx of the exchange: a malformed bundle, an unknown project), failed (a 5xx).",
	}, []string{"operation", "outcome"})
	for _, op := range []string{"export", "import"} {
		for _, o := range []string{"ok", "rejected", "failed"} {
			m.exchanges.WithLabelValues(op, o)
		}
	}
	for _, e := range authEndpoints {
		for _, o := range authOutcomes {
			m.attempts.WithLabelValues(e, o)
		}
	}
	for _, r := range []string{revokePasswordChanged, revokeRolesChanged, revokeDeactivated, revokeLogoutAll, revokeAdmin, "expired"} {
		m.deleted.WithLabelValues(r)
	}
	reg.MustRegister(m.attempts, m.deleted, m.auditFailures, m.exchanges)
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

// exchange counts a project export or import that ended with err.
func (m *metrics) exchange(operation string, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case err == nil:
	case statusOf(store.ErrorCode(err)) < 500:
		outcome = "rejected"
	default:
		outcome = "failed"
	}
	m.exchanges.WithLabelValues(operation, outcome).Inc()
}
