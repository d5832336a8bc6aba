// Package report records the latencies and rates of a load test and renders
// the results: a summary table for the terminal, a JSON document and a
// self-contained HTML page with inline SVG charts.
//
// Latencies are kept in HDR histograms (microsecond resolution, three
// significant digits overall; two per one-second slice of the time series).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"switchboard/cmd/loadgen/internal/check"
)

// Histogram bounds, in microseconds: 1 µs to 10 minutes.
const (
	minMicros = 1
	maxMicros = 10 * 60 * 1_000_000
)

// Latency summarises one latency histogram, in milliseconds.
type Latency struct {
	Count       int64             `json:"count"`
	MinMs       float64           `json:"minMs"`
	MeanMs      float64           `json:"meanMs"`
	P50Ms       float64           `json:"p50Ms"`
	P90Ms       float64           `json:"p90Ms"`
	P99Ms       float64           `json:"p99Ms"`
	P999Ms      float64           `json:"p999Ms"`
	MaxMs       float64           `json:"maxMs"`
	Percentiles []PercentilePoint `json:"percentiles"`
	Histogram   []Bin             `json:"histogram"`
}

// PercentilePoint is the latency at one percentile.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// Bin is one bar of a log-binned latency histogram: Count values in
// [FromMs, ToMs).
type Bin struct {
	FromMs float64 `json:"fromMs"`
	ToMs   float64 `json:"toMs"`
	Count  int64   `json:"count"`
}

// Point is one second of the time series, counted from the start of the
// load. Latency percentiles are of the samples completed in that second.
type Point struct {
	Second     int     `json:"second"`
	Sent       int64   `json:"sent"`
	Acked      int64   `json:"acked"`
	Replied    int64   `json:"replied"`
	AckP50Ms   float64 `json:"ackP50Ms"`
	AckP99Ms   float64 `json:"ackP99Ms"`
	ReplyP50Ms float64 `json:"replyP50Ms"`
	ReplyP99Ms float64 `json:"replyP99Ms"`
	// Span is how many seconds the point covers: 1, except the last,
	// which ends with the run's last event. Counts over Span are rates.
	Span float64 `json:"span"`
}

// ProcSample is one reading of the server process, T seconds after the
// start of the load.
type ProcSample struct {
	T          float64 `json:"t"`
	RSSBytes   int64   `json:"rssBytes"`
	CPUSeconds float64 `json:"cpuSeconds"`
}

// ServerStats is what was measured of the server process (known when the
// load generator spawned it or was given its pid).
type ServerStats struct {
	PID          int     `json:"pid"`
	PeakRSSBytes int64   `json:"peakRssBytes"`
	CPUSeconds   float64 `json:"cpuSeconds"` // during the load and the drain
	// CPUMicrosPerMessage is CPUSeconds over the messages answered.
	CPUMicrosPerMessage float64      `json:"cpuMicrosPerMessage"`
	Samples             []ProcSample `json:"samples"`
}

// SimStats is what the embedded simulated Twilio saw.
type SimStats struct {
	Messages       int   `json:"messages"`       // Messages.json calls accepted
	InjectedFaults int64 `json:"injectedFaults"` // 429/5xx/timeouts answered on purpose
	Callbacks      int   `json:"callbacks"`      // status callbacks posted
}

