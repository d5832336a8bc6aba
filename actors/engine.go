package actors

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"switchboard/providers/prompt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/providers"
	"switchboard/providers/llm"
	"switchboard/store"
)

// Sender sends one message through the Twilio REST API and returns
// Twilio's message SID.
type Sender interface {
	Send(ctx context.Context, cfg providers.TwilioConfig, m OutMessage) (sid string, err error)
}

// Finder is implemented by a Sender that can tell whether Twilio already
// accepted a message. Crash recovery uses it so that a reply accepted just
// before a crash, but not yet recorded as sent, is not sent twice.
type Finder interface {
	FindSent(ctx context.Context, cfg providers.TwilioConfig, m OutMessage, since time.Time) (sid string, found bool, err error)
}

// OutMessage is one outbound SMS/WhatsApp message.
type OutMessage struct {
	From, To, Body string
	StatusCallback string
	// MediaURLs are sent as MMS/WhatsApp media (Twilio's MediaUrl).
	MediaURLs []string
	// ContentSID, when set, sends a Content template with
	// ContentVariables (a JSON object) instead of Body and MediaURLs.
	ContentSID, ContentVariables string
}

// SendFailure classifies a failed send.
type SendFailure struct {
	Retryable bool   // worth another attempt (429, 5xx, connection refused)
	Code      int    // Twilio error code, 0 if none
	OptedOut  bool   // the recipient has opted out (21610)
	Message   string // short reason, no secrets
	// Unknown reports that the request may have reached Twilio (it was
	// written, but no answer was read: a timeout). The engine asks Twilio
	// (Finder) before it decides whether the send failed.
	Unknown bool
	// RetryAfter is how long Twilio asked us to wait before the next
	// attempt (Retry-After), 0 when it did not say. A retry never comes
	// sooner; see Options.RetryAfterMax and Options.SendBudget.
	RetryAfter time.Duration
}

// Options configure an Engine.
type Options struct {
	Store  store.Store
	Sender Sender
	// Classify explains a Sender error.
	Classify func(error) SendFailure
	// Split cuts a reply into parts Twilio accepts, in order.
	Split  func(string) []string
	LLM    *llm.Cache
	Logger *slog.Logger

	SessionTimeout     time.Duration // idle time after which a conversation ends
	Debounce           time.Duration // burst-merging window, 0 = off
	DebounceMax        int           // most texts merged into one turn (default 10)
	LLMErrorReply      string        // sent when the LLM fails; "" = nothing
	MaxReplyParts      int           // most parts one reply is sent as (default DefaultMaxReplyParts); see capReply
	HistoryLimit       int           // most stored messages read as history, before the token budget trims them (default 100)
	PublicBaseURL      string        // for status callbacks, when set
	SendRatePerNumber  float64       // messages/s per sender number, 0 = unlimited
	MaxConcurrentSends int           // global cap on concurrent REST calls
	SendMaxAttempts    int           // attempts for retryable failures
	SendTimeout        time.Duration // one REST call
	RetryBaseDelay     time.Duration // first backoff (default 250ms)
	RetryMaxDelay      time.Duration // backoff cap (default 10s)
	Shards             int           // registry actors (default 2×GOMAXPROCS)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// CommitLinger is how long the group committer waits for more work
	// before a commit when the previous batch showed load (0: never).
	CommitLinger time.Duration
	// SyncWait is how long a written inbound message waits for its turn to
	// share its flush before it is flushed on its own (committer). Zero
	// means DefaultSyncWait; a negative value, no wait.
	SyncWait time.Duration
	// TurnWait bounds how long a written turn that finds no inbound
	// message waiting for a flush (its LLM was slower than SyncWait) waits
	// for the next one to share its flush before it is flushed on its own
	// and its reply sent: a tenth of the time the turn took, at most
	// TurnWait (turnPatience). Zero means DefaultTurnWait; a negative
	// value, no wait.
	TurnWait time.Duration
	// Registerer receives the engine's metrics (nil: none).
	Registerer prometheus.Registerer
	// RetryAfterMax is the longest Retry-After a send waits for (default
	// DefaultRetryAfterMax): a session sends its replies in order, so a
	// longer wait would hold its conversation; such a send fails at once.
	RetryAfterMax time.Duration
	// SendBudget is how long after its first attempt a send may still be
	// retried after a wait Twilio asked for (default DefaultSendBudget): a
	// Retry-After that would end beyond it fails the send at once rather
	// than holding the conversation's later replies. Other retries are
	// bounded by SendMaxAttempts.
	SendBudget time.Duration
	// UnknownOutcomeGrace is the wait before each lookup of a send of
	// unknown outcome (see SendFailure.Unknown); default the send timeout
	// within [1 s, 5 s].
	UnknownOutcomeGrace time.Duration
	// RescanInterval is how often pending messages that no session took
	// are looked for (rescan.go); default 10 s. Messages younger than
	// half of it are left alone.
	RescanInterval time.Duration
	// Cluster, when set, makes the engine a member of a cluster sharing
	// the store (cluster.go); nil runs a single node.
	Cluster *ClusterOptions
}

