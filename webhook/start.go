package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/replyfmt"
	"switchboard/providers"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// Conversations the business starts: Bonsai's POST
// /api/twilio/messaging/send (its console's generated client:
// twilioMessagingSendCreate), and a bulk form Bonsai lacks. The API key
// authenticates as on the webhook — query parameters apiKey,
// channelProviderId, stageId and agentId, checked the same way — but there
// is no Twilio signature: the caller is the business, not Twilio. The
// engine does the work (actors/start.go); the handlers parse, check,
// store the start and answer.

// Starter runs stored starts (the actors engine).
type Starter interface {
	// Start hands a pending start to its recipient's session.
	Start(s *store.Start) (<-chan struct{}, error)
	// RunJob works through a job's pending starts at the send rate.
	RunJob(starts []*store.Start)
}

// Limits of the start routes.
const (
	// MaxBulkRecipients bounds one bulk request.
	MaxBulkRecipients = 1000
	// MaxStartBodyBytes bounds a send request; MaxBulkBodyBytes a bulk one.
	MaxStartBodyBytes = 64 << 10
	MaxBulkBodyBytes  = 1 << 20
	// maxStartText bounds a given opening text and an instruction.
	maxStartText = 4096
	// maxIdempotencyKey bounds an idempotency key.
	maxIdempotencyKey = 255
	// maxStartMetadata bounds a start's metadata (its JSON text).
	maxStartMetadata = 16 << 10
)

// opening is what a start request says of the opening message and its
// conversation; a send, a bulk job and each of its recipients carry it.
type opening struct {
	Metadata json.RawMessage `json:"metadata"`
	// Text is the opening message, sent as it is (no LLM).
	Text string `json:"text"`
	// Instruction is added to the stage's prompt for the opening message.
	Instruction string `json:"instruction"`
	// ContentSID and ContentVariables open a WhatsApp conversation with
	// that Content template (ahead of the stage's
	// metadata.whatsappTemplate); MediaURLs ride the opening's first part.
	ContentSID       string          `json:"contentSid"`
	ContentVariables json.RawMessage `json:"contentVariables"`
	MediaURLs        []string        `json:"mediaUrls"`
}

// sendBody is the body of POST /api/twilio/messaging/send: Bonsai's
// (to, stageId, agentId, metadata) and Switchboard's additions.
type sendBody struct {
	To      string `json:"to"`
	StageID string `json:"stageId"`
	AgentID string `json:"agentId"`
	opening
	// IdempotencyKey (or the Idempotency-Key header) makes a repeated
	// request return the first one's conversation and send nothing.
	IdempotencyKey string `json:"idempotencyKey"`
	// From is our number the recipient will reply to: the provider's
	// fromNumber by default; required for a Messaging Service without one.
	From string `json:"from"`
}

// sendAnswer is the answer of a send: Bonsai's conversationId, and the
// start's id and state.
type sendAnswer struct {
	ConversationID string `json:"conversationId"`
	StartID        string `json:"startId"`
	State          string `json:"state"`
	Error          string `json:"error,omitempty"`
}

// startCaller is what the query parameters and the API key settle.
type startCaller struct {
	key      *store.APIKey
	prov     *store.Provider
	cfg      *providers.TwilioConfig
	stageID  string
	agentID  string
	clientIP string
}

// startFail is a refused start request: its status, metric outcome and
// reason.
type startFail struct {
	status  int
	outcome string
	reason  string
}

func (f *startFail) Error() string { return f.reason }

func failf(status int, outcome, format string, args ...any) *startFail {
	return &startFail{status: status, outcome: outcome, reason: fmt.Sprintf(format, args...)}
}

