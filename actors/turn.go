package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"switchboard/providers/llm"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// turnInput is a snapshot of what a turn needs; the turn goroutine never
// touches the session's own state.
type turnInput struct {
	key         store.SessionKey
	sessionID   string
	conv        *convState // nil: find or start the conversation
	msgs        []*store.InboundMessage
	lastInbound time.Time
}

type turnOutput struct {
	conv    *convState
	replies int
}

// Keywords Twilio treats specially on long codes (whole body,
// case-insensitive). The engine records them and never calls the LLM.
var (
	optOutWords = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}
	optInWords  = map[string]bool{"START": true, "UNSTOP": true}
	helpWords   = map[string]bool{"HELP": true}
)

func keyword(body string) string {
	w := strings.ToUpper(strings.TrimSpace(body))
	if optOutWords[w] || optInWords[w] || helpWords[w] {
		return w
	}
	return ""
}

// runTurn runs one AI turn for the batch of messages: it finds or starts
// the conversation, asks the LLM, commits events, inbound state and outbox
// parts atomically, then sends the parts in order. It never panics: a
// failure is recorded and answered with the apology reply.
func (e *Engine) runTurn(in turnInput) turnOutput {
	if in.msgs[0].Start != nil {
		return e.runStart(in) // a conversation the business starts (start.go)
	}
	out, gone := e.runTurnOnce(in)
	if gone {
		// The conversation was deleted (through the API) under the turn:
		// the messages start a new one rather than being dropped.
		e.log.Warn("turn: conversation deleted during the turn; starting a new one", "session_id", in.sessionID)
		in.conv = nil
		out, _ = e.runTurnOnce(in)
	}
	return out
}

