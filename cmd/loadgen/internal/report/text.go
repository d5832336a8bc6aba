package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteSummary writes the human-readable summary table.
func WriteSummary(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...))
	}
	row("server", "%s%s", r.ServerURL, map[bool]string{true: " (spawned)", false: ""}[r.Spawned])
	if r.PublicURL != "" {
		row("public URL", "%s (signatures computed over it)", r.PublicURL)
	}
	row("load phase", "%.2f s (drain %.2f s)", r.LoadSeconds, r.DrainSeconds)
	row("requests", "%d webhook deliveries (%.0f/s)", r.Requests, r.RequestRate)
	row("messages", "%d sent, %d accepted (200), %d never acknowledged", r.Check.Messages, r.Check.Accepted, r.Check.Unacked)
	row("duplicates", "%d replayed deliveries (%d messages)", r.Duplicates, r.Check.Replayed)
	row("non-200", "%d (transport errors %d)", r.Non200, r.TransportErrors)
	codes := make([]string, 0, len(r.StatusCodes))
	for _, k := range SortedKeys(r.StatusCodes) {
		codes = append(codes, fmt.Sprintf("%s×%d", k, r.StatusCodes[k]))
	}
	row("status codes", "%s", strings.Join(codes, " "))
	for _, k := range SortedKeys(r.Errors) {
		row("  error", "%d× %s", r.Errors[k], k)
	}
	row("replies", "%d (%d accepted messages answered, %d unacknowledged ones answered)", r.Check.Replies, r.Check.Answered, r.Check.UnackedAnswered)
	row("throughput", "%.0f messages/s answered end to end", r.Throughput)
	lat := func(name string, l Latency) {
		if l.Count == 0 {
			row(name, "no samples")
			return
		}
		row(name, "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
			fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs), l.Count)
	}
	lat("ack latency", r.Ack)
	lat("reply latency", r.Reply)
	for _, n := range r.Nodes {
		row(fmt.Sprintf("node %d", n.Node), "%s: %s", n.URL, n.Summary())
	}
	if s := r.Server; s != nil && len(r.Nodes) > 0 {
		row("server peak RSS", "%.1f MiB (the %d nodes' peaks added up)", float64(s.PeakRSSBytes)/(1<<20), len(r.Nodes))
		row("server CPU", "%.2f s (%.0f µs per message answered; all nodes)", s.CPUSeconds, s.CPUMicrosPerMessage)
	} else if s != nil {
		row("server pid", "%d", s.PID)
		row("server peak RSS", "%.1f MiB", float64(s.PeakRSSBytes)/(1<<20))
		row("server CPU", "%.2f s (%.0f µs per message answered)", s.CPUSeconds, s.CPUMicrosPerMessage)
	}
	if r.DB != nil {
		row("db CPU", "%s", r.DB.Summary())
	}
	if r.Store != nil {
		row("store", "%s", r.Store.Summary())
	}
	if r.Idle != nil {
		row("idle", "%s", r.Idle.Summary())
	}
	if r.Kill != nil {
		row("kill", "%s", r.Kill.Summary())
	}
	if r.LoadgenCPUSeconds > 0 {
		row("loadgen CPU", "%.2f s (%.0f µs per message answered; senders and simulated Twilio), peak RSS %.1f MiB",
			r.LoadgenCPUSeconds, r.LoadgenCPUMicrosPerMessage, float64(r.LoadgenPeakRSSBytes)/(1<<20))
	}
	row("simulated Twilio", "%d sends accepted, %d faults injected, %d status callbacks", r.Sim.Messages, r.Sim.InjectedFaults, r.Sim.Callbacks)
	for _, inv := range r.Check.Invariants {
		verdict := "ok"
		if !inv.OK {
			verdict = fmt.Sprintf("FAILED (%d)", inv.Failures)
		}
		row("invariant", "%s: %s", inv.Name, verdict)
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: write summary: %w", err)
	}
	return nil
}

// WriteFailures writes each broken invariant with its examples.
func WriteFailures(w io.Writer, r *Report) error {
	for _, inv := range r.Check.Failed() {
		if _, err := fmt.Fprintf(w, "INVARIANT BROKEN: %s (%d failures)\n", inv.Name, inv.Failures); err != nil {
			return fmt.Errorf("report: write failures: %w", err)
		}
		for _, ex := range inv.Examples {
			fmt.Fprintf(w, "  e.g. %s\n", ex)
		}
	}
	return nil
}

// fmtMs formats milliseconds with a unit that keeps three digits.
func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	case v < 1000:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.2fs", v/1000)
	}
}