// Defaults of Options.RetryAfterMax and Options.SendBudget: Twilio's
// Retry-After for a rate-limited account is seconds, and a reply that
// cannot go out within two minutes is better recorded as failed than sent
// into a conversation that has moved on.
const (
	DefaultRetryAfterMax = time.Minute
	DefaultSendBudget    = 2 * time.Minute
)

// DefaultSyncWait is how long, by default, a webhook's message waits for
// its turn to share its flush: long enough for a scripted or cached reply
// (a few hundred microseconds), short against the fsync it saves.
const DefaultSyncWait = 2 * time.Millisecond

// DefaultTurnWait is the longest a slow turn waits, by default, for the
// next webhook's flush before its reply goes out: at 20 messages/s and
// more the next webhook nearly always comes within it, and it is at most
// a tenth of the LLM call that made the turn slow.
const DefaultTurnWait = 50 * time.Millisecond

// Engine runs the sessions. It is the only way the rest of the program
// talks to the actor system.
type Engine struct {
	opts   Options
	log    *slog.Logger
	system *actor.ActorSystem
	shards []*actor.PID
	seed   maphash.Seed

	commits *committer
	cl      *clusterNode // nil on a single node
	// stopRescan ends rescanLoop (rescan.go).
	stopRescan chan struct{}
	out        *outbound
	live       *liveSessions
	idle       *idleWheel
	cfg        *configCache
	prompts    prompt.Cache // stage prompts, parsed once per stage version
	m          *metrics
	// replyTruncated counts replies cut to MaxReplyParts (nil: no metrics).
	replyTruncated prometheus.Counter
	// lookups counts sends of unknown outcome looked up at Twilio (nil:
	// no metrics); see settleUnknown.
	lookups *prometheus.CounterVec

	pending  atomic.Int64 // delivered inbound messages whose turn is not complete
	maxLate  atomic.Int64 // worst expiry lateness seen, nanoseconds (benchmarks)
	closing  atomic.Bool
	closeMu  sync.Mutex   // serialises Close
	closed   bool         // Close has shut the engine down (under closeMu)
	closeErr error        // what that Close returned
	inflight atomic.Int64 // turn, send and expiry goroutines running
	optOuts  sync.Map     // provider\x00address → bool: opt-outs and opt-ins this process recorded
	restarts sync.Map     // pid.Id → *sessionState, from a restarting session to its new instance
	// seenBases maps a channel provider's ID to the public base its
	// webhooks last arrived on; bases caches the lookups that stand in
	// for it after a restart (see callbackBase).
	seenBases sync.Map
	bases     baseLookups
	// unrecorded maps the sentKey of each send whose result is not yet
	// committed to a channel closed when it is (see AwaitSendResult).
	unrecorded sync.Map
	// starts are the starts handed to sessions (start.go); startCount
	// counts their outcomes (nil: no metrics).
	starts     startRuns
	startCount *prometheus.CounterVec
}