// runTurnOnce is one attempt of runTurn; gone reports that the
// conversation it continued no longer exists.
func (e *Engine) runTurnOnce(in turnInput) (out turnOutput, gone bool) {
	ctx := context.Background()
	began := time.Now()
	out.conv = in.conv
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("turn panicked", "session_id", in.sessionID, "panic", fmt.Sprint(r))
			// Poison message: mark it consumed so it does not loop.
			e.commitTurn(ctx, in.sessionID, &store.Turn{InboundIDs: inboundIDs(in.msgs)}, 0)
		}
	}()
	now := e.opts.Now().UTC()
	deadline := in.lastInbound.Add(e.opts.SessionTimeout).UTC()
	first := in.msgs[0]

	var conv *convState
	var created *newConversation
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		var err error
		conv, created, err = e.ensureConversation(ctx, in, now)
		if err == nil {
			break
		}
		if c := store.ErrorCode(err); c == store.ENOTFOUND || c == store.EINVALID {
			// A missing stage will not come back by waiting: consume the
			// messages (logged) so they do not block the session forever.
			e.log.Error("turn: no conversation; messages dropped", "session_id", in.sessionID, "message_sid", first.MessageSID, "err", err)
			e.commitTurn(ctx, in.sessionID, &store.Turn{InboundIDs: inboundIDs(in.msgs)}, 0)
			return out, false
		}
		// The database is failing: wait for it, keeping the order.
		e.log.Warn("turn: cannot load the conversation; retrying", "session_id", in.sessionID, "err", err)
		if e.closing.Load() {
			return out, false // the messages stay pending for the next start
		}
		time.Sleep(delay)
	}

	turn := &store.Turn{ConversationID: conv.id, Slot: store.SlotOf(in.key), InboundIDs: inboundIDs(in.msgs), Deadline: deadline}
	var opening []outReply
	if created != nil {
		// The conversation is created in the turn's own transaction.
		turn.NewConversation = created.conv
		turn.Events = append(turn.Events, created.start)
		if op := e.prepareReply(ctx, in.key.ProjectID, conv.stageID, first.From, created.opening); !op.empty() {
			opening = []outReply{op}
			turn.Events = append(turn.Events, op.event(conv.id, created.openingMeta, now))
		}
	}
	texts := make([]string, 0, len(in.msgs))
	var media []string
	for _, m := range in.msgs {
		turn.Events = append(turn.Events, messageEvent(conv.id, "user", m.Body, m.MediaURLs, now))
		if m.Body != "" {
			texts = append(texts, m.Body)
		}
		media = append(media, m.MediaURLs...)
	}
	text := strings.Join(texts, "\n")
	conv.turns++

	twCfg, err := e.cfg.twilio(ctx, in.key.ChannelProviderID)
	if err != nil {
		e.log.Error("turn: channel provider", "session_id", in.sessionID, "err", err)
	}
	from := first.To
	if from == "" && twCfg != nil {
		from = twCfg.FromNumber
	}
	to := first.From
	optedOut := e.optedOut(ctx, conv, in.key.ChannelProviderID, to)

	var replies []outReply
	endReason := ""
	switch kw := keyword(text); {
	case len(in.msgs) == 1 && optOutWords[kw]:
		e.setOptOut(ctx, in.key.ChannelProviderID, to, true)
		e.m.optOut()
		turn.Events = append(turn.Events, jsonEvent(conv.id, store.EventOptOut, map[string]string{"keyword": kw}, now))
		endReason = "opt_out"
	case len(in.msgs) == 1 && optInWords[kw]:
		e.setOptOut(ctx, in.key.ChannelProviderID, to, false)
		e.m.optIn()
		turn.Events = append(turn.Events, jsonEvent(conv.id, store.EventOptIn, map[string]string{"keyword": kw}, now))
	case len(in.msgs) == 1 && helpWords[kw]:
		// Twilio answers HELP itself on long codes.
	case optedOut:
		turn.Events = append(turn.Events, jsonEvent(conv.id, store.EventDelivery,
			map[string]any{"state": store.OutboxSkipped, "reason": "recipient opted out"}, now))
	case text == "" && len(media) > 0:
		replies = opening
		reply := e.prepareReply(ctx, in.key.ProjectID, conv.stageID, to, e.mediaReply(ctx, in.key.ProjectID, conv.stageID))
		if !reply.empty() {
			replies = append(replies, reply)
			turn.Events = append(turn.Events, reply.event(conv.id, map[string]any{"kind": kindMediaNotice}, now))
		}
	default:
		replies = opening
		// A conversation created by this turn has nothing stored yet.
		res, err := e.complete(ctx, in, conv, text, in.msgs[len(in.msgs)-1], created == nil)
		reply, meta := res.resp.Text, res.meta
		if err != nil {
			e.log.Warn("turn: llm failed", "session_id", in.sessionID, "conversation_id", conv.id, "err", err)
			turn.Events = append(turn.Events, jsonEvent(conv.id, store.EventError,
				map[string]string{"source": "llm", "error": err.Error()}, now))
			reply = e.opts.LLMErrorReply
			if meta == nil {
				meta = map[string]any{}
			}
			meta["kind"] = kindErrorReply
		}
		// Formatted before splitting; the event keeps the text as sent.
		sent := e.prepareReply(ctx, in.key.ProjectID, conv.stageID, to, reply)
		if !sent.empty() {
			replies = append(replies, sent)
			turn.Events = append(turn.Events, sent.event(conv.id, meta, now))
		}
	}
	if len(opening) > 0 && len(replies) == 0 {
		replies = opening // opening still goes out ahead of a keyword
	}

	cbBase := e.opts.PublicBaseURL
	if cbBase == "" {
		cbBase = first.CallbackBase
		e.rememberCallbackBase(in.key.ChannelProviderID, cbBase)
	}
	for _, r := range replies {
		parts := r.parts(e, conv.id)
		for i, p := range parts {
			row := &store.OutboundMessage{
				ProjectID: in.key.ProjectID, ConversationID: conv.id, ProviderID: in.key.ChannelProviderID,
				From: from, To: to, Body: p, Part: i + 1, Parts: len(parts), State: store.OutboxPending,
			}
			if i == 0 {
				row.MediaURLs = r.media // the media ride the first part
			}
			if optedOut || endReason != "" {
				row.State = store.OutboxSkipped
			}
			turn.Outbox = append(turn.Outbox, row)
		}
	}
	if endReason != "" {
		endTurn(turn, endReason, now)
	}
	ok, gone := e.commitTurn(ctx, in.sessionID, turn, e.turnPatience(began))
	if !ok {
		// Nothing was committed: the session keeps the conversation it had
		// (never one this turn only meant to create).
		return out, gone
	}
	out.conv = conv
	if endReason != "" {
		out.conv = nil // ended in the turn's own transaction
	}
	if turn.ConversationID != conv.id {
		// Another node started the key's conversation first; the turn
		// joined it (see commitTurn).
		out.conv = &convState{id: turn.ConversationID, stageID: conv.stageID, agentID: conv.agentID, turns: conv.turns}
	}
	if cbBase == "" && twCfg != nil && len(turn.Outbox) > 0 {
		// A message recovered after a restart: its webhook's base was not
		// stored.
		cbBase = e.callbackBase(ctx, twCfg, in.key.ChannelProviderID, from)
	}
	out.replies = e.sendRows(ctx, twCfg, turn.Outbox, cbBase, first.ReceivedAt)
	return out, false
}

