package webhook

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// bulkBody is the body of POST /api/twilio/messaging/send/bulk: the
// recipients, and what they share (each may override metadata, text and
// instruction, the template and its variables, and the media).
type bulkBody struct {
	Recipients []bulkRecipient `json:"recipients"`
	StageID    string          `json:"stageId"`
	AgentID    string          `json:"agentId"`
	opening
	IdempotencyKey string `json:"idempotencyKey"`
	From           string `json:"from"`
}

// bulkRecipient is one recipient of a bulk job. Its contentSid replaces
// the job's template (with this recipient's contentVariables);
// contentVariables alone fill in the job's template for this recipient;
// mediaUrls, metadata, text and instruction replace the job's.
type bulkRecipient struct {
	To string `json:"to"`
	opening
}

// jobAnswer is a job's progress: its counts by state and a page of its
// recipients' outcomes, in request order.
type jobAnswer struct {
	JobID      string            `json:"jobId"`
	State      string            `json:"state"` // running or done
	Total      int               `json:"total"`
	Counts     map[string]int    `json:"counts"`
	CreatedAt  string            `json:"createdAt"`
	Recipients []jobRecipient    `json:"recipients,omitempty"`
	Offset     int               `json:"offset"`
	Limit      int               `json:"limit"`
	Links      map[string]string `json:"links,omitempty"`
}

type jobRecipient struct {
	Index          int    `json:"index"`
	To             string `json:"to"`
	State          string `json:"state"`
	ConversationID string `json:"conversationId,omitempty"`
	Error          string `json:"error,omitempty"`
}

// jobPath is where a job's progress is read (with the apiKey).
func jobPath(id string) string { return "/api/twilio/messaging/send/jobs/" + id }

// bulk is POST /api/twilio/messaging/send/bulk: the job is stored with its
// recipients before the answer (202), and worked through at the send rate.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var body bulkBody
	if f := decodeStrict(w, r, MaxBulkBodyBytes, &body); f != nil {
		h.startFailed(w, r, f)
		return
	}
	c, err := h.startAuth(ctx, r, body.StageID, body.AgentID)
	if err != nil {
		h.startFailed(w, r, err)
		return
	}
	bad := func(format string, args ...any) {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", format, args...))
	}
	from, err := ourNumber(c.cfg, body.From)
	if err != nil {
		bad("%s", err.Error())
		return
	}
	switch n := len(body.Recipients); {
	case n == 0:
		bad("recipients is required (1 to %d)", MaxBulkRecipients)
		return
	case n > MaxBulkRecipients:
		bad("too many recipients: %d (at most %d per job)", n, MaxBulkRecipients)
		return
	}
	if err := checkOpening(body.Text, body.Instruction, body.Metadata); err != nil {
		bad("%s", err.Error())
		return
	}
	key, err := idempotencyKey(r, body.IdempotencyKey)
	if err != nil {
		bad("%s", err.Error())
		return
	}
	given := key != ""
	if !given {
		key = "auto:" + store.NewID("")
	}
	starts := make([]*store.Start, len(body.Recipients))
	seen := make(map[string]int, len(body.Recipients))
	for i, rc := range body.Recipients {
		to, err := recipient(rc.To, from)
		if err == nil {
			text, instr := rc.Text, rc.Instruction
			if text == "" && instr == "" {
				text, instr = body.Text, body.Instruction
			}
			md := rc.Metadata
			if len(md) == 0 || string(md) == "null" {
				md = body.Metadata
			}
			sid, vars := rc.ContentSID, rc.ContentVariables
			if sid == "" {
				sid = body.ContentSID
				if len(vars) == 0 || string(vars) == "null" {
					vars = body.ContentVariables
				}
			}
			media := rc.MediaURLs
			if media == nil {
				media = body.MediaURLs
			}
			var content startContent
			if err = checkOpening(text, instr, md); err == nil {
				content, err = checkContent(sid, vars, media, to, text != "" || instr != "")
			}
			if err == nil {
				starts[i] = &store.Start{ProviderID: c.prov.ID, To: to, From: from, StageID: c.stageID, AgentID: c.agentID,
					Metadata: nullToEmpty(md), Text: text, Instruction: instr,
					ContentSID: content.sid, ContentVariables: content.vars, MediaURLs: content.media}
			}
		}
		if err != nil {
			bad("recipients[%d]: %s", i, err.Error())
			return
		}
		if j, dup := seen[to]; dup {
			bad("recipients[%d]: %s is also recipients[%d]", i, twilio.MaskNumber(to), j)
			return
		}
		seen[to] = i
	}
	job := &store.StartJob{ProjectID: c.key.ProjectID, ProviderID: c.prov.ID, IdempotencyKey: key}
	stored, created, err := h.opts.Store.CreateStartJob(ctx, job, starts)
	if err != nil {
		h.startFailed(w, r, err)
		return
	}
	if !created {
		h.m.start("replayed")
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		base := baseOf(twilio.PublicURL(r, h.opts.PublicBaseURL, h.opts.TrustProxy))
		for _, s := range starts {
			s.CallbackBase = base
		}
		h.opts.Starter.RunJob(starts)
		h.auditStart(ctx, c, store.AuditStartJob, stored.ID, map[string]any{
			"total": stored.Total, "from": from, "stageId": c.stageID, "agentId": c.agentID,
			"idempotencyKey": keyForAudit(key, given), "apiKeyId": c.key.ID,
		})
		h.m.start("job_accepted")
		h.m.jobRecipients(len(starts))
		h.log.Info("conversation start job accepted", "job_id", stored.ID, "recipients", len(starts), "provider_id", c.prov.ID)
	}
	w.Header().Set("Location", jobPath(stored.ID))
	writeStartJSON(w, http.StatusAccepted, jobView(stored, nil, 0, 0))
}

