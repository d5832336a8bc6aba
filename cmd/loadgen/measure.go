package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"switchboard/cmd/loadgen/internal/report"
)

// measures are the optional server costs of a run beyond latency: the
// store counters (scraped from each server's /metrics), the database
// processes' CPU and the idle window. Each is read before the load and
// after the drain, so its figures cover the same window as the server's
// CPU column.
type measures struct {
	nodes    []*node
	metrics  []*metricsClient // per node; nil: its metrics are not known
	db       *dbProcs         // nil: not measured
	metrics0 []map[string]*dto.MetricFamily
	db0      dbCPU
	dbOK     bool // db0 was read
	notes    []string
}

// newMeasures prepares what cfg asks for. A spawned server's metrics URL
// is the one it printed, and the token the METRICS_TOKEN it was given,
// unless the flags name others. The database's CPU is that of the
// processes the flags select, or else of the private PostgreSQL loadgen
// started, if any.
func newMeasures(cfg *config, f *fleet) *measures {
	m := &measures{nodes: f.nodes}
	token := cfg.metricsToken
	if cfg.spawn && token == "" {
		token = envValue(cfg.serverEnv, "METRICS_TOKEN")
	}
	for _, n := range f.nodes {
		if n.metricsURL == "" && n.srv != nil && len(m.notes) == 0 {
			m.notes = append(m.notes, "store counters not measured: the spawned server serves no /metrics (METRICS_ADDR=off)")
		}
		m.metrics = append(m.metrics, newMetricsClient(n.metricsURL, token))
	}
	switch {
	case cfg.dbCPUProcs != "" || cfg.dbCPURoot > 0:
		m.db = &dbProcs{procRoot: "/proc", names: parseNames(cfg.dbCPUProcs), root: cfg.dbCPURoot}
	case f.pg != nil:
		m.db = &dbProcs{procRoot: "/proc", root: f.pg.PID()}
	}
	return m
}

// before takes the readings at the start of the measured window.
func (m *measures) before(ctx context.Context) {
	m.metrics0 = make([]map[string]*dto.MetricFamily, len(m.metrics))
	for i, c := range m.metrics {
		if c == nil {
			continue
		}
		fams, err := c.scrape(ctx)
		if err != nil {
			m.notes = append(m.notes, m.nodeName(i)+"store counters not measured: "+err.Error())
		}
		m.metrics0[i] = fams
	}
	if m.db != nil {
		r, err := m.db.read()
		if err != nil {
			m.notes = append(m.notes, "database CPU not measured: "+err.Error())
		}
		m.db0, m.dbOK = r, err == nil
	}
}

// nodeName prefixes notes about node i when there are several.
func (m *measures) nodeName(i int) string {
	if len(m.nodes) < 2 {
		return ""
	}
	return fmt.Sprintf("node %d: ", i+1)
}

// dbAfter reads the database's CPU at the end of the measured window and
// returns its stats over answered messages (nil when not measured).
func (m *measures) dbAfter(answered int64) *report.DBStats {
	if m.db == nil || !m.dbOK {
		return nil
	}
	r, err := m.db.read()
	if err != nil {
		m.notes = append(m.notes, "database CPU not measured: "+err.Error())
		return nil
	}
	st := &report.DBStats{Names: m.db.names, Root: m.db.root, Procs: len(r.procs), CPUSeconds: r.since(m.db0)}
	if answered > 0 {
		st.CPUMicrosPerMessage = st.CPUSeconds * 1e6 / float64(answered)
	}
	if len(r.procs) == 0 {
		m.notes = append(m.notes, "database CPU: no process "+st.Selection()+" was found")
	}
	return st
}

// storeAfter scrapes the store counters at the end of the measured window
// and returns their growth per answered message, in total and per node
// (nil where not measured). A killed node is not scraped; the total then
// leaves it out, and says so in a note.
func (m *measures) storeAfter(ctx context.Context, answered int64) (total *report.StoreStats, each []*report.StoreStats) {
	each = make([]*report.StoreStats, len(m.metrics))
	var parts []*report.StoreStats
	for i, c := range m.metrics {
		if c == nil || m.metrics0[i] == nil {
			continue
		}
		if m.nodes[i].dead.Load() {
			m.notes = append(m.notes, fmt.Sprintf("node %d was killed: its store counters are left out of the total", i+1))
			continue
		}
		fams, err := c.scrape(ctx)
		if err != nil {
			m.notes = append(m.notes, m.nodeName(i)+"store counters not measured: "+err.Error())
			continue
		}
		each[i] = storeStats(c.url, m.metrics0[i], fams, answered)
		parts = append(parts, each[i])
	}
	switch {
	case len(parts) == 0:
		return nil, each
	case len(m.metrics) == 1:
		return parts[0], each
	}
	return sumStore(parts, answered), each
}

