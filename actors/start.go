package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/replyfmt"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// Conversations the business starts (POST /api/twilio/messaging/send).
//
// A start is stored (store.Start, with its conversation id chosen) before
// the request is answered, then handed to the recipient's session like a
// text: it is queued behind anything the recipient sent before, and what
// the recipient sends after waits for it. Its turn consumes no inbound
// message: it creates the conversation (direction outgoing) with the
// opening message — the given text, or the stage's LLM — and commits it as
// one turn through the group committer, then sends its parts through the
// outbox and the per-number rate limits, exactly as a reply. A WhatsApp
// start with a Content template (the request's, else the stage's
// metadata.whatsappTemplate: startTemplate) sends the template as its
// opening, with no LLM call; its body describes it for the history. The
// request's media ride the opening's first part, ahead of the images of
// the text (prepareReply). The
// recipient's replies arrive with the same session key (project, channel
// provider, our number, the recipient) and continue the conversation.
//
// Exactly once: the start row is unique per (project, idempotency key),
// and its conversation id is fixed, so a second run of the same start (a
// repeated request while the first is on its way, a restart between the
// commit and the state change) finds the start no longer pending or its
// conversation present, and sends nothing. A commit of unknown outcome is
// settled by the conversation's turn row (turnCommitted, inbound id 0).
//
// An active conversation with the same recipient is ended (statusDetails
// "superseded") and the start opens a new one, as Bonsai does: its send
// route always creates a conversation and points the sender's session at
// it, so replies continue the newest conversation.

// reasonSuperseded ends a conversation that a start replaced.
const reasonSuperseded = "superseded"

// startJobConcurrency is how many of a job's starts run at once (their
// LLM calls); their sends are paced by the per-number rate limit.
const startJobConcurrency = 8

// startWait bounds how long a job waits for one start before it moves on
// (the start itself is not abandoned: it stays on its session's queue).
const startWait = 2 * time.Minute

// newStartCounter counts starts by outcome (nil: no metrics).
func newStartCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	if reg == nil {
		return nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_conversation_starts_total",
		Help: "Conversations started from the API (send and bulk jobs), by outcome: started (opening message committed and queued for sending), opted_out, failed.",
	}, []string{"outcome"})
	for _, o := range []string{store.StartStarted, store.StartOptedOut, store.StartFailed} {
		c.WithLabelValues(o)
	}
	reg.MustRegister(c)
	return c
}

// startRuns tracks the starts handed to sessions in this process: a start
// is handed over once, and a job can wait for one to finish.
type startRuns struct {
	mu   sync.Mutex
	runs map[string]chan struct{}
}

// begin registers id and returns its done channel, or nil if it is
// already running.
func (r *startRuns) begin(id string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]chan struct{}{}
	}
	if _, ok := r.runs[id]; ok {
		return nil
	}
	ch := make(chan struct{})
	r.runs[id] = ch
	return ch
}

func (r *startRuns) end(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.runs[id]; ok {
		close(ch)
		delete(r.runs, id)
	}
}

// Start hands a stored, pending start to its recipient's session. A start
// already on its way in this process is not handed over again. It returns
// a channel closed when the start's turn has finished (nil if it was
// already running) or ErrClosing while the engine drains (the start stays
// pending for the next run).
func (e *Engine) Start(s *store.Start) (<-chan struct{}, error) {
	if e.closing.Load() {
		return nil, ErrClosing
	}
	if e.cl != nil && !e.cl.owns(s.Key()) {
		// Another node's (or nobody's yet): hand it over by id, to the
		// owner in the database if the one this node sees did not take it
		// (the start is stored already).
		if m := startMessage(s); !e.cl.deliver(m, false) {
			e.cl.settle(m, false)
		}
		done := make(chan struct{})
		close(done)
		return done, nil
	}
	return e.startLocal(s)
}

// startLocal hands a start to its recipient's local session.
func (e *Engine) startLocal(s *store.Start) (<-chan struct{}, error) {
	if e.closing.Load() {
		return nil, ErrClosing
	}
	done := e.starts.begin(s.ID)
	if done == nil {
		return nil, nil
	}
	m := startMessage(s)
	m.ReceivedAt = e.opts.Now().UTC()
	e.route(m)
	return done, nil
}

