package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// status is POST /api/twilio/messaging/status, Twilio's StatusCallback.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	providerID := r.URL.Query().Get("channelProviderId")
	if providerID == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "channelProviderId query parameter is required")
		return
	}
	prov, cfg, err := h.channelProvider(ctx, providerID)
	if err != nil {
		if transient(err) {
			h.unavailable(w, err)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown channel provider")
		return
	}
	form, err := parseForm(w, r)
	if err != nil {
		h.reject(w, r, formStatus(err), "bad_request", err.Error())
		return
	}
	publicURL := twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy)
	if sig := r.Header.Get("X-Twilio-Signature"); sig == "" || !twilio.ValidSignature(cfg.AuthToken, publicURL, form, sig) {
		h.signatureFailure(prov.ID, "status_callback")
		h.log.Warn("status callback signature invalid", "url", redactURL(publicURL), "provider_id", prov.ID)
		h.reject(w, r, http.StatusForbidden, "bad_signature", "invalid X-Twilio-Signature")
		return
	}
	sid, st := form.Get("MessageSid"), strings.ToLower(form.Get("MessageStatus"))
	if sid == "" || st == "" {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "MessageSid and MessageStatus are required")
		return
	}
	if !knownStatuses[st] {
		h.reject(w, r, http.StatusBadRequest, "bad_request", "unknown MessageStatus")
		return
	}
	// ref, which Switchboard puts in every StatusCallback URL it sends
	// (signed with the rest of the URL), names the outbox row; a callback
	// without one (a message sent before ref existed) is found by its SID.
	var ref int64
	if v := r.URL.Query().Get("ref"); v != "" {
		if ref, err = strconv.ParseInt(v, 10, 64); err != nil || ref <= 0 {
			h.reject(w, r, http.StatusBadRequest, "bad_request", "ref must be a positive integer")
			return
		}
	}
	code := 0
	if c := form.Get("ErrorCode"); c != "" {
		code, err = strconv.Atoi(c)
		if err != nil {
			h.reject(w, r, http.StatusBadRequest, "bad_request", "ErrorCode must be an integer")
			return
		}
	}
	// The send's SID is stored lazily, a few milliseconds after Twilio
	// accepted it; a very fast callback waits for it once: for the engine's
	// queued result, or a moment for a send answered but not yet handed
	// to the engine. A SID still unknown then is not ours, already pruned,
	// or another provider's (the callback only reaches messages of the
	// provider whose token signed it): it is acknowledged, so Twilio stops
	// retrying, and changes nothing.
	d := store.DeliveryUpdate{ProviderID: prov.ID, TwilioSID: sid, Status: st, ErrorCode: code, OutboundID: ref}
	found, err := h.opts.Engine.RecordDeliveryStatus(ctx, d)
	if err == nil && !found {
		if !h.opts.Engine.AwaitSendResult(ctx, prov.ID, sid) {
			select {
			case <-time.After(unknownSIDGrace):
			case <-ctx.Done():
				return
			}
			h.opts.Engine.AwaitSendResult(ctx, prov.ID, sid)
		}
		found, err = h.opts.Engine.RecordDeliveryStatus(ctx, d)
		if err == nil && !found {
			h.log.Debug("status callback for an unknown message", "message_sid", sid, "provider_id", prov.ID)
		}
	}
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if code == twilio.CodeWhatsAppWindow && found {
		h.log.Warn("delivery failed: "+twilio.WindowClosedReason, "message_sid", sid, "provider_id", prov.ID, "error_code", code)
	}
	h.m.deliveryStatus(st)
	w.WriteHeader(http.StatusNoContent)
}

// unknownSIDGrace is how long a status callback for a SID the engine does
// not know yet waits before its last try.
const unknownSIDGrace = 50 * time.Millisecond

// knownStatuses are the MessageStatus values Twilio documents for a
// message (the Message resource's status enum in Twilio's OpenAPI
// description of the 2010-04-01 API, which twilio-go is generated from).
// Anything else is refused, so a forged or garbled value never reaches the
// store.
var knownStatuses = map[string]bool{
	"accepted": true, "scheduled": true, "queued": true, "sending": true, "sent": true,
	"delivered": true, "undelivered": true, "failed": true, "read": true, "canceled": true,
	"receiving": true, "received": true, "partially_delivered": true,
}
