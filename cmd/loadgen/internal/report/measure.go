package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Counter is one server counter over the measured window: how much it grew
// and that growth over the messages answered.
type Counter struct {
	Metric     string  `json:"metric"`
	Delta      float64 `json:"delta"`
	PerMessage float64 `json:"perMessage"`
}

// StoreStats are the server's store counters, scraped from its /metrics
// before the load and after the drain. Unlike CPU time they do not depend
// on machine noise: commits, fsyncs and SQL statements per answered
// message are what a storage layout costs (issue 12 asks for them on both
// stores). A counter the server does not export is nil.
type StoreStats struct {
	MetricsURL string `json:"metricsUrl"`
	// Messages is what the deltas are divided by: messages answered.
	Messages   int64    `json:"messages"`
	Commits    *Counter `json:"commits,omitempty"`
	Syncs      *Counter `json:"syncs,omitempty"`
	Statements *Counter `json:"statements,omitempty"`
	// GroupCommits is the fallback for builds without the store counters:
	// the count of the switchboard_commit_seconds histogram, one per group
	// commit of the hot path.
	GroupCommits *Counter `json:"groupCommits,omitempty"`
}

// Reported reports whether the server exports any of the store counters.
func (s *StoreStats) Reported() bool {
	return s.Commits != nil || s.Syncs != nil || s.Statements != nil
}

// Summary is the report's one-line account of the store counters.
func (s *StoreStats) Summary() string {
	if !s.Reported() {
		line := "commits, syncs and statements not reported by this server"
		if g := s.GroupCommits; g != nil {
			line += fmt.Sprintf(" (%s group commits per answered message from %s_count)", perMessage(g.PerMessage), g.Metric)
		}
		return line
	}
	parts := make([]string, 0, 3)
	for _, c := range []struct {
		name string
		c    *Counter
	}{{"commits", s.Commits}, {"syncs", s.Syncs}, {"statements", s.Statements}} {
		if c.c == nil {
			parts = append(parts, c.name+" not reported")
			continue
		}
		parts = append(parts, perMessage(c.c.PerMessage)+" "+c.name)
	}
	return strings.Join(parts, ", ") + " per answered message"
}

// perMessage formats a per-message count with at most three decimals and
// no trailing zeros: exact ratios read as such (1, 0.5, 8).
func perMessage(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// DBStats is the CPU of the database's own processes (PostgreSQL's
// backends, WAL writer, checkpointer…) during the load and the drain:
// with DATABASE_URL=postgres://… the server's CPU column leaves it out,
// though it is what the nodes of a cluster share. Read from /proc, so only
// for a database on this host.
type DBStats struct {
	// Names and Root select the processes: the comm or executable name
	// (any, when empty) and the process tree (the whole host when 0).
	Names []string `json:"names,omitempty"`
	Root  int      `json:"root,omitempty"`
	// Procs is how many processes matched at the end of the window.
	Procs               int     `json:"procs"`
	CPUSeconds          float64 `json:"cpuSeconds"`
	CPUMicrosPerMessage float64 `json:"cpuMicrosPerMessage"`
}

// Summary is the report's one-line account of the database's CPU.
func (d *DBStats) Summary() string {
	return fmt.Sprintf("%.2f s (%.0f µs per message answered; %d processes %s)", d.CPUSeconds, d.CPUMicrosPerMessage, d.Procs, d.Selection())
}

// Selection says which processes were counted.
func (d *DBStats) Selection() string {
	var s string
	if len(d.Names) > 0 {
		s = "named " + strings.Join(d.Names, ",")
	} else {
		s = "of any name"
	}
	if d.Root > 0 {
		s += fmt.Sprintf(" under pid %d", d.Root)
	}
	return s
}

// IdleStats is what the server (and the database's processes) cost while
// idle after the run: every message answered, the sessions still live.
// Issue 12 asks for it with 0 and with 100,000 idle sessions.
type IdleStats struct {
	Seconds float64 `json:"seconds"`
	// ServerCPUSeconds over Seconds: ServerCPUMillisPerSecond (10 ms/s is
	// 1 % of one core).
	ServerCPUSeconds         float64 `json:"serverCpuSeconds"`
	ServerCPUMillisPerSecond float64 `json:"serverCpuMillisPerSecond"`
	// The database's processes, when measured (see DBStats).
	DBCPUSeconds         *float64 `json:"dbCpuSeconds,omitempty"`
	DBCPUMillisPerSecond *float64 `json:"dbCpuMillisPerSecond,omitempty"`
	// Sessions is switchboard_sessions_active at the start and the end of
	// the window (nil when the server's metrics were not scraped).
	SessionsAtStart *float64 `json:"sessionsAtStart,omitempty"`
	SessionsAtEnd   *float64 `json:"sessionsAtEnd,omitempty"`
}

// Summary is the report's one-line account of the idle window.
func (i *IdleStats) Summary() string {
	s := fmt.Sprintf("%.1f s: server %.2f ms CPU per second (%.2f%% of a core)",
		i.Seconds, i.ServerCPUMillisPerSecond, i.ServerCPUMillisPerSecond/10)
	if i.DBCPUMillisPerSecond != nil {
		s += fmt.Sprintf(", database %.2f ms CPU per second", *i.DBCPUMillisPerSecond)
	}
	if i.SessionsAtStart != nil && i.SessionsAtEnd != nil {
		s += fmt.Sprintf("; live sessions %.0f at start, %.0f at end", *i.SessionsAtStart, *i.SessionsAtEnd)
	} else {
		s += "; live sessions not known (no metrics URL)"
	}
	return s
}