// startMessage is the work that carries a start to its recipient's
// session: no text, ordered with the recipient's texts.
func startMessage(s *store.Start) *store.InboundMessage {
	return &store.InboundMessage{
		ProjectID: s.ProjectID, ProviderID: s.ProviderID, StageID: s.StageID, AgentID: s.AgentID,
		From: s.To, To: s.From, CallbackBase: s.CallbackBase, Start: s,
	}
}

// RunJob hands a job's pending starts to their sessions in order, at most
// startJobConcurrency at once and no faster than the per-number send rate
// (SEND_RATE_PER_NUMBER), so that a large job neither floods the LLM nor
// builds a long outbox queue. It returns at once; the job runs until its
// last start is handed over or the engine drains (the rest stay pending
// and a restart resumes them).
func (e *Engine) RunJob(starts []*store.Start) {
	if len(starts) == 0 {
		return
	}
	go func() {
		slots := make(chan struct{}, startJobConcurrency)
		var interval time.Duration
		if r := e.opts.SendRatePerNumber; r > 0 {
			interval = time.Duration(float64(time.Second) / r)
		}
		next := time.Now()
		for _, s := range starts {
			if wait := time.Until(next); wait > 0 {
				time.Sleep(wait)
			}
			next = time.Now().Add(interval)
			slots <- struct{}{}
			done, err := e.Start(s)
			if err != nil {
				return // draining: the rest run after the restart
			}
			go func() {
				defer func() { <-slots }()
				if done == nil {
					return
				}
				t := time.NewTimer(startWait)
				defer t.Stop()
				select {
				case <-done:
				case <-t.C:
					e.log.Warn("start job: a start is slow; moving on", "start_id", s.ID, "job_id", s.JobID)
				}
			}()
		}
	}()
}

// recoverStarts hands the starts a previous run left pending to their
// sessions: single ones at once, each job's through RunJob.
func (e *Engine) recoverStarts(ctx context.Context, mine func(store.SessionKey) bool) (int, error) {
	all, err := e.opts.Store.PendingStarts(ctx)
	if err != nil {
		return 0, err
	}
	var starts []*store.Start
	for _, s := range all {
		if mine == nil || mine(s.Key()) {
			starts = append(starts, s)
		}
	}
	jobs := map[string][]*store.Start{}
	var order []string
	for _, s := range starts {
		if s.JobID == "" {
			if _, err := e.startLocal(s); err != nil {
				return 0, err
			}
			continue
		}
		if _, ok := jobs[s.JobID]; !ok {
			order = append(order, s.JobID)
		}
		jobs[s.JobID] = append(jobs[s.JobID], s)
	}
	for _, id := range order {
		e.RunJob(jobs[id])
	}
	return len(starts), nil
}

