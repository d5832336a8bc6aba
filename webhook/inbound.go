package webhook

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// inbound is POST /api/twilio/messaging/webhook.
func (h *Handler) inbound(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	q := r.URL.Query()
	apiKey, stageID, providerID, agentID := q.Get("apiKey"), q.Get("stageId"), q.Get("channelProviderId"), q.Get("agentId")

	// 1. Query parameters.
	if apiKey == "" || stageID == "" || providerID == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "apiKey, stageId and channelProviderId query parameters are required")
		return
	}
	// 2. Channel provider.
	prov, cfg, err := h.channelProvider(ctx, providerID)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown channel provider or not a twilio_messaging channel")
		return
	}
	form, err := parseForm(w, r)
	if err != nil {
		h.reject(w, r, formStatus(err), "bad_request", err.Error())
		return
	}
	// 3. Signature, before the API key: no oracle for key validity.
	publicURL := twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy)
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		h.signatureFailure(prov.ID, "missing")
		h.log.Warn("webhook signature missing", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "missing X-Twilio-Signature")
		return
	}
	if !twilio.ValidSignature(cfg.AuthToken, publicURL, form, sig) {
		h.signatureFailure(prov.ID, "mismatch")
		h.log.Warn("webhook signature mismatch", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "invalid X-Twilio-Signature")
		return
	}
	// 4. API key.
	key, err := h.apiKey(ctx, apiKey)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusUnauthorized, "unauthorized", "invalid API key")
		return
	}
	if !key.IsActive || key.ProjectID == "" {
		h.reject(w, r, http.StatusUnauthorized, "unauthorized", "invalid API key")
		return
	}
	if key.AllowedChannels != nil && !slices.Contains(key.AllowedChannels, store.APITypeTwilioMessaging) {
		h.reject(w, r, http.StatusForbidden, "forbidden", "API key does not allow the twilio_messaging channel")
		return
	}
	if key.AllowedFeatures != nil && (!slices.Contains(key.AllowedFeatures, "conversation_control") || !slices.Contains(key.AllowedFeatures, "text_input")) {
		h.reject(w, r, http.StatusForbidden, "forbidden", "API key does not allow conversation_control and text_input")
		return
	}
	// An archived project takes no traffic, as in Bonsai (which cannot
	// start or continue a conversation in one): the message is answered
	// 200, so that Twilio does not retry it, and dropped — not stored, no
	// reply.
	proj, err := h.project(ctx, key.ProjectID)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusUnauthorized, "unauthorized", "invalid API key")
		return
	}
	if proj.Archived() {
		h.m.webhook("project_archived")
		h.log.Debug("webhook dropped: project archived", "project_id", proj.ID, "provider_id", prov.ID)
		twiml(w)
		return
	}
	// 5. Stage (and agent) in the key's project.
	if _, err := h.stage(ctx, key.ProjectID, stageID); err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "stageId is not a stage of the API key's project")
		return
	}
	if agentID != "" {
		if _, err := h.agent(ctx, key.ProjectID, agentID); err != nil {
			if transient(err) {
				h.unavailable(w, err)
				return
			}
			h.reject(w, r, http.StatusBadRequest, "bad_request", "agentId is not an agent of the API key's project")
			return
		}
	}
	// 6. Message content.
	m, reason := inboundFromForm(form)
	if reason != "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", reason)
		return
	}
	m.ProviderID, m.ProjectID, m.StageID, m.AgentID = prov.ID, key.ProjectID, stageID, agentID
	m.IdempotencyToken = r.Header.Get("I-Twilio-Idempotency-Token")
	m.CallbackBase = baseOf(publicURL)
	if m.To == "" {
		m.To = cfg.FromNumber
	}
	// 7 and 8. Commit (dedupe is atomic in the store), hand to the session.
	res, err := h.opts.Engine.Accept(ctx, m)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if res.Duplicate {
		h.m.webhook("duplicate")
		h.log.Debug("webhook duplicate", "message_sid", m.MessageSID, "from", twilio.MaskNumber(m.From))
		twiml(w)
		return
	}
	h.m.webhook("accepted")
	h.m.ack(time.Since(start))
	h.log.Debug("webhook accepted", "message_sid", m.MessageSID, "from", twilio.MaskNumber(m.From),
		"provider_id", prov.ID, "stage_id", stageID)
	twiml(w)
}

// inboundFromForm builds the message from Twilio's parameters, or says
// what is wrong with them.
func inboundFromForm(f url.Values) (*store.InboundMessage, string) {
	m := &store.InboundMessage{
		MessageSID:  f.Get("MessageSid"),
		From:        f.Get("From"),
		To:          f.Get("To"),
		Body:        f.Get("Body"),
		ProfileName: f.Get("ProfileName"),
	}
	if m.MessageSID == "" {
		m.MessageSID = f.Get("SmsMessageSid")
	}
	if m.MessageSID == "" {
		return nil, "MessageSid is required"
	}
	if len(m.MessageSID) > 64 {
		return nil, "MessageSid is too long"
	}
	if m.From == "" {
		return nil, "From is required"
	}
	if len(m.From) > 64 || len(m.To) > 64 {
		return nil, "From or To is too long"
	}
	// The addresses become the conversation's key, its user id and the
	// reply's recipient: only the forms Twilio sends, in one spelling.
	from, to, err := twilio.ParseInbound(m.From, m.To)
	if err != nil {
		return nil, store.ErrorMessage(err)
	}
	m.From, m.To = canonical(m.From, from), canonical(m.To, to)
	if n := f.Get("NumMedia"); n != "" {
		num, err := strconv.Atoi(n)
		if err != nil || num < 0 || num > 20 {
			return nil, "NumMedia must be an integer between 0 and 20"
		}
		for i := 0; i < num; i++ {
			u := f.Get("MediaUrl" + strconv.Itoa(i))
			if u == "" {
				return nil, "MediaUrl" + strconv.Itoa(i) + " is missing"
			}
			m.MediaURLs = append(m.MediaURLs, u)
		}
	}
	if m.Body == "" && len(m.MediaURLs) == 0 {
		return nil, "Body or media is required"
	}
	return m, ""
}

// canonical returns s, the address a was parsed from, in Twilio's own
// spelling ("WhatsApp:+1…" becomes "whatsapp:+1…"), allocating only when
// it differs.
func canonical(s string, a twilio.Address) string {
	if a.IsWhatsApp() && !strings.HasPrefix(s, "whatsapp:") {
		return a.String()
	}
	return s
}
