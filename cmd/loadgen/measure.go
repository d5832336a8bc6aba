package main

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"switchboard/cmd/loadgen/internal/report"
)

// measures are the optional server costs of a run beyond latency: the
// store counters (scraped from /metrics), the database processes' CPU and
// the idle window. Each is read before the load and after the drain, so
// its figures cover the same window as the server's CPU column.
type measures struct {
	metrics  *metricsClient // nil: no metrics URL
	db       *dbProcs       // nil: --db-cpu-procs and --db-cpu-root unset
	metrics0 map[string]*dto.MetricFamily
	db0      dbCPU
	dbOK     bool // db0 was read
	notes    []string
}

// newMeasures prepares what cfg asks for. With a spawned server the
// metrics URL is the one it printed, and the token the METRICS_TOKEN it
// was given, unless the flags name others.
func newMeasures(cfg *config, srv *spawned) *measures {
	m := &measures{}
	url, token := cfg.metricsURL, cfg.metricsToken
	if srv != nil {
		if url == "" {
			url = spawnedMetricsURL(srv.MetricsURL, srv.URL, cfg.serverEnv)
			if url == "" {
				m.notes = append(m.notes, "store counters not measured: the spawned server serves no /metrics (METRICS_ADDR=off)")
			}
		}
		if token == "" {
			token = envValue(cfg.serverEnv, "METRICS_TOKEN")
		}
	}
	m.metrics = newMetricsClient(url, token)
	if cfg.dbCPUProcs != "" || cfg.dbCPURoot > 0 {
		m.db = &dbProcs{procRoot: "/proc", names: parseNames(cfg.dbCPUProcs), root: cfg.dbCPURoot}
	}
	return m
}

// before takes the readings at the start of the measured window.
func (m *measures) before(ctx context.Context) {
	if m.metrics != nil {
		fams, err := m.metrics.scrape(ctx)
		if err != nil {
			m.notes = append(m.notes, "store counters not measured: "+err.Error())
		}
		m.metrics0 = fams
	}
	if m.db != nil {
		r, err := m.db.read()
		if err != nil {
			m.notes = append(m.notes, "database CPU not measured: "+err.Error())
		}
		m.db0, m.dbOK = r, err == nil
	}
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
	st := &report.DBStats{Names: m.db.names, Root: m.db.root, Procs: r.procs, CPUSeconds: max(r.seconds-m.db0.seconds, 0)}
	if answered > 0 {
		st.CPUMicrosPerMessage = st.CPUSeconds * 1e6 / float64(answered)
	}
	if r.procs == 0 {
		m.notes = append(m.notes, "database CPU: no process "+st.Selection()+" was found")
	}
	return st
}

// storeAfter scrapes the store counters at the end of the measured window
// and returns their growth per answered message (nil when not measured).
func (m *measures) storeAfter(ctx context.Context, answered int64) *report.StoreStats {
	if m.metrics == nil || m.metrics0 == nil {
		return nil
	}
	fams, err := m.metrics.scrape(ctx)
	if err != nil {
		m.notes = append(m.notes, "store counters not measured: "+err.Error())
		return nil
	}
	return storeStats(m.metrics.url, m.metrics0, fams, answered)
}

// idle keeps the server idle for d (or until ctx ends) and returns what it
// and the database's processes cost per second, with the live sessions at
// both ends. The scrapes of the session count fall outside the CPU window,
// so their cost is not counted as idle cost.
func (m *measures) idle(ctx context.Context, d time.Duration, pid int) (*report.IdleStats, error) {
	st := &report.IdleStats{}
	scrapeSessions := func() *float64 {
		if m.metrics == nil {
			return nil
		}
		fams, err := m.metrics.scrape(ctx)
		if err != nil {
			m.notes = append(m.notes, "idle sessions not counted: "+err.Error())
			return nil
		}
		return sessionsActive(fams)
	}
	st.SessionsAtStart = scrapeSessions()
	cpu0, _, _, err := procStat(pid)
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
	cpu1, _, _, err := procStat(pid)
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
		sec := max(db1.seconds-db0.seconds, 0)
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