// ErrClosing is returned by Accept while the engine drains.
var ErrClosing = errors.New("actors: engine is shutting down")

// New starts an Engine: its actor system, registries and committers.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Sender == nil || opts.LLM == nil || opts.Classify == nil || opts.Split == nil {
		return nil, errors.New("actors: Store, Sender, Classify, Split and LLM are required")
	}
	if opts.SessionTimeout <= 0 {
		return nil, errors.New("actors: SessionTimeout must be positive")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 100
	}
	if opts.DebounceMax <= 0 {
		opts.DebounceMax = 10
	}
	if opts.MaxReplyParts <= 0 {
		opts.MaxReplyParts = DefaultMaxReplyParts
	}
	if opts.MaxConcurrentSends <= 0 {
		opts.MaxConcurrentSends = 64
	}
	if opts.SendMaxAttempts <= 0 {
		opts.SendMaxAttempts = 6
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 15 * time.Second
	}
	if opts.RetryBaseDelay <= 0 {
		opts.RetryBaseDelay = 250 * time.Millisecond
	}
	if opts.RetryMaxDelay <= 0 {
		opts.RetryMaxDelay = 10 * time.Second
	}
	if opts.RetryAfterMax <= 0 {
		opts.RetryAfterMax = DefaultRetryAfterMax
	}
	if opts.SendBudget <= 0 {
		opts.SendBudget = DefaultSendBudget
	}
	switch {
	case opts.SyncWait == 0:
		opts.SyncWait = DefaultSyncWait
	case opts.SyncWait < 0:
		opts.SyncWait = 0
	}
	switch {
	case opts.TurnWait == 0:
		opts.TurnWait = DefaultTurnWait
	case opts.TurnWait < 0:
		opts.TurnWait = 0
	}
	if opts.RescanInterval <= 0 {
		opts.RescanInterval = 10 * time.Second
	}
	if opts.Shards <= 0 {
		opts.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	logger := opts.Logger.With("component", "actors")
	e := &Engine{
		opts: opts,
		log:  logger,
		seed: maphash.MakeSeed(),
		live: newLiveSessions(),
		cfg:  newConfigCache(opts.Store, time.Second),
	}
	e.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return opts.Logger.With("component", "protoactor")
	}))
	e.m = newMetrics(opts.Registerer, e)
	e.replyTruncated = newReplyTruncatedCounter(opts.Registerer)
	e.lookups = newLookupCounter(opts.Registerer)
	e.startCount = newStartCounter(opts.Registerer)
	e.commits = newCommitter(opts.Store, 512, opts.CommitLinger, opts.SyncWait,
		func(msg string, err error) { logger.Error(msg, "err", err) }, e.m.commit)
	e.out = newOutbound(e)
	root0 := e.system.Root
	e.idle = newIdleWheel(opts.SessionTimeout, func(pid *actor.PID) { root0.Send(pid, &idleCheck{}) })

	// A failing registry resumes with its map intact: restarting it would
	// stop every session it supervises.
	guardian := actor.NewOneForOneStrategy(1000, time.Minute, func(reason any) actor.Directive {
		logger.Error("registry failed; resuming", "reason", fmt.Sprint(reason))
		return actor.ResumeDirective
	})
	root := e.system.Root.WithGuardian(guardian)
	for i := 0; i < opts.Shards; i++ {
		pid := root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRegistry(e) },
			actor.WithSupervisor(sessionSupervisor(logger))))
		e.shards = append(e.shards, pid)
	}
	if opts.Cluster != nil {
		cl, err := newClusterNode(e, *opts.Cluster)
		if err != nil {
			e.system.Shutdown()
			e.commits.close()
			e.idle.close()
			return nil, err
		}
		e.cl = cl
	}
	e.stopRescan = make(chan struct{})
	go e.rescanLoop()
	return e, nil
}