// Report is the whole result of a run; it is also the JSON document.
type Report struct {
	Tool      string            `json:"tool"`
	StartedAt time.Time         `json:"startedAt"`
	Command   []string          `json:"command"`
	Config    map[string]string `json:"config"`
	ServerURL string            `json:"serverUrl"`
	Spawned   bool              `json:"spawned"`

	// LoadSeconds is the sending phase; DrainSeconds the wait for the
	// outstanding replies after it.
	LoadSeconds  float64 `json:"loadSeconds"`
	DrainSeconds float64 `json:"drainSeconds"`

	Requests        int64            `json:"requests"`   // webhook deliveries, replays included
	Duplicates      int64            `json:"duplicates"` // replayed deliveries (same MessageSid)
	Non200          int64            `json:"non200"`
	TransportErrors int64            `json:"transportErrors"`
	StatusCodes     map[string]int64 `json:"statusCodes"`
	Errors          map[string]int64 `json:"errors,omitempty"`

	Check check.Result `json:"check"`

	// RequestRate is webhook deliveries per second of the load phase;
	// Throughput is messages answered per second from the first send to the
	// last reply (the end-to-end figure).
	RequestRate float64 `json:"requestRate"`
	Throughput  float64 `json:"throughput"`

	// LoadgenCPUSeconds is the load generator's own CPU time (its senders,
	// signatures and the embedded simulated Twilio) during the load and the
	// drain: it shares the machine with the server, so it bounds the
	// throughput too. Per message answered in LoadgenCPUMicrosPerMessage.
	LoadgenCPUSeconds          float64 `json:"loadgenCpuSeconds"`
	LoadgenCPUMicrosPerMessage float64 `json:"loadgenCpuMicrosPerMessage"`
	// LoadgenPeakRSSBytes is the load generator's own peak resident
	// memory: it must stay small with 100,000 senders.
	LoadgenPeakRSSBytes int64 `json:"loadgenPeakRssBytes"`

	Ack   Latency `json:"ack"`
	Reply Latency `json:"reply"`

	Series []Point      `json:"series"`
	Server *ServerStats `json:"server,omitempty"`
	Sim    SimStats     `json:"sim"`
	OK     bool         `json:"ok"`
	Notes  []string     `json:"notes,omitempty"`

	// Store, DB and Idle are measured on request (--spawn or
	// --metrics-url, --db-cpu-procs or --db-cpu-root, --idle-measure).
	Store *StoreStats `json:"store,omitempty"`
	DB    *DBStats    `json:"db,omitempty"`
	Idle  *IdleStats  `json:"idle,omitempty"`

	// PublicURL is the PUBLIC_BASE_URL the signatures were computed over
	// ("" = each server's own URL).
	PublicURL string `json:"publicUrl,omitempty"`
	// Nodes are the servers one by one, when the load was spread over
	// more than one; Server and Store are then their totals.
	Nodes []NodeStats `json:"nodes,omitempty"`
	// Kill is the kill test (--kill-node), when asked for.
	Kill *KillStats `json:"kill,omitempty"`
}

// NodeStats is one server of several the load was spread over.
type NodeStats struct {
	Node int    `json:"node"` // 1-based, as --kill-node counts
	URL  string `json:"url"`
	// Deliveries are the webhook deliveries posted to it, Accepted those
	// it answered 200.
	Deliveries int64 `json:"deliveries"`
	Accepted   int64 `json:"accepted"`
	// Replies are the sends its own simulated Twilio accepted: the
	// replies it sent. Nil when the servers share one simulated Twilio
	// and the sender cannot be told.
	Replies *int64 `json:"replies,omitempty"`
	// Server is its process (CPU per message is its CPU over all the
	// messages answered, so the nodes' figures add up to the total).
	Server *ServerStats `json:"server,omitempty"`
	Store  *StoreStats  `json:"store,omitempty"`
	Killed bool         `json:"killed,omitempty"`
}

// KillStats is the kill test: node Node got SIGKILL AtSeconds into the
// load.
type KillStats struct {
	Node int `json:"node"`
	PID  int `json:"pid,omitempty"`
	// Killed is false when the run ended before --kill-after.
	Killed    bool    `json:"killed"`
	AtSeconds float64 `json:"atSeconds"`
	// KillToFirstReplySeconds is the time from the kill to the first
	// reply, sent by a survivor, to a message first delivered after the
	// kill (nil: none came).
	KillToFirstReplySeconds *float64 `json:"killToFirstReplySeconds,omitempty"`
	// MovedSenders are the senders whose latest reply before the kill came
	// from the killed node; KillToFirstMovedReplySeconds the time from the
	// kill to the first reply a survivor sent one of them. Known only when
	// replies are told apart per node.
	MovedSenders                 *int     `json:"movedSenders,omitempty"`
	KillToFirstMovedReplySeconds *float64 `json:"killToFirstMovedReplySeconds,omitempty"`
}

