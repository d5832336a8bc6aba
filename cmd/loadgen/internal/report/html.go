package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// pageTemplate is the HTML report: one file, inline CSS and SVG, no
// scripts or external assets.
var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  fmtMs,
	"mib": func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) },
	"f0":  func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>loadgen report {{.R.StartedAt.Format "2006-01-02 15:04:05"}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
table{border-collapse:collapse;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:14px}
th{background:#f4f4f4}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}
code{background:#f4f4f4;padding:1px 4px}
svg{display:block;margin:8px 0 24px}
</style></head><body>
<h1>Load test report</h1>
<p>Started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}} against <code>{{.R.ServerURL}}</code>{{if .R.Spawned}} (spawned by loadgen){{end}}.
Verdict: {{if .R.OK}}<span class="ok">all invariants hold</span>{{else}}<span class="bad">invariants broken</span>{{end}}.</p>
<p><code>{{.Command}}</code></p>
<h2>Summary</h2>
<table>
<tr><th>load phase</th><td>{{f2 .R.LoadSeconds}} s (drain {{f2 .R.DrainSeconds}} s)</td></tr>
<tr><th>requests</th><td>{{.R.Requests}} webhook deliveries ({{f0 .R.RequestRate}}/s), {{.R.Duplicates}} of them replays</td></tr>
<tr><th>messages</th><td>{{.R.Check.Messages}} sent, {{.R.Check.Accepted}} accepted, {{.R.Check.Unacked}} never acknowledged</td></tr>
<tr><th>non-200</th><td>{{.R.Non200}} (transport errors {{.R.TransportErrors}})</td></tr>
<tr><th>status codes</th><td>{{range $k, $v := .R.StatusCodes}}{{$k}}×{{$v}} {{end}}</td></tr>
{{range $k, $v := .R.Errors}}<tr><th>error</th><td>{{$v}}× {{$k}}</td></tr>{{end}}
<tr><th>replies</th><td>{{.R.Check.Replies}} ({{.R.Check.Answered}} accepted messages answered)</td></tr>
<tr><th>throughput</th><td>{{f0 .R.Throughput}} messages/s answered end to end</td></tr>
{{if .R.PublicURL}}<tr><th>public URL</th><td><code>{{.R.PublicURL}}</code> (signatures computed over it)</td></tr>{{end}}
{{if .R.Nodes}}{{with .R.Server}}<tr><th>servers (all nodes)</th><td>peak RSS {{mib .PeakRSSBytes}} (the nodes' peaks added up), CPU {{f2 .CPUSeconds}} s = {{f0 .CPUMicrosPerMessage}} µs per message answered</td></tr>{{end}}
{{else}}{{with .R.Server}}<tr><th>server</th><td>pid {{.PID}}, peak RSS {{mib .PeakRSSBytes}}, CPU {{f2 .CPUSeconds}} s = {{f0 .CPUMicrosPerMessage}} µs per message answered</td></tr>{{end}}{{end}}
{{with .R.DB}}<tr><th>database CPU</th><td>{{.Summary}}</td></tr>{{end}}
{{with .R.Store}}<tr><th>store</th><td>{{.Summary}}</td></tr>{{end}}
{{with .R.Idle}}<tr><th>idle</th><td>{{.Summary}}</td></tr>{{end}}
{{with .R.Kill}}<tr><th>kill</th><td>{{.Summary}}</td></tr>{{end}}
{{if .R.LoadgenCPUSeconds}}<tr><th>load generator</th><td>CPU {{f2 .R.LoadgenCPUSeconds}} s = {{f0 .R.LoadgenCPUMicrosPerMessage}} µs per message answered (senders and simulated Twilio, on the same machine)</td></tr>{{end}}
<tr><th>simulated Twilio</th><td>{{.R.Sim.Messages}} sends accepted, {{.R.Sim.InjectedFaults}} faults injected, {{.R.Sim.Callbacks}} status callbacks</td></tr>
</table>
{{if .R.Nodes}}<h2>Nodes</h2>
<table>
<tr><th>node</th><th>URL</th><th>deliveries</th><th>answered 200</th><th>replies sent</th><th>pid</th><th>CPU s</th><th>µs per message</th><th>peak RSS</th><th>store per answered message</th></tr>
{{range .R.Nodes}}<tr><th>{{.Node}}{{if .Killed}} (killed){{end}}</th><td><code>{{.URL}}</code></td><td>{{.Deliveries}}</td><td>{{.Accepted}}</td><td>{{with .Replies}}{{.}}{{else}}not known{{end}}</td>{{with .Server}}<td>{{.PID}}</td><td>{{f2 .CPUSeconds}}</td><td>{{f0 .CPUMicrosPerMessage}}</td><td>{{mib .PeakRSSBytes}}</td>{{else}}<td colspan="4">not sampled</td>{{end}}<td>{{with .Store}}{{.Summary}}{{end}}</td></tr>
{{end}}<tr><th>total</th><td></td><td>{{.R.Requests}}</td><td>{{index .R.StatusCodes "200"}}</td><td>{{.R.Sim.Messages}}</td>{{with .R.Server}}<td></td><td>{{f2 .CPUSeconds}}</td><td>{{f0 .CPUMicrosPerMessage}}</td><td>{{mib .PeakRSSBytes}}</td>{{else}}<td colspan="4">not sampled</td>{{end}}<td>{{with .R.Store}}{{.Summary}}{{end}}</td></tr>
</table>
{{end}}<h2>Latency</h2>
<table>
<tr><th></th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>
{{range .Lat}}<tr><th>{{.Name}}</th><td>{{.L.Count}}</td><td>{{ms .L.P50Ms}}</td><td>{{ms .L.P90Ms}}</td><td>{{ms .L.P99Ms}}</td><td>{{ms .L.P999Ms}}</td><td>{{ms .L.MaxMs}}</td><td>{{ms .L.MeanMs}}</td></tr>
{{end}}</table>
<p>Acknowledgement: from sending a webhook until its answer arrived (every delivery).
Reply: from the first delivery of a message until the simulated Twilio received its reply.</p>
<h2>Invariants</h2>
<table>
<tr><th>invariant</th><th>verdict</th><th>examples</th></tr>
{{range .R.Check.Invariants}}<tr><td>{{.Name}}</td><td>{{if .OK}}<span class="ok">ok</span>{{else}}<span class="bad">{{.Failures}} failures</span>{{end}}</td><td>{{range .Examples}}{{.}}<br>{{end}}</td></tr>
{{end}}</table>
{{range .R.Notes}}<p>Note: {{.}}</p>{{end}}
<h2>Charts</h2>
{{range .Charts}}{{.}}
{{end}}
<h2>Configuration</h2>
<table>{{range $k, $v := .R.Config}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}</table>
</body></html>
`))

// namedLatency is a row of the latency table.
type namedLatency struct {
	Name string
	L    Latency
}

// WriteHTML writes the self-contained HTML report.
func WriteHTML(w io.Writer, r *Report) error {
	n := len(r.Series)
	col := func(f func(Point) float64) []float64 {
		out := make([]float64, n)
		for i, p := range r.Series {
			out[i] = f(p)
		}
		return out
	}
	charts := []template.HTML{
		throughputChart(r.Series),
		timeChart("Acknowledgement latency over time", "ms", n, []series{
			{"p50", col(func(p Point) float64 { return p.AckP50Ms })},
			{"p99", col(func(p Point) float64 { return p.AckP99Ms })},
		}),
		timeChart("Webhook-to-reply latency over time", "ms", n, []series{
			{"p50", col(func(p Point) float64 { return p.ReplyP50Ms })},
			{"p99", col(func(p Point) float64 { return p.ReplyP99Ms })},
		}),
		percentileChart("Latency by percentile", []string{"acknowledgement", "reply"}, []Latency{r.Ack, r.Reply}),
		barChart("Acknowledgement latency histogram", r.Ack.Histogram, palette[0]),
		barChart("Webhook-to-reply latency histogram", r.Reply.Histogram, palette[1]),
	}
	if s := r.Server; s != nil && len(s.Samples) > 1 {
		charts = append(charts, serverChart(s))
	}
	data := struct {
		R       *Report
		Command string
		Lat     []namedLatency
		Charts  []template.HTML
	}{r, strings.Join(r.Command, " "), []namedLatency{{"acknowledgement", r.Ack}, {"reply", r.Reply}}, charts}
	if err := pageTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

// minRateSpan is the shortest final partial second the throughput chart
// shows (as a rate): a shorter one holds too few events to be a rate.
const minRateSpan = 0.25

// throughputChart draws messages per second. The run ends inside its last
// second, so that second's counts are divided by the part of it the run
// covered (or left out when that part is too short to measure a rate):
// drawn as counts, every chart would end with a drop to near zero.
func throughputChart(points []Point) template.HTML {
	n, ss := throughput(points)
	return timeChart("Throughput", "per second", n, ss)
}

// throughput returns the throughput chart's seconds and rates.
func throughput(points []Point) (int, []series) {
	if k := len(points); k > 0 && points[k-1].Span > 0 && points[k-1].Span < minRateSpan {
		points = points[:k-1]
	}
	rate := func(count func(Point) int64) []float64 {
		out := make([]float64, len(points))
		for i, p := range points {
			span := p.Span
			if span <= 0 {
				span = 1 // a report written before Span existed
			}
			out[i] = float64(count(p)) / span
		}
		return out
	}
	return len(points), []series{
		{"sent", rate(func(p Point) int64 { return p.Sent })},
		{"acknowledged", rate(func(p Point) int64 { return p.Acked })},
		{"replies", rate(func(p Point) int64 { return p.Replied })},
	}
}

// serverChart draws the server's RSS and CPU use over the run.
func serverChart(s *ServerStats) template.HTML {
	last := s.Samples[len(s.Samples)-1].T
	if last <= 0 {
		last = 1
	}
	x := make([]float64, len(s.Samples))
	rss := series{Name: "RSS (MiB)"}
	cpu := series{Name: "CPU (% of a core)"}
	for i, p := range s.Samples {
		x[i] = p.T / last
		rss.Y = append(rss.Y, float64(p.RSSBytes)/(1<<20))
		if i == 0 {
			cpu.Y = append(cpu.Y, 0)
			continue
		}
		prev := s.Samples[i-1]
		dt := p.T - prev.T
		v := 0.0
		if dt > 0 {
			v = (p.CPUSeconds - prev.CPUSeconds) / dt * 100
		}
		cpu.Y = append(cpu.Y, v)
	}
	ticks, labels := secondTicks(last)
	return lineChart("Server process", "MiB / %", x, []series{rss, cpu}, ticks, labels, "seconds since start")
}
