package actors

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/providers/llm"
	"switchboard/store"
)

// metrics are the engine's Prometheus series. A nil *metrics records
// nothing (Options.Registerer unset).
type metrics struct {
	sessionsCreated prometheus.Counter
	sessionsExpired prometheus.Counter
	sessionLifetime prometheus.Histogram
	turns           *prometheus.CounterVec
	llmLatency      *prometheus.HistogramVec
	llmErrors       *prometheus.CounterVec
	llmTokenCount   *prometheus.CounterVec
	llmFinishes     *prometheus.CounterVec
	replyLatency    prometheus.Histogram
	sends           *prometheus.CounterVec
	sendKinds       *prometheus.CounterVec
	retries         prometheus.Counter
	optOuts         prometheus.Counter
	optIns          prometheus.Counter
	storeLatency    *prometheus.HistogramVec
	expiryLateness  prometheus.Histogram
	commitSeconds   prometheus.Histogram
	commitItems     prometheus.Histogram
	replyFormats    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, e *Engine) *metrics {
	if reg == nil {
		return nil
	}
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		sessionsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_sessions_created_total", Help: "Session actors started."}),
		sessionsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_sessions_expired_total", Help: "Sessions ended by inactivity."}),
		sessionLifetime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_session_lifetime_seconds", Help: "Lifetime of ended session actors.",
			Buckets: []float64{.01, .1, 1, 10, 60, 300, 900, 1800, 3600, 7200, 21600, 86400}}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turns_total", Help: "AI turns by LLM provider type."}, []string{"provider_type"}),
		llmLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_llm_latency_seconds", Help: "LLM call latency by provider type.", Buckets: latency},
			[]string{"provider_type"}),
		llmErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_llm_errors_total", Help: "Failed or timed-out LLM calls by provider type."}, []string{"provider_type"}),
		llmTokenCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_llm_tokens_total", Help: "Tokens used by LLM calls, as the vendor counted them, by provider type, model and kind (prompt: input; completion: output)."},
			[]string{"provider_type", "model", "kind"}),
		llmFinishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_llm_finish_total", Help: "LLM answers by provider type and finish reason (stop, length: cut off by the token limit, content_filter: refused or filtered, tool_calls, other)."},
			[]string{"provider_type", "reason"}),
		replyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_webhook_to_reply_seconds", Help: "From the webhook's arrival to Twilio accepting the reply's first part.",
			Buckets: latency}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_outbound_sends_total", Help: "Outbound message parts by final result and Twilio error code."},
			[]string{"result", "error_code"}),
		sendKinds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_outbound_sends_by_kind_total", Help: "Outbound message parts by kind (text, media: with MediaUrl, template: a Content template) and final result."},
			[]string{"kind", "result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_outbound_retries_total", Help: "Retried Twilio REST calls."}),
		optOuts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_opt_outs_total", Help: "Recipients opted out (STOP keywords and Twilio 21610)."}),
		optIns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_opt_ins_total", Help: "Recipients opted back in (START keywords)."}),
		expiryLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_session_expiry_lateness_seconds", Help: "How long after its idle deadline a session was granted its stop.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2, 5}}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_store_operation_seconds", Help: "Latency of the engine's store operations (batched commits count once).",
			Buckets: latency}, []string{"op"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_commit_seconds", Help: "Duration of one group commit (every write of the hot path goes through one): one transaction, or two when a store commits inbound messages and turns separately, more when a failed batch is retried turn by turn.",
			Buckets: latency}),
		commitItems: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_commit_batch_items", Help: "Writes (inbound messages, turns, send results) sharing one group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}}),
	}
	m.replyFormats = newReplyFormatMetric(reg)
	reg.MustRegister(m.sessionsCreated, m.sessionsExpired, m.sessionLifetime, m.turns, m.llmLatency, m.llmErrors, m.llmTokenCount, m.llmFinishes,
		m.replyLatency, m.sends, m.sendKinds, m.retries, m.optOuts, m.optIns, m.storeLatency, m.expiryLateness, m.commitSeconds, m.commitItems,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchboard_sessions_active", Help: "Live session actors."},
			func() float64 { return float64(e.live.count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchboard_messages_pending", Help: "Delivered inbound messages whose turn is not complete (the engine's mailbox depth)."},
			func() float64 { return float64(e.pending.Load()) }),
	)
	if sr, ok := e.opts.Store.(store.StatsReporter); ok {
		// Deterministic per-message costs: divide by answered messages.
		for _, c := range []struct {
			name, help string
			get        func(store.Stats) uint64
		}{
			{"switchboard_store_commits_total", "Transactions of the hot path (group commits; on a store without batches, one per inbound batch and per turn).", func(s store.Stats) uint64 { return s.Commits }},
			{"switchboard_store_syncs_total", "Durable flushes of the hot path: fsyncs of the WAL (SQLite), flushed commits (PostgreSQL).", func(s store.Stats) uint64 { return s.Syncs }},
			{"switchboard_store_statements_total", "SQL statements run by the hot path's transactions.", func(s store.Stats) uint64 { return s.Statements }},
		} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
				func() float64 { return float64(c.get(sr.Stats())) }))
		}
	}
	m.sends.WithLabelValues("sent", "0")
	return m
}