// Summary is the report's one-line account of the kill test.
func (k *KillStats) Summary() string {
	if !k.Killed {
		return fmt.Sprintf("node %d was not killed: the run ended before --kill-after", k.Node)
	}
	s := fmt.Sprintf("node %d (pid %d) got SIGKILL %.2f s into the load; first reply by a survivor to a message delivered after the kill ", k.Node, k.PID, k.AtSeconds)
	s += secondsAfter(k.KillToFirstReplySeconds)
	if k.MovedSenders != nil {
		s += fmt.Sprintf("; first reply by a survivor to one of the %d senders node %d answered last ", *k.MovedSenders, k.Node)
		s += secondsAfter(k.KillToFirstMovedReplySeconds)
	}
	return s
}

func secondsAfter(v *float64) string {
	if v == nil {
		return "never came"
	}
	return fmt.Sprintf("%.3f s after the kill", *v)
}

// Summary is the report's one-line account of a node.
func (n *NodeStats) Summary() string {
	s := fmt.Sprintf("%d deliveries (%d answered 200)", n.Deliveries, n.Accepted)
	if n.Replies != nil {
		s += fmt.Sprintf(", %d replies sent", *n.Replies)
	}
	if p := n.Server; p != nil {
		s += fmt.Sprintf("; pid %d, CPU %.2f s (%.0f µs per message answered), peak RSS %.1f MiB",
			p.PID, p.CPUSeconds, p.CPUMicrosPerMessage, float64(p.PeakRSSBytes)/(1<<20))
	}
	if n.Store != nil {
		s += "; store " + n.Store.Summary()
	}
	if n.Killed {
		s += "; KILLED"
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: encode json: %w", err)
	}
	return nil
}

// second is one slice of the time series.
type second struct {
	sent, acked, replied int64
	ack, reply           *hdrhistogram.Histogram
}

// Recorder collects latencies and counts during a run. Its methods are
// safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	start time.Time
	ack   *hdrhistogram.Histogram
	reply *hdrhistogram.Histogram
	secs  []*second
	last  time.Time // the latest reply
	end   time.Time // the latest event of any kind
}

// NewRecorder returns a Recorder whose time series starts at start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{
		start: start,
		ack:   hdrhistogram.New(minMicros, maxMicros, 3),
		reply: hdrhistogram.New(minMicros, maxMicros, 3),
	}
}

// Start returns the start of the time series.
func (r *Recorder) Start() time.Time { return r.start }

// slot returns the series slice for time at; r.mu must be held.
func (r *Recorder) slot(at time.Time) *second {
	i := int(at.Sub(r.start) / time.Second)
	if i < 0 {
		i = 0
	}
	if at.After(r.end) {
		r.end = at
	}
	for len(r.secs) <= i {
		r.secs = append(r.secs, &second{})
	}
	return r.secs[i]
}

func micros(d time.Duration) int64 {
	us := d.Microseconds()
	return min(max(us, minMicros), maxMicros)
}

// Sent counts one webhook delivery started at at.
func (r *Recorder) Sent(at time.Time) {
	r.mu.Lock()
	r.slot(at).sent++
	r.mu.Unlock()
}

// Ack records a webhook acknowledgement received at at after d.
func (r *Recorder) Ack(at time.Time, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slot(at)
	s.acked++
	record(r.ack, &s.ack, micros(d))
}