// Accept commits an inbound message durably (batched with concurrent
// callers) and, unless it is a duplicate, hands it to its session. The
// message is handed over as soon as it is written, so its turn can start
// while the flush that makes it durable is pending (and share it); Accept
// returns once it is durable. When Accept returns nil the message will get
// exactly one turn; when it returns an error after the message was
// written, the message may still get its turn, and the webhook's retry is
// recognised as a duplicate.
func (e *Engine) Accept(ctx context.Context, m *store.InboundMessage) (store.InboundResult, error) {
	if e.closing.Load() {
		return store.InboundResult{}, ErrClosing
	}
	m.State = store.InboundPending
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = e.opts.Now().UTC()
	}
	start := time.Now()
	// A message another node will answer gains nothing from waiting for
	// a turn here to share its flush.
	now := e.cl != nil && !e.cl.owns(m.Key())
	res, durable, err := e.commits.commitInbound(ctx, m, now)
	if err != nil {
		e.m.storeOp("commit_inbound", start)
		return res, err
	}
	placed, rescue := true, false
	switch {
	case !res.Duplicate:
		m.ID = res.ID
		placed = e.dispatch(m)
	case res.Pending && e.cl != nil:
		// In a cluster the original may have been committed by a node
		// that died before handing it off (its webhook then failed, and
		// this is the retry): its owner runs it unless it is answered.
		m.ID = res.ID
		placed, rescue = e.cl.deliver(m, true), true
	}
	// A duplicate waits too: its original may still await its flush.
	select {
	case err = <-durable:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && !placed {
		// Durable now: the owner in the database takes it, or a load
		// that is certain to come finds it (cluster.go, settle).
		e.cl.settle(m, rescue)
	}
	e.m.storeOp("commit_inbound", start)
	return res, err
}

// dispatch hands an inbound message, written and maybe not yet durable, to
// its session: in a cluster, to the owner of its key (cluster.go), waiting
// for the owner's answer, so that a sender's next message cannot overtake
// it. False: no node took it (Accept settles it once it is durable).
func (e *Engine) dispatch(m *store.InboundMessage) bool {
	if e.cl != nil {
		return e.cl.deliver(m, false)
	}
	e.route(m)
	return true
}

// route hands work to its key's local session.
func (e *Engine) route(m *store.InboundMessage) {
	e.pending.Add(1)
	e.system.Root.Send(e.shardFor(m.Key()), &deliver{msg: m})
}

// Recover re-delivers what a previous run left unfinished: unsent outbox
// rows first, then committed inbound messages that never got their turn,
// each in commit order, then pending starts (start.go); and it restores a session for every active
// conversation, which expires at the conversation's stored deadline. Call
// it before accepting webhooks. In a cluster it does nothing: a node
// recovers each slot's work when it acquires the slot.
func (e *Engine) Recover(ctx context.Context) (inbound, outbox int, err error) {
	if e.cl != nil {
		return 0, 0, nil
	}
	return e.recoverWhere(ctx, nil)
}