// runStart is the turn of a start (see the top of this file). It never
// answers with an apology: a start that cannot open its conversation is
// recorded as failed, with the reason, and sends nothing.
func (e *Engine) runStart(in turnInput) (out turnOutput) {
	ctx := context.Background()
	m := in.msgs[0]
	s := m.Start
	out.conv = in.conv
	defer e.starts.end(s.ID)
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("start panicked", "start_id", s.ID, "panic", fmt.Sprint(r))
			e.finishStart(ctx, s, store.StartFailed, "internal error")
			out.conv = nil
		}
	}()

	// 1. Still pending, and not run before (its conversation exists)?
	cur, err := e.opts.Store.GetStart(ctx, s.ID)
	if err != nil {
		// Deleted with its project, or the store is failing: a pending
		// start is run again after the next restart.
		e.log.Warn("start: cannot read the start", "start_id", s.ID, "err", err)
		return out
	}
	if cur.State != store.StartPending {
		return out
	}
	if c, err := e.opts.Store.GetConversation(ctx, s.ProjectID, s.ConversationID); err == nil {
		e.finishStart(ctx, s, store.StartStarted, "")
		if c.Status == store.ConversationActive {
			out.conv = &convState{id: c.ID, stageID: c.StageID, agentID: c.AgentID}
		}
		return out
	}
	// 2. The recipient's opt-out, as it is now (a STOP may have arrived
	// since the request was accepted).
	if e.optedOutNow(ctx, s.ProviderID, s.To) {
		e.finishStart(ctx, s, store.StartOptedOut, "recipient has opted out (STOP)")
		return out
	}
	stage, err := e.cfg.stage(ctx, s.ProjectID, s.StageID)
	if err != nil {
		e.finishStart(ctx, s, store.StartFailed, "stage "+s.StageID+": "+store.ErrorMessage(err))
		return out
	}
	agentID := stage.AgentID
	if s.AgentID != "" {
		agentID = s.AgentID
	}
	// 3. The recipient's active conversation, if any, ends: the start
	// opens a new one (as in Bonsai).
	if in.conv != nil {
		e.endConversation(ctx, in.key, in.conv.id, reasonSuperseded, 0)
		out.conv = nil
	} else if c, err := e.opts.Store.ActiveConversation(ctx, s.Key()); err == nil {
		e.endConversation(ctx, in.key, c.ID, reasonSuperseded, 0)
	}

	// 4. The conversation and its opening message.
	now := e.opts.Now().UTC()
	deadline := in.lastInbound.Add(e.opts.SessionTimeout).UTC()
	channel := twilio.ChannelSMS
	if a, err := twilio.ParseAddress(s.To); err == nil {
		channel = a.Channel
	}
	conv := &store.Conversation{
		Meta:      store.Meta{ID: s.ConversationID},
		ProjectID: s.ProjectID, StageID: stage.ID, AgentID: agentID, UserID: s.To,
		ChannelProviderID: s.ProviderID, ChannelAddress: s.From, Direction: store.DirectionOutgoing,
		Status: store.ConversationActive, Metadata: startMetadata(s.Metadata, channel, s.ID), Deadline: deadline,
	}
	cs := &convState{id: conv.ID, stageID: stage.ID, agentID: agentID, optChecked: true}
	var reply outReply
	var meta map[string]any
	tmpl := startTemplate(s, stage)
	switch {
	case tmpl != nil:
		// The template is the opening: no LLM call. Twilio sends the
		// template; the body only describes it for the history.
		reply = outReply{text: templateDescription(tmpl)}
		meta = map[string]any{"kind": "template", "contentSid": tmpl.ContentSID}
	case s.Text != "":
		reply, meta = e.prepareReply(ctx, s.ProjectID, stage.ID, s.To, s.Text), map[string]any{"kind": "given"}
	default:
		res, err := e.completeRaw(ctx, stage, agentID, cs, nil, "", 0, m, false, s.Instruction)
		if err == nil && res.resp.Text == "" {
			err = errEmptyOpening
		}
		if err != nil {
			e.log.Warn("start: opening message failed", "start_id", s.ID, "conversation_id", conv.ID, "err", err)
			e.finishStart(ctx, s, store.StartFailed, "opening message: "+err.Error())
			return out
		}
		reply, meta = e.prepareReply(ctx, s.ProjectID, stage.ID, s.To, res.resp.Text), res.meta
	}
	// The request's media come first, then the images of the text, at
	// most replyfmt.MaxMedia in all (the API checked the request's).
	if len(s.MediaURLs) > 0 && tmpl == nil {
		reply.media = append(slices.Clone(s.MediaURLs), reply.media...)
		if len(reply.media) > replyfmt.MaxMedia {
			reply.media = reply.media[:replyfmt.MaxMedia]
		}
	}
	if reply.empty() {
		e.finishStart(ctx, s, store.StartFailed, "opening message: "+errEmptyOpening.Error())
		return out
	}
	start := jsonEvent(conv.ID, store.EventConversationStart, map[string]string{
		"stageId": stage.ID, "agentId": agentID, "channel": channel, "direction": store.DirectionOutgoing, "startId": s.ID}, now)
	turn := &store.Turn{
		ConversationID: conv.ID, Slot: store.SlotOf(in.key), Deadline: deadline, NewConversation: conv,
		Events: []store.Event{start, reply.event(conv.ID, meta, now)},
	}
	parts := reply.parts(e, conv.ID)
	if tmpl != nil {
		parts = []string{reply.text} // one message, whatever its description's length
	}
	for i, p := range parts {
		row := &store.OutboundMessage{
			ProjectID: s.ProjectID, ConversationID: conv.ID, ProviderID: s.ProviderID,
			From: s.From, To: s.To, Body: p, Part: i + 1, Parts: len(parts), State: store.OutboxPending,
		}
		if i == 0 {
			row.MediaURLs = reply.media // the media ride the first part
			if tmpl != nil {
				row.ContentSID, row.ContentVariables = tmpl.ContentSID, tmpl.ContentVariables
			}
		}
		turn.Outbox = append(turn.Outbox, row)
	}
	if ok, _ := e.commitTurn(ctx, in.sessionID, turn, 0); !ok {
		return out // the engine is draining: the start stays pending
	}
	e.finishStart(ctx, s, store.StartStarted, "")
	out.conv = cs

	// 5. Send, as a reply is sent.
	twCfg, err := e.cfg.twilio(ctx, s.ProviderID)
	if err != nil {
		e.log.Error("start: channel provider", "start_id", s.ID, "err", err)
	}
	cbBase := e.opts.PublicBaseURL
	if cbBase == "" {
		cbBase = m.CallbackBase
		e.rememberCallbackBase(s.ProviderID, cbBase)
	}
	if cbBase == "" && twCfg != nil {
		cbBase = e.callbackBase(ctx, twCfg, s.ProviderID, s.From)
	}
	out.replies = e.sendRows(ctx, twCfg, turn.Outbox, cbBase, time.Time{})
	return out
}