// optedOut reports whether the recipient has opted out. The store is read
// once per conversation (reads are not free on the hot path); changes made
// by this process since are known from e.optOuts.
func (e *Engine) optedOut(ctx context.Context, conv *convState, providerID, addr string) bool {
	if v, ok := e.optOuts.Load(providerID + "\x00" + addr); ok {
		return v.(bool)
	}
	if !conv.optChecked {
		out, err := e.opts.Store.IsOptedOut(ctx, providerID, addr)
		if err != nil {
			e.log.Warn("turn: opt-out lookup", "conversation_id", conv.id, "err", err)
			return false
		}
		conv.optChecked, conv.optedOut = true, out
	}
	return conv.optedOut
}

// setOptOut records an opt-out or opt-in in the store and in e.optOuts.
func (e *Engine) setOptOut(ctx context.Context, providerID, addr string, out bool) {
	e.optOuts.Store(providerID+"\x00"+addr, out)
	if err := e.opts.Store.SetOptOut(ctx, providerID, addr, out); err != nil {
		e.log.Error("record opt-out", "opted_out", out, "err", err)
	}
}

// turnPatience is how long the flush of a turn that began at began may
// wait for the next webhook's flush to cover it, when its own message's
// flush is past: a tenth of the time the turn took, so a quick turn
// flushes at once and a reply is never held back by more than a tenth of
// its LLM call, and at most TurnWait.
func (e *Engine) turnPatience(began time.Time) time.Duration {
	return min(time.Since(began)/10, e.opts.TurnWait)
}

// commitTurn commits through the group committer. A failing database is
// retried (the session waits, so order is kept) until the engine shuts
// down, when the messages stay pending for the next start. It reports
// whether the turn was committed, and convGone when the conversation it
// continues was deleted meanwhile (nothing is committed then).
//
// patience is how long the turn's flush may wait for company when no
// webhook's message is waiting for one (committer).
func (e *Engine) commitTurn(ctx context.Context, sessionID string, t *store.Turn, patience time.Duration) (committed, convGone bool) {
	delay := 50 * time.Millisecond
	for {
		start := time.Now()
		err := e.commits.commitTurn(ctx, t, patience)
		e.m.storeOp("commit_turns", start)
		if err == nil {
			return true, false
		}
		if store.ErrorCode(err) == store.ECONFLICT && t.NewConversation != nil {
			// The session key already has an active conversation (started
			// elsewhere): continue that one instead.
			if c, err2 := e.opts.Store.ActiveConversation(ctx, t.NewConversation.Key()); err2 == nil {
				if c.ID == t.ConversationID && e.turnCommitted(ctx, t) {
					return true, false // an earlier attempt went through
				}
				if t.NewConversation.Direction == store.DirectionOutgoing && c.ID != t.ConversationID {
					// A start replaces the conversation, as in Bonsai
					// (start.go): it keeps its own id.
					e.endConversation(ctx, t.NewConversation.Key(), c.ID, reasonSuperseded, 0)
					continue
				}
				joinConversation(t, c.ID)
				continue
			}
		}
		if store.ErrorCode(err) == store.ENOTFOUND && t.ConversationID != "" && t.NewConversation == nil {
			return false, true
		}
		if store.ErrorCode(err) == store.EFENCED {
			// This node no longer owns the key (cluster.go): the messages
			// stay pending for the owner, and nothing is sent.
			e.log.Warn("turn: refused by fencing; messages left to the key's owner", "session_id", sessionID, "err", err)
			if e.cl != nil {
				e.cl.fencedCommit()
			}
			return false, false
		}
		if errors.Is(err, errCommitterClosed) || store.ErrorCode(err) == store.EINVALID {
			e.log.Error("turn: commit failed; messages stay pending", "session_id", sessionID, "err", err)
			return false, false
		}
		e.log.Warn("turn: commit failed; retrying", "session_id", sessionID, "err", err)
		time.Sleep(delay)
		delay = min(2*delay, 2*time.Second)
		if e.turnCommitted(ctx, t) {
			// The failure hid a commit that went through (PostgreSQL's
			// connection lost on the way back): written once, sent once.
			e.log.Info("turn: the failed commit had gone through", "session_id", sessionID, "conversation_id", t.ConversationID)
			return true, false
		}
	}
}