// startAuth checks the query parameters and the API key as the webhook
// does (steps 1, 2, 4 and 5 of inbound, without the signature): the key
// is active, of a project that is not archived, allows the
// twilio_messaging channel and the conversation features; the channel
// provider is a twilio_messaging channel; the stage and agent (the body's
// win over the query's) are the key's project's.
func (h *Handler) startAuth(ctx context.Context, r *http.Request, bodyStage, bodyAgent string) (*startCaller, error) {
	q := r.URL.Query()
	apiKey, providerID := q.Get("apiKey"), q.Get("channelProviderId")
	if apiKey == "" || providerID == "" {
		return nil, failf(http.StatusBadRequest, "bad_request", "apiKey and channelProviderId query parameters are required")
	}
	key, err := h.apiKey(ctx, apiKey)
	if err != nil {
		if transient(err) {
			return nil, err
		}
		return nil, failf(http.StatusUnauthorized, "unauthorized", "invalid or inactive API key")
	}
	if !key.IsActive || key.ProjectID == "" {
		return nil, failf(http.StatusUnauthorized, "unauthorized", "invalid or inactive API key")
	}
	if key.AllowedChannels != nil && !slices.Contains(key.AllowedChannels, store.APITypeTwilioMessaging) {
		return nil, failf(http.StatusForbidden, "forbidden", "API key does not allow the twilio_messaging channel")
	}
	if key.AllowedFeatures != nil && (!slices.Contains(key.AllowedFeatures, "conversation_control") || !slices.Contains(key.AllowedFeatures, "text_input")) {
		return nil, failf(http.StatusForbidden, "forbidden", "API key does not allow conversation_control and text_input")
	}
	proj, err := h.project(ctx, key.ProjectID)
	if err != nil {
		if transient(err) {
			return nil, err
		}
		return nil, failf(http.StatusUnauthorized, "unauthorized", "invalid or inactive API key")
	}
	if proj.Archived() {
		return nil, failf(http.StatusUnprocessableEntity, "project_archived", "the API key's project is archived: it starts no conversations")
	}
	prov, cfg, err := h.channelProvider(ctx, providerID)
	if err != nil {
		if transient(err) {
			return nil, err
		}
		return nil, failf(http.StatusBadRequest, "bad_request", "unknown channel provider or not a twilio_messaging channel")
	}
	c := &startCaller{key: key, prov: prov, cfg: cfg, stageID: q.Get("stageId"), agentID: q.Get("agentId"), clientIP: h.clientIP(r)}
	if bodyStage != "" {
		c.stageID = bodyStage
	}
	if bodyAgent != "" {
		c.agentID = bodyAgent
	}
	if c.stageID == "" {
		// Bonsai falls back to the project's starting stage; Switchboard
		// projects have none, so the stage is required (Bonsai's 422).
		return nil, failf(http.StatusUnprocessableEntity, "bad_request", "stageId is required (query or body): Switchboard projects have no default starting stage")
	}
	if _, err := h.stage(ctx, key.ProjectID, c.stageID); err != nil {
		if transient(err) {
			return nil, err
		}
		return nil, failf(http.StatusBadRequest, "bad_request", "stageId is not a stage of the API key's project")
	}
	if c.agentID != "" {
		if _, err := h.agent(ctx, key.ProjectID, c.agentID); err != nil {
			if transient(err) {
				return nil, err
			}
			return nil, failf(http.StatusBadRequest, "bad_request", "agentId is not an agent of the API key's project")
		}
	}
	return c, nil
}

// ourNumber returns the number a start sends from, which its recipient
// replies to (the To of the replies, so the session key): the given from,
// else the provider's fromNumber. A provider without a fromNumber sends
// through its Messaging Service, which picks a sender only at the send;
// the reply would then reach a number the session does not know, so from
// is required there.
func ourNumber(cfg *providers.TwilioConfig, given string) (string, error) {
	from := given
	switch {
	case from == "" && cfg.FromNumber == "":
		return "", errors.New("from is required: the channel provider sends through a Messaging Service and has no fromNumber (give the service's number the recipient will reply to)")
	case from == "":
		from = cfg.FromNumber
	case cfg.MessagingServiceSID == "" && !sameAddress(from, cfg.FromNumber):
		return "", errors.New("from must be the channel provider's fromNumber (only a Messaging Service sends from other numbers)")
	}
	if isShortCode(from) {
		return from, nil
	}
	a, err := twilio.ParseAddress(from)
	if err != nil {
		return "", fmt.Errorf("from: %s", store.ErrorMessage(err))
	}
	return a.String(), nil
}