// sumStore adds the nodes' store counters up; a counter is reported only
// when every node exports it.
func sumStore(parts []*report.StoreStats, answered int64) *report.StoreStats {
	urls := make([]string, len(parts))
	for i, p := range parts {
		urls[i] = p.MetricsURL
	}
	sum := func(get func(*report.StoreStats) *report.Counter) *report.Counter {
		var c *report.Counter
		for _, p := range parts {
			x := get(p)
			if x == nil {
				return nil
			}
			if c == nil {
				c = &report.Counter{Metric: x.Metric}
			}
			c.Delta += x.Delta
		}
		if answered > 0 {
			c.PerMessage = c.Delta / float64(answered)
		}
		return c
	}
	return &report.StoreStats{
		MetricsURL:   strings.Join(urls, ","),
		Messages:     answered,
		Commits:      sum(func(s *report.StoreStats) *report.Counter { return s.Commits }),
		Syncs:        sum(func(s *report.StoreStats) *report.Counter { return s.Syncs }),
		Statements:   sum(func(s *report.StoreStats) *report.Counter { return s.Statements }),
		GroupCommits: sum(func(s *report.StoreStats) *report.Counter { return s.GroupCommits }),
	}
}

// idle keeps the servers idle for d (or until ctx ends) and returns what
// they (added up) and the database's processes cost per second, with the
// live sessions of all at both ends. The scrapes of the session count fall
// outside the CPU window, so their cost is not counted as idle cost. A
// killed node is left out.
func (m *measures) idle(ctx context.Context, d time.Duration, pids []int) (*report.IdleStats, error) {
	st := &report.IdleStats{}
	scrapeSessions := func() *float64 {
		var sum *float64
		for i, c := range m.metrics {
			if c == nil || m.nodes[i].dead.Load() {
				continue
			}
			fams, err := c.scrape(ctx)
			if err != nil {
				m.notes = append(m.notes, m.nodeName(i)+"idle sessions not counted: "+err.Error())
				return nil
			}
			v := sessionsActive(fams)
			if v == nil {
				return nil
			}
			if sum == nil {
				sum = new(float64)
			}
			*sum += *v
		}
		return sum
	}
	cpuOf := func() (float64, error) {
		total := 0.0
		for i, pid := range pids {
			if m.nodes[i].dead.Load() {
				continue
			}
			cpu, _, _, err := procStat(pid)
			if err != nil {
				return 0, err
			}
			total += cpu
		}
		return total, nil
	}
	st.SessionsAtStart = scrapeSessions()
	cpu0, err := cpuOf()
	if err != nil {
		return nil, err
	}
	var db0 dbCPU
	dbOK := false
	if m.db != nil {
		db0, err = m.db.read()
		dbOK = err == nil
	}
	t0 := time.Now()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		m.notes = append(m.notes, "interrupted: the idle window was cut short")
	}
	cpu1, err := cpuOf()
	if err != nil {
		return nil, err
	}
	var db1 dbCPU
	if dbOK {
		db1, err = m.db.read()
		dbOK = err == nil
	}
	st.Seconds = time.Since(t0).Seconds()
	st.ServerCPUSeconds = cpu1 - cpu0
	st.ServerCPUMillisPerSecond = idleRate(st.ServerCPUSeconds, st.Seconds)
	if dbOK {
		sec := db1.since(db0)
		rate := idleRate(sec, st.Seconds)
		st.DBCPUSeconds, st.DBCPUMillisPerSecond = &sec, &rate
	}
	st.SessionsAtEnd = scrapeSessions()
	return st, nil
}

// idleRate is CPU seconds over a window of seconds, in milliseconds per
// second (10 ms/s is 1 % of one core).
func idleRate(cpuSeconds, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return cpuSeconds * 1000 / seconds
}