// turnCommitted reports whether t, whose commit failed with an error that
// may hide a success, is in the store after all (store.TurnFinder); it
// then takes the committed row's ids, as a successful commit would have
// given them.
func (e *Engine) turnCommitted(ctx context.Context, t *store.Turn) bool {
	f, ok := e.opts.Store.(store.TurnFinder)
	if !ok || t.ConversationID == "" || (len(t.InboundIDs) == 0 && t.NewConversation == nil) {
		return false
	}
	// A start's opening turn consumes no message; it creates its
	// conversation, whose only turn row it then is (inbound id 0).
	var first int64
	if len(t.InboundIDs) > 0 {
		first = t.InboundIDs[0]
	}
	id, found, err := f.CommittedTurn(ctx, t.ConversationID, first)
	if err != nil || !found {
		return false
	}
	t.AssignIDs(id)
	store.CommittedNewConversations([]*store.Turn{t}, e.opts.Now().UTC().Truncate(time.Microsecond))
	return true
}

// newConversation is a conversation to create with the turn.
type newConversation struct {
	conv    *store.Conversation
	start   store.Event
	opening string // the AI's opening message (generate_response), if any
	// openingMeta is the opening's event metadata (how the call went).
	openingMeta map[string]any
}

// joinConversation rewrites a turn that meant to create a conversation so
// that it continues the existing conversation id instead.
func joinConversation(t *store.Turn, id string) {
	t.NewConversation = nil
	t.ConversationID = id
	evs := t.Events[:0]
	for _, ev := range t.Events {
		if ev.EventType == store.EventConversationStart {
			continue
		}
		ev.ConversationID = id
		evs = append(evs, ev)
	}
	t.Events = evs
	for _, o := range t.Outbox {
		o.ConversationID = id
	}
}