func sameAddress(a, b string) bool {
	pa, err1 := twilio.ParseAddress(a)
	pb, err2 := twilio.ParseAddress(b)
	return err1 == nil && err2 == nil && pa == pb
}

func isShortCode(s string) bool {
	if len(s) < 3 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// recipient checks a recipient address against our number's channel and
// returns it in Twilio's spelling.
func recipient(to, from string) (string, error) {
	if to == "" {
		return "", errors.New("to is required")
	}
	a, err := twilio.ParseAddress(to)
	if err != nil {
		return "", fmt.Errorf("to: %s", store.ErrorMessage(err))
	}
	fromWA := strings.HasPrefix(from, "whatsapp:")
	if a.IsWhatsApp() != fromWA {
		if fromWA {
			return "", errors.New("to must be a WhatsApp address (whatsapp:+E.164): the channel provider sends on WhatsApp")
		}
		return "", errors.New("to must be an E.164 number: the channel provider sends SMS, not WhatsApp")
	}
	return a.String(), nil
}

// checkOpening checks a start's text, instruction and metadata.
func checkOpening(text, instruction string, metadata json.RawMessage) error {
	if text != "" && instruction != "" {
		return errors.New("give text (sent as it is) or instruction (for the LLM), not both")
	}
	if len(text) > maxStartText || len(instruction) > maxStartText {
		return fmt.Errorf("text and instruction are limited to %d bytes", maxStartText)
	}
	if text != "" && strings.TrimSpace(text) == "" {
		return errors.New("text is blank")
	}
	if len(metadata) > 0 && string(metadata) != "null" {
		if len(metadata) > maxStartMetadata {
			return fmt.Errorf("metadata is limited to %d bytes", maxStartMetadata)
		}
		var obj map[string]any
		if json.Unmarshal(metadata, &obj) != nil {
			return errors.New("metadata must be a JSON object")
		}
	}
	return nil
}

// startContent is a start's Content template and media, checked.
type startContent struct {
	sid, vars string
	media     []string
}

// checkContent checks a start's contentSid, contentVariables and
// mediaUrls for recipient to, whose opening has a given text or
// instruction when opening is true. The template is checked as the
// stage's metadata.whatsappTemplate is, the media as a reply's images
// are (replyfmt). A template is the whole opening: it goes to WhatsApp
// recipients only (SMS needs no template), and neither with a text or an
// instruction nor with media (Twilio sends the template's own).
func checkContent(sid string, vars json.RawMessage, media []string, to string, opening bool) (startContent, error) {
	var c startContent
	if media != nil {
		if err := replyfmt.CheckMediaURLs(media); err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "[") {
				msg = ": " + msg
			}
			return c, errors.New("mediaUrls" + msg)
		}
		c.media = media
	}
	if sid == "" {
		if len(vars) > 0 && string(vars) != "null" {
			return c, errors.New("contentVariables need a contentSid")
		}
		return c, nil
	}
	if !twilio.ValidContentSID(sid) {
		return c, errors.New(`contentSid must be a Content template SID ("HX" and 32 hex digits)`)
	}
	v, err := twilio.ParseContentVariables(vars)
	if err != nil {
		return c, err
	}
	switch {
	case !strings.HasPrefix(to, "whatsapp:"):
		return c, errors.New("contentSid is for WhatsApp recipients only: an SMS opening is a text")
	case opening:
		return c, errors.New("give contentSid (the template is the opening message) or text/instruction, not both")
	case len(media) > 0:
		return c, errors.New("give contentSid or mediaUrls, not both: Twilio sends a template's own media")
	}
	c.sid, c.vars = sid, v
	return c, nil
}

// idempotencyKey returns the request's key: the body's or the
// Idempotency-Key header's (both, if given, must agree).
func idempotencyKey(r *http.Request, body string) (string, error) {
	hdr := r.Header.Get("Idempotency-Key")
	if hdr != "" && body != "" && hdr != body {
		return "", errors.New("the Idempotency-Key header and idempotencyKey differ")
	}
	k := body
	if k == "" {
		k = hdr
	}
	if len(k) > maxIdempotencyKey {
		return "", fmt.Errorf("idempotencyKey is limited to %d bytes", maxIdempotencyKey)
	}
	for _, c := range k {
		if c < 0x20 || c == 0x7f {
			return "", errors.New("idempotencyKey must be printable")
		}
	}
	return k, nil
}

