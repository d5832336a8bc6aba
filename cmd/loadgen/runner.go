package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"switchboard/cmd/loadgen/internal/check"
	"switchboard/cmd/loadgen/internal/report"
	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

// runner drives one load test against a set-up line.
type runner struct {
	cfg     *config
	line    *line
	fleet   *fleet // the servers; each delivery goes to the next live one
	client  *http.Client
	chk     *check.Checker
	rec     *report.Recorder
	limiter *rate.Limiter // nil: no rate target
	sem     chan struct{}

	requests   atomic.Int64
	duplicates atomic.Int64
	non200     atomic.Int64
	transport  atomic.Int64
	started    atomic.Int64 // messages whose first delivery was sent

	// liveSenders counts sender goroutines, peakSenders its maximum: the
	// load generator's own footprint grows with it (see run).
	liveSenders atomic.Int64
	peakSenders atomic.Int64

	mu    sync.Mutex
	codes map[string]int64
	errs  map[string]int64
}

// newRunner prepares the HTTP client, limiter and bookkeeping.
func newRunner(cfg *config, f *fleet, l *line, chk *check.Checker, rec *report.Recorder) *runner {
	r := &runner{
		cfg: cfg, fleet: f, line: l, chk: chk, rec: rec,
		sem:   make(chan struct{}, cfg.concurrency),
		codes: make(map[string]int64),
		errs:  make(map[string]int64),
		client: &http.Client{
			Timeout: cfg.requestTimeout,
			Transport: &http.Transport{
				MaxIdleConns:        cfg.concurrency * 2,
				MaxIdleConnsPerHost: cfg.concurrency * 2,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
		},
	}
	if cfg.rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.rate), max(1, int(cfg.rate/200)))
	}
	return r
}

// senderAddress returns sender i's From address and the To it texts. The
// run id keeps senders of different runs against one server apart.
func senderAddress(runID, i int, whatsapp bool, number string) (from, to string) {
	from = fmt.Sprintf("+1556%03d%06d", runID%1000, i)
	if whatsapp {
		return "whatsapp:" + from, "whatsapp:" + number
	}
	return from, number
}

// messageText is the unique body of sender i's seq-th message; the scripted
// reply echoes it.
func messageText(i, seq int) string { return strconv.Itoa(i) + "-" + strconv.Itoa(seq) }

// totalMessages is the run's message count when it is count-bounded (0
// when only --duration bounds it).
func (r *runner) totalMessages() int64 {
	return int64(r.cfg.messages) * int64(r.cfg.senders)
}

// startWindow is how many senders may be starting at once: started, but
// not yet through the rate limiter (without --rate: not yet acknowledged
// for their first group). See run.
func (r *runner) startWindow() int { return max(4096, 4*r.cfg.concurrency) }

// run starts every sender and returns when all of them stopped: they sent
// their messages, or stop ended.
//
// A sender starts once fewer than startWindow others are starting. A
// sender that has not sent yet needs no goroutine: with --senders 100000
// and --messages 1 the load generator holds a few thousand senders, not
// 100,000 parked goroutines (about 1 GB of memory, measured). The window
// leaves the load as it was when every sender started at once: with
// --rate, 4,096 queued reservations (two seconds at 2,000/s) keep the
// limiter's schedule gapless, so a run held back by --concurrency still
// catches up, and the senders through the limiter wait for a slot as
// before; without, the window is at least four times --concurrency.
// Senders that think between messages stay alive, as they must.
func (r *runner) run(stop context.Context, runID int, seed uint64) {
	var wg sync.WaitGroup
	starting := make(chan struct{}, r.startWindow())
	for i := range r.cfg.senders {
		select {
		case starting <- struct{}{}:
		case <-stop.Done():
		}
		if stop.Err() != nil {
			break
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		whatsapp := float64(i) < r.cfg.whatsappShare*float64(r.cfg.senders)
		from, to := senderAddress(runID, i, whatsapp, r.line.Number)
		wg.Go(func() { r.sender(stop, i, from, to, rng, func() { <-starting }) })
	}
	wg.Wait()
	r.client.CloseIdleConnections()
}

// sender sends sender i's messages in order: one group at a time (a single
// message, or a burst sent concurrently), each group after the previous
// one was acknowledged, with think time between groups. It calls started
// once: when its first message passed the rate limiter, or its first group
// was acknowledged, or it stopped before.
func (r *runner) sender(stop context.Context, i int, from, to string, rng *rand.Rand, started func()) {
	live := r.liveSenders.Add(1)
	for peak := r.peakSenders.Load(); live > peak && !r.peakSenders.CompareAndSwap(peak, live); peak = r.peakSenders.Load() {
	}
	defer r.liveSenders.Add(-1)
	startedOnce := sync.OnceFunc(started)
	defer startedOnce()
	seq := 0
	for group := 0; ; group++ {
		if stop.Err() != nil || (r.cfg.messages > 0 && seq >= r.cfg.messages) {
			return
		}
		n := 1
		if r.cfg.burstShare > 0 && rng.Float64() < r.cfg.burstShare {
			n = r.cfg.burstSize
		}
		if r.cfg.messages > 0 {
			n = min(n, r.cfg.messages-seq)
		}
		if n == 1 {
			r.message(stop, from, to, messageText(i, seq), group, rng.Float64() < r.cfg.duplicateShare, startedOnce)
		} else {
			var wg sync.WaitGroup
			for k := range n {
				text, replay := messageText(i, seq+k), rng.Float64() < r.cfg.duplicateShare
				wg.Go(func() { r.message(stop, from, to, text, group, replay, startedOnce) })
			}
			wg.Wait()
		}
		seq += n
		startedOnce() // before thinking: the next sender may start
		if r.cfg.thinkTime > 0 {
			d := time.Duration((0.5 + rng.Float64()) * float64(r.cfg.thinkTime))
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-stop.Done():
				t.Stop()
				return
			}
		}
	}
}

