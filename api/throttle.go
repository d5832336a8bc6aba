package api

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/clientip"
	"switchboard/store"
)

// Defaults of the credential throttle and the password-hashing gate (see
// Options).
const (
	defaultMaxFailuresPerAccount = 5
	// defaultMaxFailuresPerAccountTotal is ten times the per-address
	// limit: a guesser spread over many addresses is still bounded, while
	// one address alone cannot lock an operator out.
	defaultMaxFailuresPerAccountTotal = 50
	defaultMaxFailuresPerAddress      = 20
	defaultFailureWindow              = 15 * time.Minute
	defaultHashWait                   = 2 * time.Second

	// maxTrackedKeys bounds each table of the throttle (accounts,
	// addresses), so that a spray of made-up ids or addresses costs
	// bounded memory.
	maxTrackedKeys = 10000
	// hashQueuePerSlot bounds the requests waiting for (or holding) a
	// hashing slot, per slot; beyond it a request is refused at once.
	hashQueuePerSlot = 16
	// maxAccountKey is the longest attempted id kept verbatim as a key;
	// longer ones (which no operator can have) are keyed by their hash.
	maxAccountKey = 128
)

// retryAfterError is an error that tells the client when to try again:
// writeError sends its Retry-After header.
type retryAfterError struct {
	err   *store.Error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retrySeconds is d rounded up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// setRetryAfter sets Retry-After when err carries one, and reports
// whether it did.
func setRetryAfter(w http.ResponseWriter, err error) bool {
	var ra *retryAfterError
	if !errors.As(err, &ra) {
		return false
	}
	w.Header().Set("Retry-After", strconv.FormatInt(retrySeconds(ra.after), 10))
	return true
}

// errThrottled answers an attempt refused by the throttle. Its body is the
// same whether the account exists or not, and whether the account or the
// address is blocked; only the Retry-After header tells the wait.
func errThrottled(after time.Duration) error {
	return &retryAfterError{
		err:   store.Errorf(store.ERATELIMITED, "too many failed attempts; retry after the Retry-After delay"),
		after: after,
	}
}

// errHashBusy answers a request that found every password-hashing slot
// taken for too long: the server is busy, not the client at fault.
var errHashBusy = &retryAfterError{
	err:   store.Errorf(store.EUNAVAILABLE, "too many password checks in progress; retry shortly"),
	after: time.Second,
}

// failureCount is one key's failures in its current window.
type failureCount struct {
	start    time.Time // when the window began (its first counted attempt)
	count    int
	reported bool // a LOGIN_THROTTLED event was sent for this window
}

// failureTable counts failures per key within fixed windows.
type failureTable struct {
	max     int
	entries map[string]*failureCount
}

// live returns key's entry if its window is still open at now.
func (t *failureTable) live(key string, now time.Time, window time.Duration) *failureCount {
	e := t.entries[key]
	if e == nil || !now.Before(e.start.Add(window)) {
		return nil
	}
	return e
}

// add counts one failure for key, opening a window when none is open and
// making room when the table is full.
func (t *failureTable) add(key string, now time.Time, window time.Duration) {
	if e := t.live(key, now, window); e != nil {
		e.count++
		return
	}
	if _, ok := t.entries[key]; !ok && len(t.entries) >= maxTrackedKeys {
		t.evict(now, window)
	}
	t.entries[key] = &failureCount{start: now, count: 1}
}

// evict drops every closed window; when all are open, it drops the tenth
// of the entries with the fewest failures (the oldest among equals), so
// that a spray of one-off keys cannot push out a key under a real attack,
// and the work is paid once per many inserts.
func (t *failureTable) evict(now time.Time, window time.Duration) {
	for k, e := range t.entries {
		if !now.Before(e.start.Add(window)) {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < maxTrackedKeys {
		return
	}
	keys := slices.Collect(maps.Keys(t.entries))
	slices.SortFunc(keys, func(a, b string) int {
		ea, eb := t.entries[a], t.entries[b]
		if c := cmp.Compare(ea.count, eb.count); c != 0 {
			return c
		}
		return ea.start.Compare(eb.start)
	})
	for _, k := range keys[:len(keys)/10] {
		delete(t.entries, k)
	}
}

// undo takes back one failure of key, if its window is still open.
func (t *failureTable) undo(key string, now time.Time, window time.Duration) {
	if e := t.live(key, now, window); e != nil && e.count > 0 {
		e.count--
	}
}

// throttle limits failed credential checks per account and client address
// (the pair: a guesser's own lockout), per account over all addresses (a
// higher limit: a guesser spread over many addresses), and per client
// address (over all accounts). Locking an account per pair first means
// one address cannot lock its owner out. An attempt is counted as a
// failure when it begins, so that concurrent attempts cannot overshoot the
// limit, and settled when it ends.
type throttle struct {
	window   time.Duration
	mu       sync.Mutex
	pairs    failureTable
	accounts failureTable
	addrs    failureTable
}

func newThrottle(perPair, perAccount, perAddress int, window time.Duration) *throttle {
	return &throttle{
		window:   window,
		pairs:    failureTable{max: perPair, entries: map[string]*failureCount{}},
		accounts: failureTable{max: perAccount, entries: map[string]*failureCount{}},
		addrs:    failureTable{max: perAddress, entries: map[string]*failureCount{}},
	}
}

// pairKey is the key of an account tried from an address.
func pairKey(account, addr string) string { return account + "\x00" + addr }

// blocked describes a refused attempt: how long to wait, and whether this
// is the first refusal of the window (worth a security event).
type blocked struct {
	after time.Duration
	first bool
	scope string // "account" or "address"
}

// begin reserves an attempt for account ("" when none is named) from
// addr. It returns nil when the attempt may go ahead (and counts it), or
// what blocks it (and counts nothing).
func (t *throttle) begin(account, addr string, now time.Time) *blocked {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b *blocked
	check := func(tab *failureTable, key, scope string) {
		e := tab.live(key, now, t.window)
		if e == nil || e.count < tab.max {
			return
		}
		if b == nil {
			b = &blocked{}
		}
		if after := e.start.Add(t.window).Sub(now); after > b.after {
			b.after, b.scope = after, scope
		}
		b.first = b.first || !e.reported
		e.reported = true
	}
	if account != "" {
		check(&t.pairs, pairKey(account, addr), "account")
		check(&t.accounts, account, "account")
	}
	check(&t.addrs, addr, "address")
	if b != nil {
		return b
	}
	if account != "" {
		t.pairs.add(pairKey(account, addr), now, t.window)
		t.accounts.add(account, now, t.window)
	}
	t.addrs.add(addr, now, t.window)
	return nil
}

// succeed settles a successful attempt: the account's failures are
// forgiven, and the address gets its attempt back (but keeps its earlier
// failures, so one good account cannot launder a spray of guesses).
func (t *throttle) succeed(account, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if account != "" {
		delete(t.pairs.entries, pairKey(account, addr))
		delete(t.accounts.entries, account)
	}
	t.addrs.undo(addr, now, t.window)
}

// release settles an attempt that ended for a reason other than the
// credentials (bad input, busy, a store failure): it was no failure.
func (t *throttle) release(account, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if account != "" {
		t.pairs.undo(pairKey(account, addr), now, t.window)
		t.accounts.undo(account, now, t.window)
	}
	t.addrs.undo(addr, now, t.window)
}

// accountKey is the throttle key of an attempted operator id: the id
// itself, or its hash when it is longer than any id can be.
func accountKey(id string) string {
	if len(id) <= maxAccountKey {
		return id
	}
	return "sha256:" + store.HashKey(id)
}

// addressKey is the throttle key of a client address: an IPv4 address
// as is, an IPv6 address by its /64 (one subscriber commonly holds a whole
// /64, so single addresses would be free to rotate).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > 64 {
			return "sha256:" + store.HashKey(ip)
		}
		return ip
	}
	if b := clientip.Block(a); b.Addr().Is6() {
		return b.String()
	}
	return a.Unmap().String()
}

