package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 760, 300
	padL, padR     = 64, 16
	padT, padB     = 28, 44
)

// palette colours the series of a chart.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// series is one line of a line chart.
type series struct {
	Name string
	Y    []float64
}

// niceStep returns a round step (1, 2 or 5 × 10^k) that cuts span into
// about n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// fmtTick formats an axis value compactly.
func fmtTick(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// svgHeader opens a chart with its title and the plot frame.
func svgHeader(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title>`, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`, padL, padT, chartW-padL-padR, chartH-padT-padB)
}

// yAxis draws horizontal grid lines and labels for [0, ymax].
func yAxis(b *strings.Builder, ymax float64, label string) {
	step := niceStep(ymax, 5)
	plotH := float64(chartH - padT - padB)
	for v := 0.0; v <= ymax*1.0001; v += step {
		y := float64(chartH-padB) - v/ymax*plotH
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`, padL-4, y+4, fmtTick(v))
	}
	fmt.Fprintf(b, `<text x="14" y="%d" font-size="11" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>`,
		(padT+chartH-padB)/2, (padT+chartH-padB)/2, template.HTMLEscapeString(label))
}

// legend lists the series names in their colours.
func legend(b *strings.Builder, names []string) {
	x := chartW - padR - 8
	for i := len(names) - 1; i >= 0; i-- {
		w := 12 + 7*len(names[i])
		x -= w
		fmt.Fprintf(b, `<rect x="%d" y="8" width="10" height="10" fill="%s"/>`, x, palette[i%len(palette)])
		fmt.Fprintf(b, `<text x="%d" y="17" font-size="11">%s</text>`, x+13, template.HTMLEscapeString(names[i]))
		x -= 8
	}
}

// yMax returns a rounded-up maximum of every series (at least a small
// positive number, so an all-zero chart still draws).
func yMax(ss []series) float64 {
	m := 0.0
	for _, s := range ss {
		for _, v := range s.Y {
			if !math.IsNaN(v) && v > m {
				m = v
			}
		}
	}
	if m <= 0 {
		return 1
	}
	step := niceStep(m, 5)
	return math.Ceil(m/step) * step
}

// lineChart draws series over x positions (already mapped into [0, 1])
// with x tick labels at the given positions.
func lineChart(title, yLabel string, x []float64, ss []series, xticks []float64, xtickLabels []string, xLabel string) template.HTML {
	var b strings.Builder
	svgHeader(&b, title)
	ymax := yMax(ss)
	yAxis(&b, ymax, yLabel)
	plotW := float64(chartW - padL - padR)
	plotH := float64(chartH - padT - padB)
	for i, t := range xticks {
		px := float64(padL) + t*plotW
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>`, px, px, chartH-padB, chartH-padB+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, px, chartH-padB+16, template.HTMLEscapeString(xtickLabels[i]))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`, (padL+chartW-padR)/2, chartH-6, template.HTMLEscapeString(xLabel))
	names := make([]string, len(ss))
	for si, s := range ss {
		names[si] = s.Name
		var pts []string
		for i, v := range s.Y {
			if i >= len(x) || math.IsNaN(v) {
				continue
			}
			px := float64(padL) + x[i]*plotW
			py := float64(chartH-padB) - v/ymax*plotH
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0])
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, palette[si%len(palette)], strings.Join(pts, " "))
	}
	legend(&b, names)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// timeChart draws per-second series against the run's seconds.
func timeChart(title, yLabel string, seconds int, ss []series) template.HTML {
	if seconds < 1 {
		seconds = 1
	}
	span := float64(max(seconds-1, 1))
	x := make([]float64, seconds)
	for i := range x {
		x[i] = float64(i) / span
	}
	ticks, labels := secondTicks(span)
	return lineChart(title, yLabel, x, ss, ticks, labels, "seconds since start")
}

// nines maps a percentile to the "number of nines" axis HDR plots use:
// 90 → 1, 99 → 2, 99.9 → 3; 100 is drawn at maxNines.
func nines(p float64) float64 {
	if p >= 100 {
		return maxNines
	}
	return math.Min(-math.Log10(1-p/100), maxNines)
}

// maxNines is the right end of the percentile axis (99.999%).
const maxNines = 5

// percentileChart draws latency by percentile for several distributions.
func percentileChart(title string, names []string, ls []Latency) template.HTML {
	x := make([]float64, len(percentiles))
	for i, p := range percentiles {
		x[i] = nines(p) / maxNines
	}
	ss := make([]series, len(ls))
	for i, l := range ls {
		ss[i].Name = names[i]
		for _, p := range l.Percentiles {
			ss[i].Y = append(ss[i].Y, p.Ms)
		}
	}
	ticks := []float64{0, 0.2, 0.4, 0.6, 0.8, 1}
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}
	return lineChart(title, "latency (ms)", x, ss, ticks, labels, "percentile")
}

// barChart draws a log-binned histogram.
func barChart(title string, bins []Bin, color string) template.HTML {
	var b strings.Builder
	svgHeader(&b, title)
	var peak int64
	for _, bin := range bins {
		peak = max(peak, bin.Count)
	}
	ymax := yMax([]series{{Y: []float64{float64(peak)}}})
	yAxis(&b, ymax, "messages")
	plotW := float64(chartW - padL - padR)
	plotH := float64(chartH - padT - padB)
	if len(bins) > 0 {
		w := plotW / float64(len(bins))
		every := max(1, len(bins)/10)
		for i, bin := range bins {
			h := float64(bin.Count) / ymax * plotH
			x := float64(padL) + float64(i)*w
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s–%s ms: %d</title></rect>`,
				x+1, float64(chartH-padB)-h, math.Max(w-2, 1), h, color, fmtTick(bin.FromMs), fmtTick(bin.ToMs), bin.Count)
			if i%every == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x, chartH-padB+16, fmtTick(bin.FromMs))
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">latency (ms, log bins)</text>`, (padL+chartW-padR)/2, chartH-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// secondTicks places about eight round ticks on a time axis of span
// seconds: their positions as fractions of the axis, and their labels.
func secondTicks(span float64) (ticks []float64, labels []string) {
	step := niceStep(span, 8)
	for s := 0.0; s <= span+1e-9; s += step {
		ticks = append(ticks, s/span)
		labels = append(labels, fmtTick(s))
	}
	return ticks, labels
}