// ensureConversation returns the session's conversation, loading the
// active one from the store or preparing a new one, which the turn then
// creates in its own transaction. A conversation whose deadline passed
// (the server was down) is ended and replaced.
func (e *Engine) ensureConversation(ctx context.Context, in turnInput, now time.Time) (*convState, *newConversation, error) {
	if in.conv != nil {
		return in.conv, nil, nil
	}
	c, err := e.opts.Store.ActiveConversation(ctx, in.key)
	switch {
	case err == nil && !c.Deadline.IsZero() && !c.Deadline.After(now):
		e.endConversation(ctx, in.key, c.ID, "inactivity_timeout", 0)
	case err == nil:
		cs := &convState{id: c.ID, stageID: c.StageID, agentID: c.AgentID}
		if n, err := e.opts.Store.CountUserMessages(ctx, c.ID); err == nil {
			cs.turns = n
		}
		return cs, nil, nil
	case store.ErrorCode(err) != store.ENOTFOUND:
		return nil, nil, err
	}

	first := in.msgs[0]
	stage, err := e.cfg.stage(ctx, in.key.ProjectID, first.StageID)
	if err != nil {
		return nil, nil, fmt.Errorf("stage %s: %w", first.StageID, err)
	}
	agentID := stage.AgentID
	if first.AgentID != "" {
		agentID = first.AgentID
	}
	// The webhook stores addresses in Twilio's spelling; parsing (the prefix
	// in any case) keeps a message committed before it did so on WhatsApp.
	channel := twilio.ChannelSMS
	if a, err := twilio.ParseAddress(first.From); err == nil {
		channel = a.Channel
	}
	meta, _ := json.Marshal(map[string]string{"channel": channel, "profileName": first.ProfileName})
	conv := &store.Conversation{
		Meta:      store.Meta{ID: store.NewID(store.PrefixConversation)},
		ProjectID: in.key.ProjectID, StageID: stage.ID, AgentID: agentID, UserID: first.From,
		ChannelProviderID: in.key.ChannelProviderID, ChannelAddress: first.To,
		Status: store.ConversationActive, Metadata: meta,
		Deadline: in.lastInbound.Add(e.opts.SessionTimeout).UTC(),
	}
	nc := &newConversation{
		conv:  conv,
		start: jsonEvent(conv.ID, store.EventConversationStart, map[string]string{"stageId": stage.ID, "agentId": agentID, "channel": channel}, now),
	}
	cs := &convState{id: conv.ID, stageID: stage.ID, agentID: agentID}
	if stage.EnterBehavior == store.EnterGenerateResponse {
		res, err := e.completeRaw(ctx, stage, agentID, cs, nil, "", 0, first, false, "")
		if err != nil {
			e.log.Warn("turn: opening message failed", "conversation_id", conv.ID, "err", err)
			res = llmResult{} // no apology opens a conversation
		}
		nc.opening, nc.openingMeta = res.resp.Text, res.meta
	}
	return cs, nc, nil
}

// complete asks the stage's LLM for the reply to text, with the stored
// history when loadHistory is set.
func (e *Engine) complete(ctx context.Context, in turnInput, conv *convState, text string, sender *store.InboundMessage, loadHistory bool) (llmResult, error) {
	stage, err := e.cfg.stage(ctx, in.key.ProjectID, conv.stageID)
	if err != nil {
		return llmResult{}, fmt.Errorf("stage: %w", err)
	}
	return e.completeRaw(ctx, stage, conv.agentID, conv, []string{text}, text, conv.turns, sender, loadHistory, "")
}

// completeRaw asks the stage's LLM for a reply; sender is the (latest)
// message the turn answers, whose sender the prompt's userProfile
// describes. The result carries what the call cost and how it finished
// (recorded on the assistant event) even when err is set. instruction,
// when set, is appended to the system prompt (a start's extra instruction
// for its opening message).
func (e *Engine) completeRaw(ctx context.Context, stage *store.Stage, agentID string, conv *convState, user []string, text string, turnNo int, sender *store.InboundMessage, loadHistory bool, instruction string) (res llmResult, err error) {
	from := sender.From
	prov, err := e.cfg.provider(ctx, stage.LLMProviderID)
	if err != nil {
		return res, fmt.Errorf("llm provider: %w", err)
	}
	client, err := e.opts.LLM.Get(prov)
	if err != nil {
		return res, fmt.Errorf("llm provider %s: %w", prov.ID, err)
	}
	system, err := e.systemPrompt(ctx, stage, agentID, text, sender)
	if err != nil {
		return res, err
	}
	if instruction != "" {
		system += "\n\n" + instruction
	}
	inCap, outCap := e.cfg.projectCosts(ctx, stage.ProjectID).Resolve(prov.ID, stage.LLMSettings.Model).CompletionCaps()
	req := llm.Request{
		Model:          stage.LLMSettings.Model,
		Temperature:    stage.LLMSettings.DefaultTemperature,
		MaxTokens:      maxOutputTokens(stage.LLMSettings.DefaultMaxTokens, outCap),
		Text:           text,
		Turn:           turnNo,
		From:           from,
		ConversationID: conv.id,
	}
	var hist []llm.Message
	if loadHistory && prov.APIType != store.APITypeScripted {
		// Idle sessions keep no history in memory: load it for the turn.
		evs, err := e.opts.Store.RecentMessages(ctx, conv.id, e.opts.HistoryLimit)
		if err != nil {
			return res, fmt.Errorf("history: %w", err)
		}
		hist = historyMessages(evs)
	}
	var budget budgetInfo
	req.Messages, budget = fitBudget(system, hist, user, maxInputTokens(stage.LLMSettings, inCap))
	timeout := 60 * time.Second
	if t := stage.LLMSettings.Timeout; t != nil && *t > 0 {
		timeout = time.Duration(*t) * time.Millisecond
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res, err = llmResult{}, fmt.Errorf("llm provider %s panicked: %v", prov.ID, r)
		}
		e.m.llmCall(prov.APIType, time.Since(start), err)
	}()
	resp, err := client.Complete(cctx, req)
	return e.llmOutcome(prov, req.Model, resp, budget, conv.id), err
}