// decodeStrict reads a JSON body of at most limit bytes into v, refusing
// unknown fields and trailing data.
func decodeStrict(w http.ResponseWriter, r *http.Request, limit int64, v any) *startFail {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
		return failf(http.StatusUnsupportedMediaType, "bad_request", "Content-Type must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return failf(http.StatusRequestEntityTooLarge, "bad_request", "body too large (limit %d KiB)", limit>>10)
		}
		return failf(http.StatusBadRequest, "bad_request", "unreadable body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return failf(http.StatusBadRequest, "bad_request", "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return failf(http.StatusBadRequest, "bad_request", "invalid JSON body: data after the object")
	}
	return nil
}

// send is POST /api/twilio/messaging/send.
func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var body sendBody
	if f := decodeStrict(w, r, MaxStartBodyBytes, &body); f != nil {
		h.startFailed(w, r, f)
		return
	}
	c, err := h.startAuth(ctx, r, body.StageID, body.AgentID)
	if err != nil {
		h.startFailed(w, r, err)
		return
	}
	from, err := ourNumber(c.cfg, body.From)
	if err != nil {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "%s", err.Error()))
		return
	}
	to, err := recipient(body.To, from)
	if err == nil {
		err = checkOpening(body.Text, body.Instruction, body.Metadata)
	}
	var content startContent
	if err == nil {
		content, err = checkContent(body.ContentSID, body.ContentVariables, body.MediaURLs, to, body.Text != "" || body.Instruction != "")
	}
	if err != nil {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "%s", err.Error()))
		return
	}
	key, err := idempotencyKey(r, body.IdempotencyKey)
	if err != nil {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "%s", err.Error()))
		return
	}
	given := key != ""
	if !given {
		key = "auto:" + store.NewID("")
	}
	// A repeated request (same key) answers the first one's start; only a
	// new one is checked against the opt-outs and stored.
	if given {
		old, err := h.opts.Store.StartByKey(ctx, c.key.ProjectID, key)
		if err == nil {
			h.replayStart(w, r, old, c, to)
			return
		}
		if store.ErrorCode(err) != store.ENOTFOUND {
			h.startFailed(w, r, err)
			return
		}
	}
	if out, err := h.opts.Store.IsOptedOut(ctx, c.prov.ID, to); err != nil {
		h.startFailed(w, r, err)
		return
	} else if out {
		h.startFailed(w, r, failf(http.StatusUnprocessableEntity, "opted_out",
			"recipient %s has opted out (replied STOP to this channel provider's number); nothing was sent. They can opt back in by texting START", twilio.MaskNumber(to)))
		return
	}
	s := &store.Start{
		ProjectID: c.key.ProjectID, IdempotencyKey: key, ProviderID: c.prov.ID, To: to, From: from,
		StageID: c.stageID, AgentID: c.agentID, Metadata: nullToEmpty(body.Metadata), Text: body.Text, Instruction: body.Instruction,
		ContentSID: content.sid, ContentVariables: content.vars, MediaURLs: content.media,
	}
	stored, created, err := h.opts.Store.CreateStart(ctx, s)
	if err != nil {
		h.startFailed(w, r, err)
		return
	}
	if !created {
		h.replayStart(w, r, stored, c, to) // a concurrent request with the key won
		return
	}
	stored.CallbackBase = baseOf(twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy))
	if _, err := h.opts.Starter.Start(stored); err != nil {
		// Stored: it runs after the restart. The caller's retry with the
		// same key answers it.
		h.log.Warn("start stored while draining", "start_id", stored.ID, "err", err)
	}
	h.auditStart(ctx, c, store.AuditConversation, stored.ConversationID, map[string]any{
		"startId": stored.ID, "to": to, "from": from, "stageId": c.stageID, "agentId": c.agentID,
		"direction": store.DirectionOutgoing, "idempotencyKey": keyForAudit(key, given), "givenText": body.Text != "",
		"instruction": body.Instruction != "", "contentSid": content.sid, "mediaUrls": len(content.media), "apiKeyId": c.key.ID,
	})
	h.m.start("accepted")
	h.log.Info("conversation start accepted", "start_id", stored.ID, "conversation_id", stored.ConversationID,
		"to", twilio.MaskNumber(to), "provider_id", c.prov.ID, "stage_id", c.stageID)
	writeStartJSON(w, http.StatusCreated, sendAnswer{ConversationID: stored.ConversationID, StartID: stored.ID, State: stored.State})
}

