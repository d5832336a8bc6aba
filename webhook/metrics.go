package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's Prometheus series. A nil *Metrics counts
// nothing.
type Metrics struct {
	webhooks   *prometheus.CounterVec
	sigFails   *prometheus.CounterVec
	ackLatency prometheus.Histogram
	statuses   *prometheus.CounterVec
	starts     *prometheus.CounterVec
	jobRcpts   prometheus.Counter
}

// NewMetrics registers the webhook's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_webhooks_total",
			Help: "Inbound Twilio messaging webhooks by outcome.",
		}, []string{"outcome"}),
		sigFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_webhook_signature_failures_total",
			Help: "Webhook signature check failures by reason.",
		}, []string{"reason"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_webhook_ack_seconds",
			Help:    "Time from webhook arrival to its 200 answer (message committed).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_delivery_status_callbacks_total",
			Help: "Twilio status callbacks by message status.",
		}, []string{"status"}),
	}
	m.starts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_start_requests_total",
		Help: "Requests to start conversations (POST /api/twilio/messaging/send and /send/bulk) by outcome.",
	}, []string{"outcome"})
	m.jobRcpts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_start_job_recipients_total",
		Help: "Recipients of accepted bulk start jobs.",
	})
	for _, o := range []string{"accepted", "replayed", "job_accepted", "opted_out", "idempotency_conflict", "bad_request", "unauthorized", "forbidden", "not_found", "project_archived", "rate_limited", "unavailable"} {
		m.starts.WithLabelValues(o)
	}
	for _, o := range []string{"accepted", "duplicate", "bad_request", "unauthorized", "forbidden", "bad_signature", "rate_limited", "unavailable", "project_archived"} {
		m.webhooks.WithLabelValues(o)
	}
	reg.MustRegister(m.webhooks, m.sigFails, m.ackLatency, m.statuses, m.starts, m.jobRcpts)
	return m
}

func (m *Metrics) webhook(outcome string) {
	if m != nil {
		m.webhooks.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) signatureFailure(reason string) {
	if m != nil {
		m.sigFails.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) ack(d time.Duration) {
	if m != nil {
		m.ackLatency.Observe(d.Seconds())
	}
}

func (m *Metrics) deliveryStatus(s string) {
	if m != nil {
		m.statuses.WithLabelValues(s).Inc()
	}
}

func (m *Metrics) start(outcome string) {
	if m != nil {
		m.starts.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) jobRecipients(n int) {
	if m != nil {
		m.jobRcpts.Add(float64(n))
	}
}
