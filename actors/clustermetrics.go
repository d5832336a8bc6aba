package actors

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// clusterMetrics are a cluster member's metrics; nil (no registerer)
// records nothing.
type clusterMetrics struct {
	membersG    prometheus.Gauge
	owned       prometheus.Gauge
	moves       *prometheus.CounterVec
	handOffs    *prometheus.CounterVec
	handOffTime prometheus.Histogram
	receivedC   *prometheus.CounterVec
	settledC    *prometheus.CounterVec
	staleC      prometheus.Counter
	fencedC     prometheus.Counter
	leaseLostC  prometheus.Counter
	steppedC    prometheus.Counter
}

func newClusterMetrics(reg prometheus.Registerer) *clusterMetrics {
	if reg == nil {
		return nil
	}
	m := &clusterMetrics{
		membersG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_members", Help: "Live members of the cluster, as this node's membership provider reports them."}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_owned_slots", Help: "Ownership slots (of 256) whose sessions this node runs."}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_slot_moves_total", Help: "Ownership slots this node acquired or released."}, []string{"direction"}),
		handOffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_handoffs_total", Help: "Hand-off requests this node sent to the owner of a key, by result (ok, failed)."}, []string{"result"}),
		handOffTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_cluster_handoff_seconds", Help: "Time of one hand-off request, from send to the owner's answer.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2}}),
		receivedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_handoffs_received_total", Help: "Messages and starts handed to this node, by outcome (taken; refused: not its key now)."}, []string{"outcome"}),
		settledC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_settled_total", Help: "Messages and starts that the owner by this node's view did not take, placed by the slot's owner in the database: by outcome (handed: to that owner; here: this node runs the slot now; pending: left for the load of the slot's next owner; rescan: no owner answered)."}, []string{"outcome"}),
		staleC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_cluster_handoffs_stale_total", Help: "Hand-off requests this node refused because they were addressed to the process it replaced at the same address (queued by Proto.Actor while that one was down)."}),
		fencedC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_cluster_fenced_total", Help: "Commits the database refused because this node no longer owned their key (fencing)."}),
		leaseLostC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_cluster_lease_lost_total", Help: "Times this node's lease expired before it was renewed (it then gave up every slot and joined again)."}),
		steppedC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_cluster_stepped_down_total", Help: "Times this node gave up every slot because most live nodes no longer saw it in their membership."}),
	}
	reg.MustRegister(m.membersG, m.owned, m.moves, m.handOffs, m.handOffTime, m.receivedC, m.settledC, m.staleC, m.fencedC, m.leaseLostC, m.steppedC)
	for _, o := range []string{"handed", "here", "pending", "rescan"} {
		m.settledC.WithLabelValues(o)
	}
	return m
}

func (m *clusterMetrics) members(n int) {
	if m != nil {
		m.membersG.Set(float64(n))
	}
}

func (m *clusterMetrics) ownedSlots(n int) {
	if m != nil {
		m.owned.Set(float64(n))
	}
}

func (m *clusterMetrics) moved(direction string, n int) {
	if m != nil {
		m.moves.WithLabelValues(direction).Add(float64(n))
	}
}

func (m *clusterMetrics) handOff(d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.handOffs.WithLabelValues(result).Inc()
	m.handOffTime.Observe(d.Seconds())
}

func (m *clusterMetrics) received(n, refused int) {
	if m != nil {
		m.receivedC.WithLabelValues("taken").Add(float64(n - refused))
		m.receivedC.WithLabelValues("refused").Add(float64(refused))
	}
}

func (m *clusterMetrics) settled(outcome string) {
	if m != nil {
		m.settledC.WithLabelValues(outcome).Inc()
	}
}

func (m *clusterMetrics) stale() {
	if m != nil {
		m.staleC.Inc()
	}
}

func (m *clusterMetrics) fenced() {
	if m != nil {
		m.fencedC.Inc()
	}
}

func (m *clusterMetrics) leaseLost() {
	if m != nil {
		m.leaseLostC.Inc()
	}
}

func (m *clusterMetrics) steppedDown() {
	if m != nil {
		m.steppedC.Inc()
	}
}