// replayStart answers a request whose idempotency key was used: the first
// request's conversation, if it was the same request.
func (h *Handler) replayStart(w http.ResponseWriter, r *http.Request, old *store.Start, c *startCaller, to string) {
	if old.JobID != "" || old.To != to || old.ProviderID != c.prov.ID || old.StageID != c.stageID {
		h.startFailed(w, r, failf(http.StatusConflict, "idempotency_conflict",
			"idempotencyKey was already used for another request (another recipient, channel provider or stage)"))
		return
	}
	if old.State == store.StartPending {
		// Hand it over again in case the first request's process died
		// between storing and handing over; a start on its way is not
		// handed twice, and a second run finds its conversation.
		if _, err := h.opts.Starter.Start(old); err != nil {
			h.log.Warn("start replay while draining", "start_id", old.ID, "err", err)
		}
	}
	h.m.start("replayed")
	w.Header().Set("Idempotent-Replayed", "true")
	writeStartJSON(w, http.StatusCreated, sendAnswer{ConversationID: old.ConversationID, StartID: old.ID, State: old.State, Error: old.Error})
}

func keyForAudit(key string, given bool) string {
	if given {
		return key
	}
	return ""
}

func nullToEmpty(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}

// auditStart records a start (or a job) in the audit log, as the API
// records the operators' writes; the actor is the API key.
func (h *Handler) auditStart(ctx context.Context, c *startCaller, entityType, entityID string, details map[string]any) {
	if h.opts.Audit == nil {
		return
	}
	b, _ := json.Marshal(details)
	e := &store.AuditEntry{
		Action: store.AuditCreate, EntityType: entityType, EntityID: entityID, ProjectID: c.key.ProjectID,
		UserID: "apiKey:" + c.key.ID, NewEntity: b, ClientIP: c.clientIP,
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.opts.Audit(actx, e); err != nil {
		h.log.Error("audit start", "entity_id", entityID, "err", err)
	}
}

// startFailed answers a refused or failed start request in the API's
// error envelope ({"error": ...}, Bonsai's shape for this route). Refusals
// count against the client's failure budget, as the webhook's do.
func (h *Handler) startFailed(w http.ResponseWriter, r *http.Request, err error) {
	var f *startFail
	if !errors.As(err, &f) {
		switch store.ErrorCode(err) {
		case store.EINVALID:
			f = failf(http.StatusBadRequest, "bad_request", "%s", store.ErrorMessage(err))
		case store.ENOTFOUND:
			f = failf(http.StatusNotFound, "not_found", "%s", store.ErrorMessage(err))
		default:
			h.log.Error("start request failed", "path", r.URL.Path, "err", err)
			h.m.start("unavailable")
			w.Header().Set("Retry-After", "1")
			writeStartJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable"})
			return
		}
	}
	key := limitKey(h.clientIP(r))
	if !h.fails.allow(key) {
		h.m.start("rate_limited")
		w.Header().Set("Retry-After", "1")
		writeStartJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many rejected requests"})
		return
	}
	h.fails.fail(key)
	h.m.start(f.outcome)
	h.log.Warn("start request refused", "status", f.status, "outcome", f.outcome, "reason", f.reason, "client_ip", h.clientIP(r))
	writeStartJSON(w, f.status, map[string]string{"error": f.reason})
}

func writeStartJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// atoiDefault parses a non-negative integer query value, def when empty.
func atoiDefault(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("must be an integer from 0 to %d", max)
	}
	return n, nil
}