// startTemplate is the Content template a start opens its conversation
// with: the request's, else the stage's metadata.whatsappTemplate for a
// WhatsApp recipient when the request names no opening of its own (no
// text, instruction or media: those ask for a free-form message, which
// Twilio refuses outside the 24-hour window with 63016), else none.
func startTemplate(s *store.Start, stage *store.Stage) *twilio.Template {
	if s.ContentSID != "" {
		return &twilio.Template{ContentSID: s.ContentSID, ContentVariables: s.ContentVariables}
	}
	if s.Text != "" || s.Instruction != "" || len(s.MediaURLs) > 0 {
		return nil
	}
	return WhatsAppTemplate(stage, s.To)
}

// templateDescription is the body of a template send, for the history
// (Twilio sends the template instead): "[template HX… variables {…}]", as
// the phone emulator shows it.
func templateDescription(t *twilio.Template) string {
	d := "[template " + t.ContentSID
	if t.ContentVariables != "" {
		d += " variables " + t.ContentVariables
	}
	return d + "]"
}

// errEmptyOpening is a start's LLM answering nothing.
var errEmptyOpening = errorString("the LLM answered with no text")

type errorString string

func (e errorString) Error() string { return string(e) }

// optedOutNow reports the recipient's opt-out as this process last
// recorded it, else as stored.
func (e *Engine) optedOutNow(ctx context.Context, providerID, addr string) bool {
	if v, ok := e.optOuts.Load(providerID + "\x00" + addr); ok {
		return v.(bool)
	}
	out, err := e.opts.Store.IsOptedOut(ctx, providerID, addr)
	if err != nil {
		e.log.Warn("start: opt-out lookup", "err", err)
		return false
	}
	return out
}

// finishStart records a start's outcome and counts it. A failure to
// record is logged: the start stays pending and its next run (after a
// restart) finds its conversation or runs again.
func (e *Engine) finishStart(ctx context.Context, s *store.Start, state, msg string) {
	moved, err := e.opts.Store.FinishStart(ctx, s.ID, state, msg)
	if err != nil {
		e.log.Error("start: record outcome", "start_id", s.ID, "state", state, "err", err)
		return
	}
	if moved && e.startCount != nil {
		e.startCount.WithLabelValues(state).Inc()
	}
	if state != store.StartStarted {
		e.log.Info("start: no conversation", "start_id", s.ID, "to", twilio.MaskNumber(s.To), "state", state, "reason", msg)
	}
}

// startMetadata is a started conversation's metadata: the caller's
// object, with the channel and the start's id, which the engine sets.
func startMetadata(given json.RawMessage, channel, startID string) json.RawMessage {
	md := map[string]any{}
	if len(given) > 0 {
		_ = json.Unmarshal(given, &md) // validated by the API as an object
	}
	md["channel"], md["startId"] = channel, startID
	b, _ := json.Marshal(md)
	return b
}