// mediaReply is the answer to a media-only message: the stage's
// metadata.mediaReply if set, else a text-only notice.
func (e *Engine) mediaReply(ctx context.Context, projectID, stageID string) string {
	const def = "Sorry, I can only read text messages. Please send your question as text."
	stage, err := e.cfg.stage(ctx, projectID, stageID)
	if err != nil || len(stage.Metadata) == 0 {
		return def
	}
	var md struct {
		MediaReply *string `json:"mediaReply"`
	}
	if json.Unmarshal(stage.Metadata, &md) == nil && md.MediaReply != nil {
		return *md.MediaReply
	}
	return def
}

// expireConversation ends an idle session's conversation.
func (e *Engine) expireConversation(key store.SessionKey, conv *convState) {
	ctx := context.Background()
	id := ""
	if conv != nil {
		id = conv.id
	} else if c, err := e.opts.Store.ActiveConversation(ctx, key); err == nil && !c.Deadline.After(e.opts.Now()) {
		// A session that never saw its conversation (it only resumed
		// sends) ends it only once its stored deadline has passed.
		id = c.ID
	}
	if id != "" {
		// Nothing is sent after an expiry: its flush may wait for the
		// next one.
		e.endConversation(ctx, key, id, "inactivity_timeout", e.opts.TurnWait)
	}
}

// endConversation ends a conversation through the group committer, so
// that many sessions expiring together share one transaction; its flush
// may wait up to patience for company (committer.commitTurn). An end
// inside a turn or a start takes none: the turn waits for it.
func (e *Engine) endConversation(ctx context.Context, key store.SessionKey, id, reason string, patience time.Duration) {
	t := &store.Turn{ConversationID: id, Slot: store.SlotOf(key)}
	endTurn(t, reason, e.opts.Now().UTC())
	if err := e.commits.commitTurn(ctx, t, patience); err != nil {
		e.log.Error("end conversation", "conversation_id", id, "err", err)
	}
}

// endTurn makes t end its conversation for reason.
func endTurn(t *store.Turn, reason string, at time.Time) {
	t.End, _ = json.Marshal(map[string]string{"reason": reason})
	ev := jsonEvent(t.ConversationID, store.EventConversationEnd, map[string]string{"reason": reason}, at)
	t.EndEvent = &ev
}

// statusCallback is the StatusCallback URL for sends of a provider.
// statusCallback is the StatusCallback URL of outbox row id: the status
// route, the channel provider, and the row (ref), by which the callback
// finds it (the store keeps no index of Twilio's SIDs).
func statusCallback(base, providerID string, id int64) string {
	if base == "" {
		return ""
	}
	return base + "/api/twilio/messaging/status?channelProviderId=" + url.QueryEscape(providerID) + "&ref=" + strconv.FormatInt(id, 10)
}

func inboundIDs(msgs []*store.InboundMessage) []int64 {
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func messageEvent(convID, role, text string, media []string, at time.Time) store.Event {
	return jsonEvent(convID, store.EventMessage, store.MessageData{Role: role, Text: text, MediaURL: media}, at)
}

func jsonEvent(convID, typ string, data any, at time.Time) store.Event {
	b, _ := json.Marshal(data)
	return store.Event{ConversationID: convID, EventType: typ, EventData: b, CreatedAt: at}
}