// recoverWhere is Recover for the session keys mine accepts (nil: all),
// handing the work to the local sessions.
func (e *Engine) recoverWhere(ctx context.Context, mine func(store.SessionKey) bool) (inbound, outbox int, err error) {
	all, err := e.opts.Store.PendingOutbox(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("actors: recover outbox: %w", err)
	}
	byKey := map[store.SessionKey][]*store.OutboundMessage{}
	var order []store.SessionKey
	var rows []*store.OutboundMessage
	for _, r := range all {
		k := outboxKey(r)
		if mine != nil && !mine(k) {
			continue
		}
		rows = append(rows, r)
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	// Every conversation still active gets its session back, so it ends
	// at its stored deadline (at once if that passed while we were down)
	// even if its sender never texts again.
	active, err := e.opts.Store.ActiveConversations(ctx)
	if err != nil {
		return 0, len(rows), fmt.Errorf("actors: recover conversations: %w", err)
	}
	deadlines := make(map[store.SessionKey]time.Time, len(active))
	for _, c := range active {
		k := c.Key()
		if mine != nil && !mine(k) {
			continue
		}
		deadlines[k] = c.Deadline
		if _, ok := byKey[k]; !ok {
			byKey[k] = nil
			order = append(order, k)
		}
	}
	for _, k := range order {
		e.pending.Add(1)
		e.system.Root.Send(e.shardFor(k), &resumeSends{key: k, rows: byKey[k], deadline: deadlines[k]})
	}
	pending, err := e.opts.Store.PendingInbound(ctx)
	if err != nil {
		return 0, len(rows), fmt.Errorf("actors: recover inbox: %w", err)
	}
	var msgs []*store.InboundMessage
	for _, m := range pending {
		if mine == nil || mine(m.Key()) {
			msgs = append(msgs, m)
			e.route(m)
		}
	}
	// Then the starts (conversations the business starts) not yet run.
	if _, err := e.recoverStarts(ctx, mine); err != nil {
		return len(msgs), len(rows), fmt.Errorf("actors: recover starts: %w", err)
	}
	return len(msgs), len(rows), nil
}

// expiryLate records how long after its deadline a session expired.
func (e *Engine) expiryLate(d time.Duration) {
	e.m.expiry(d)
	for {
		cur := e.maxLate.Load()
		if int64(d) <= cur || e.maxLate.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// Pending returns how many delivered messages (and resumed sends) are not
// yet fully processed.
func (e *Engine) Pending() int64 { return e.pending.Load() }

// LiveSessions returns the number of live session actors.
func (e *Engine) LiveSessions() int { return e.live.count() }

// Close drains: it refuses new messages, waits (until ctx ends) for every
// delivered message's turn and sends to finish, then stops the actors.
// It returns ctx's error if the drain did not finish in time. Calls are
// serialised; once one has shut the engine down, later calls return its
// result at once (messages it left unfinished stay pending in the store).
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return e.closeErr
	}
	e.closing.Store(true)
	close(e.stopRescan)
	if e.cl != nil {
		// Hand the slots over first: the sessions finish what they hold
		// and the slots are freed for the other nodes at once.
		e.cl.leave(ctx)
	}
	var err error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// Messages, and the turn and expiry goroutines still running (say,
	// ending a conversation), finish within ctx; unfinished messages are
	// what the error reports.
drain:
	for e.pending.Load() > 0 || e.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			if n := e.pending.Load(); n > 0 {
				err = fmt.Errorf("actors: drain: %d messages unfinished: %w", n, ctx.Err())
			}
			break drain
		case <-tick.C:
		}
	}
	e.idle.close()
	e.system.Shutdown()
	if e.cl != nil {
		e.cl.shutdown()
	}
	e.commits.close()
	e.closed, e.closeErr = true, err
	return err
}

func (e *Engine) shardFor(k store.SessionKey) *actor.PID {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(k.ProjectID)
	h.WriteByte(0)
	h.WriteString(k.ChannelProviderID)
	h.WriteByte(0)
	h.WriteString(k.To)
	h.WriteByte(0)
	h.WriteString(k.From)
	return e.shards[h.Sum64()%uint64(len(e.shards))]
}

// sessionSupervisor restarts a panicking session (its state survives in
// the sessionState the registry holds) and stops it after repeated
// failures so a poison message cannot loop forever.
func sessionSupervisor(logger *slog.Logger) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(5, time.Minute, func(reason any) actor.Directive {
		logger.Error("session failed; restarting", "reason", fmt.Sprint(reason))
		return actor.RestartDirective
	})
}