// acquire waits for the rate limiter and a concurrency slot; false when
// stop ended first. It calls token once the limiter let it through.
func (r *runner) acquire(stop context.Context, token func()) bool {
	if r.limiter != nil {
		if r.limiter.Wait(stop) != nil {
			return false
		}
		token()
	}
	select {
	case r.sem <- struct{}{}:
		return true
	case <-stop.Done():
		return false
	}
}

func (r *runner) release() { <-r.sem }

// message delivers one message (a fresh MessageSid) and, when replay is
// set, delivers it again after its answer, as Twilio retries.
func (r *runner) message(stop context.Context, from, to, text string, group int, replay bool, token func()) {
	if !r.acquire(stop, token) {
		return
	}
	params := twiliosim.InboundParamsFor(r.line.AccountSID, from, to, text, twiliosim.NewMessageSID())
	t0 := time.Now()
	r.chk.Sent(from, text, group, t0)
	r.started.Add(1)
	r.deliver(text, params, t0)
	r.release()
	if !replay || !r.acquire(stop, token) {
		return
	}
	r.duplicates.Add(1)
	r.deliver(text, params, time.Now())
	r.release()
}

// deliver posts one signed webhook and records its outcome.
func (r *runner) deliver(text string, params url.Values, t0 time.Time) {
	r.requests.Add(1)
	r.rec.Sent(t0)
	status, err := r.post(params)
	now := time.Now()
	r.rec.Ack(now, now.Sub(t0))
	r.chk.Delivered(text, status)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs[err.Error()]++
	}
	if status == 0 {
		r.transport.Add(1)
		r.codes["error"]++
		return
	}
	r.codes[strconv.Itoa(status)]++
	if status != http.StatusOK {
		r.non200.Add(1)
	}
}

// post sends the signed request to the next live server (spread per
// delivery, not per sender: any node of a cluster accepts any webhook);
// status 0 means a transport error. Errors never carry the URL (it holds
// the API key).
func (r *runner) post(params url.Values) (status int, err error) {
	n := r.fleet.pick(&r.fleet.deliver)
	n.deliveries.Add(1)
	defer func() {
		if status == http.StatusOK && err == nil {
			n.accepted.Add(1)
		}
	}()
	req, err := signedRequest(n.post, n.sign, n.line.AuthToken, params)
	if err != nil {
		return 0, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, fmt.Errorf("webhook: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK && string(body) != "<Response/>" {
		return resp.StatusCode, fmt.Errorf("webhook: 200 with unexpected body %.80q", body)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("webhook: %d %.80s", resp.StatusCode, body)
	}
	return resp.StatusCode, nil
}

// signedRequest builds the form POST Twilio would make to postURL with
// params, signed over signURL: the URL Twilio was told (the servers'
// PUBLIC_BASE_URL), which a load balancer then sends to a node's own
// address. Its headers are twiliosim.NewSignedRequest's.
func signedRequest(postURL, signURL, authToken string, params url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, postURL, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, fmt.Errorf("webhook: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", twilio.Signature(authToken, signURL, params))
	return req, nil
}

// drain waits until every accepted message was answered, timeout passed or
// stop ended, then listens settle longer for late duplicates.
func drain(stop context.Context, chk *check.Checker, timeout, settle time.Duration) {
	deadline := time.Now().Add(timeout)
	for chk.Pending() > 0 && time.Now().Before(deadline) && stop.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if settle > 0 && stop.Err() == nil {
		t := time.NewTimer(settle)
		select {
		case <-t.C:
		case <-stop.Done():
			t.Stop()
		}
	}
}

// progress draws a one-line progress bar on w until stop is closed.
func (r *runner) progress(w io.Writer, start time.Time, done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
			elapsed := time.Since(start)
			frac := 0.0
			if total := r.totalMessages(); total > 0 {
				frac = float64(r.started.Load()) / float64(total)
			}
			if r.cfg.duration > 0 {
				frac = max(frac, elapsed.Seconds()/r.cfg.duration.Seconds())
			}
			frac = min(frac, 1)
			acked, replied, ackP99, replyP99 := r.rec.Snapshot()
			const width = 30
			filled := int(frac * width)
			bar := make([]byte, width)
			for i := range bar {
				switch {
				case i < filled:
					bar[i] = '='
				case i == filled:
					bar[i] = '>'
				default:
					bar[i] = ' '
				}
			}
			fmt.Fprintf(w, "\r\033[K[%s] %3.0f%% %s sent %d acked %d replies %d (%.0f/s) pending %d ack p99 %s reply p99 %s",
				bar, frac*100, elapsed.Truncate(100*time.Millisecond), r.requests.Load(), acked, replied,
				float64(replied)/max(elapsed.Seconds(), 0.001), r.chk.Pending(), ackP99, replyP99)
		}
	}
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