// job is GET /api/twilio/messaging/send/jobs/{jobId}?apiKey=…[&offset][&limit]:
// the job's counts and a page of its recipients (default the first 100).
func (h *Handler) job(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.startFailed(w, r, failf(http.StatusMethodNotAllowed, "bad_request", "method %s not allowed", r.Method))
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	apiKey := q.Get("apiKey")
	if apiKey == "" {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "apiKey query parameter is required"))
		return
	}
	offset, err := atoiDefault(q.Get("offset"), 0, MaxBulkRecipients)
	if err != nil {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "offset %s", err.Error()))
		return
	}
	limit, err := atoiDefault(q.Get("limit"), 100, MaxBulkRecipients)
	if err != nil || limit == 0 {
		h.startFailed(w, r, failf(http.StatusBadRequest, "bad_request", "limit must be an integer from 1 to %d", MaxBulkRecipients))
		return
	}
	key, err := h.apiKey(ctx, apiKey)
	if err != nil && transient(err) {
		h.startFailed(w, r, err)
		return
	}
	if err != nil || !key.IsActive || key.ProjectID == "" {
		h.startFailed(w, r, failf(http.StatusUnauthorized, "unauthorized", "invalid or inactive API key"))
		return
	}
	id := mux.Vars(r)["jobId"]
	j, err := h.opts.Store.GetStartJob(ctx, key.ProjectID, id)
	if err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			// Another project's job is as unknown as a missing one.
			h.startFailed(w, r, failf(http.StatusNotFound, "not_found", "job %s not found", id))
			return
		}
		h.startFailed(w, r, err)
		return
	}
	starts, err := h.opts.Store.JobStarts(ctx, j.ID, offset, limit)
	if err != nil {
		h.startFailed(w, r, err)
		return
	}
	writeStartJSON(w, http.StatusOK, jobView(j, starts, offset, limit))
}

func jobView(j *store.StartJob, starts []*store.Start, offset, limit int) jobAnswer {
	a := jobAnswer{JobID: j.ID, State: "running", Total: j.Total, Counts: j.Counts, Offset: offset, Limit: limit,
		CreatedAt: j.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")}
	if j.Done() {
		a.State = "done"
	}
	for _, s := range starts {
		rc := jobRecipient{Index: s.Seq, To: s.To, State: s.State, Error: s.Error}
		if s.State == store.StartStarted || s.State == store.StartPending {
			rc.ConversationID = s.ConversationID
		}
		a.Recipients = append(a.Recipients, rc)
	}
	if starts != nil && offset+len(starts) < j.Total {
		a.Links = map[string]string{"next": fmt.Sprintf("%s?offset=%d&limit=%d", jobPath(j.ID), offset+len(starts), limit)}
	}
	return a
}

// startRoute refuses another method than POST before next parses
// anything.
func (h *Handler) startRoute(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			h.startFailed(w, r, failf(http.StatusMethodNotAllowed, "bad_request", "method %s not allowed", r.Method))
			return
		}
		if h.opts.Starter == nil {
			h.startFailed(w, r, failf(http.StatusNotFound, "not_found", "conversation starts are not enabled"))
			return
		}
		next(w, r)
	}
}