func (m *metrics) sessionStarted() {
	if m != nil {
		m.sessionsCreated.Inc()
	}
}

func (m *metrics) sessionEnded(lifetime time.Duration, expired bool) {
	if m == nil {
		return
	}
	m.sessionLifetime.Observe(lifetime.Seconds())
	if expired {
		m.sessionsExpired.Inc()
	}
}

func (m *metrics) expiry(late time.Duration) {
	if m != nil {
		m.expiryLateness.Observe(max(late, 0).Seconds())
	}
}

func (m *metrics) llmCall(providerType string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.turns.WithLabelValues(providerType).Inc()
	m.llmLatency.WithLabelValues(providerType).Observe(d.Seconds())
	if err != nil {
		m.llmErrors.WithLabelValues(providerType).Inc()
	}
}

// llmTokens counts the tokens of one LLM call.
func (m *metrics) llmTokens(providerType, model string, u llm.Usage) {
	if m == nil {
		return
	}
	m.llmTokenCount.WithLabelValues(providerType, model, "prompt").Add(float64(u.PromptTokens))
	m.llmTokenCount.WithLabelValues(providerType, model, "completion").Add(float64(u.CompletionTokens))
}

// llmFinish counts one LLM answer by its finish reason.
func (m *metrics) llmFinish(providerType, reason string) {
	if m != nil {
		m.llmFinishes.WithLabelValues(providerType, reason).Inc()
	}
}

func (m *metrics) reply(d time.Duration) {
	if m != nil {
		m.replyLatency.Observe(d.Seconds())
	}
}

func (m *metrics) send(result string, code int) {
	if m != nil {
		m.sends.WithLabelValues(result, strconv.Itoa(code)).Inc()
	}
}

func (m *metrics) sendKind(kind, result string) {
	if m != nil {
		m.sendKinds.WithLabelValues(kind, result).Inc()
	}
}

func (m *metrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *metrics) optOut() {
	if m != nil {
		m.optOuts.Inc()
	}
}

func (m *metrics) optIn() {
	if m != nil {
		m.optIns.Inc()
	}
}

// commit records one group-commit transaction of n writes.
func (m *metrics) commit(n int, d time.Duration) {
	if m != nil {
		m.commitSeconds.Observe(d.Seconds())
		m.commitItems.Observe(float64(n))
	}
}

func (m *metrics) storeOp(op string, start time.Time) {
	if m != nil {
		m.storeLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// SessionCollector exports per-session series by walking the live sessions
// at scrape time, so a session's series vanish when it ends. The walk reads
// atomic counters under short shard locks and never messages an actor, so
// a scrape cannot stall the sessions. At most max sessions are exported
// (max <= 0: none).
type SessionCollector struct {
	e   *Engine
	max int
}

// NewSessionCollector returns a collector of at most max sessions' series.
func (e *Engine) NewSessionCollector(max int) *SessionCollector {
	return &SessionCollector{e: e, max: max}
}

var (
	sessionLabels  = []string{"session_id", "project_id", "provider_id"}
	descMsgsIn     = prometheus.NewDesc("switchboard_session_messages_in", "Inbound messages of a live session.", sessionLabels, nil)
	descMsgsOut    = prometheus.NewDesc("switchboard_session_messages_out", "Outbound messages sent by a live session.", sessionLabels, nil)
	descTurns      = prometheus.NewDesc("switchboard_session_turns", "AI turns of a live session.", sessionLabels, nil)
	descIdle       = prometheus.NewDesc("switchboard_session_idle_seconds", "Seconds since a live session's last inbound message.", sessionLabels, nil)
	descQueueDepth = prometheus.NewDesc("switchboard_session_queue_depth", "Messages queued in a live session.", sessionLabels, nil)
	descExported   = prometheus.NewDesc("switchboard_session_series_exported", "Sessions exported as per-session series in this scrape (capped by METRICS_SESSION_SERIES_MAX).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *SessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMsgsIn, descMsgsOut, descTurns, descIdle, descQueueDepth, descExported} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *SessionCollector) Collect(ch chan<- prometheus.Metric) {
	n := 0
	if c.max > 0 {
		now := time.Now().UnixNano()
		c.e.live.walk(c.max, func(s *sessionState) {
			n++
			lv := []string{s.id, s.key.ProjectID, s.key.ChannelProviderID}
			ch <- prometheus.MustNewConstMetric(descMsgsIn, prometheus.CounterValue, float64(s.messagesIn.Load()), lv...)
			ch <- prometheus.MustNewConstMetric(descMsgsOut, prometheus.CounterValue, float64(s.messagesOut.Load()), lv...)
			ch <- prometheus.MustNewConstMetric(descTurns, prometheus.CounterValue, float64(s.turns.Load()), lv...)
			idle := 0.0
			if last := s.lastInbound.Load(); last > 0 {
				idle = float64(now-last) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, idle, lv...)
			ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(s.queueDepth.Load()), lv...)
		})
	}
	ch <- prometheus.MustNewConstMetric(descExported, prometheus.GaugeValue, float64(n))
}