// Reply records a reply received at at, d after its message was sent.
func (r *Recorder) Reply(at time.Time, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slot(at)
	s.replied++
	record(r.reply, &s.reply, micros(d))
	if at.After(r.last) {
		r.last = at
	}
}

// record adds us to the run's histogram and to a second's, made on first
// use.
func record(total *hdrhistogram.Histogram, sec **hdrhistogram.Histogram, us int64) {
	_ = total.RecordValue(us)
	if *sec == nil {
		*sec = hdrhistogram.New(minMicros, maxMicros, 2)
	}
	_ = (*sec).RecordValue(us)
}

// LastReply returns when the latest reply arrived (zero if none).
func (r *Recorder) LastReply() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Snapshot returns the counts so far and the current p99 of both
// latencies, for progress display.
func (r *Recorder) Snapshot() (acked, replied int64, ackP99, replyP99 time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ack.TotalCount(), r.reply.TotalCount(),
		time.Duration(r.ack.ValueAtQuantile(99)) * time.Microsecond,
		time.Duration(r.reply.ValueAtQuantile(99)) * time.Microsecond
}

// Fill sets the report's latency summaries and time series.
func (r *Recorder) Fill(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Ack = summarize(r.ack)
	rep.Reply = summarize(r.reply)
	rep.Series = make([]Point, len(r.secs))
	for i, s := range r.secs {
		p := Point{Second: i, Sent: s.sent, Acked: s.acked, Replied: s.replied, Span: 1}
		if i == len(r.secs)-1 {
			// The run ended inside this second.
			p.Span = min(max(r.end.Sub(r.start).Seconds()-float64(i), 0), 1)
		}
		if s.ack != nil {
			p.AckP50Ms, p.AckP99Ms = ms(s.ack.ValueAtQuantile(50)), ms(s.ack.ValueAtQuantile(99))
		}
		if s.reply != nil {
			p.ReplyP50Ms, p.ReplyP99Ms = ms(s.reply.ValueAtQuantile(50)), ms(s.reply.ValueAtQuantile(99))
		}
		rep.Series[i] = p
	}
}

func ms(us int64) float64 { return float64(us) / 1000 }

// percentiles are the points of the percentile-distribution chart.
var percentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

// binsPerDecade is the resolution of the log-binned histogram.
const binsPerDecade = 5

// summarize turns a histogram of microseconds into a Latency.
func summarize(h *hdrhistogram.Histogram) Latency {
	l := Latency{Count: h.TotalCount()}
	if l.Count == 0 {
		return l
	}
	l.MinMs, l.MeanMs, l.MaxMs = ms(h.Min()), h.Mean()/1000, ms(h.Max())
	l.P50Ms, l.P90Ms = ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(90))
	l.P99Ms, l.P999Ms = ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9))
	for _, p := range percentiles {
		l.Percentiles = append(l.Percentiles, PercentilePoint{Percentile: p, Ms: ms(h.ValueAtQuantile(p))})
	}
	l.Histogram = logBins(h.Distribution())
	return l
}

// logBins regroups HDR bars (in µs) into binsPerDecade bins per decade,
// from the first to the last non-empty one.
func logBins(bars []hdrhistogram.Bar) []Bin {
	counts := map[int]int64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, b := range bars {
		if b.Count == 0 {
			continue
		}
		v := float64(max(b.From, 1))
		k := int(math.Floor(math.Log10(v) * binsPerDecade))
		counts[k] += b.Count
		lo, hi = min(lo, k), max(hi, k)
	}
	if len(counts) == 0 {
		return nil
	}
	out := make([]Bin, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		from := math.Pow(10, float64(k)/binsPerDecade) / 1000
		to := math.Pow(10, float64(k+1)/binsPerDecade) / 1000
		out = append(out, Bin{FromMs: round3(from), ToMs: round3(to), Count: counts[k]})
	}
	return out
}

// round3 rounds to three significant digits (for readable bin edges).
func round3(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// SortedKeys returns m's keys in order, for stable output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