// remoteHost is the default Options.ClientIP: the host of the
// connection's remote address (no forwarding header is trusted here).
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// credentialCheck runs fn, an attempt to prove a credential (login,
// refresh, setup), under the throttle. account is the attempted operator
// id ("" when the request names none). A blocked attempt answers 429 with
// Retry-After before fn runs, so it costs no password hash and no store
// read, and answers the same for known and unknown accounts. fn's outcome
// settles the attempt: EUNAUTHORIZED and ECONFLICT are failures, success
// forgives, anything else is no attempt at all.
func (s *Server) credentialCheck(r *http.Request, endpoint, attempted string, fn func() error) error {
	addr := addressKey(s.opts.ClientIP(r))
	account := ""
	if attempted != "" {
		account = accountKey(attempted)
	}
	if b := s.throttle.begin(account, addr, s.now()); b != nil {
		if b.first {
			// Once per key and window: the store read it costs is bounded.
			s.log.Warn("credential attempts throttled", "scope", b.scope, "path", r.URL.Path, "retry_after_s", retrySeconds(b.after))
			s.securityEvent(r, "LOGIN_THROTTLED", "operator", s.auditAccountID(r.Context(), attempted), map[string]any{
				"scope": b.scope, "path": r.URL.Path, "retryAfterSeconds": retrySeconds(b.after),
			})
		}
		s.metrics.attempt(endpoint, "throttled")
		return errThrottled(b.after)
	}
	err := fn()
	switch store.ErrorCode(err) {
	case "":
		s.throttle.succeed(account, addr, s.now())
		s.metrics.attempt(endpoint, "success")
	case store.EUNAUTHORIZED, store.ECONFLICT:
		s.metrics.attempt(endpoint, "failure")
	default:
		s.throttle.release(account, addr, s.now())
		if errors.Is(err, errHashBusy) {
			s.metrics.attempt(endpoint, "busy")
		} else {
			s.metrics.attempt(endpoint, "other")
		}
	}
	return err
}

// hashGate bounds the CPU that password hashing (bcrypt) may take: at
// most cap(slots) hashes run at once, a request waits at most wait for a
// slot, and at most maxQueue requests wait or run; the rest are refused
// with 503 and Retry-After. Bcrypt is the one deliberately slow thing an
// unauthenticated client can start, and the webhook must keep its cores.
type hashGate struct {
	slots    chan struct{}
	queued   atomic.Int64
	maxQueue int64
	wait     time.Duration
	ops      atomic.Int64 // hashes run (tests count them)
}

func newHashGate(concurrency int, wait time.Duration) *hashGate {
	if concurrency <= 0 {
		concurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return &hashGate{
		slots:    make(chan struct{}, concurrency),
		maxQueue: int64(concurrency * hashQueuePerSlot),
		wait:     wait,
	}
}

// run runs fn (one bcrypt hash or compare) in a slot, or returns
// errHashBusy.
func (g *hashGate) run(ctx context.Context, fn func()) error {
	if g.queued.Add(1) > g.maxQueue {
		g.queued.Add(-1)
		return errHashBusy
	}
	defer g.queued.Add(-1)
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			return errHashBusy
		case <-ctx.Done():
			return errHashBusy
		}
	}
	defer func() { <-g.slots }()
	g.ops.Add(1)
	fn()
	return nil
}
