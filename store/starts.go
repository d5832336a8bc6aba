package store

import (
	"context"
	"encoding/json"
	"time"
)

// A Start is a request to start a conversation with a recipient (POST
// /api/twilio/messaging/send, or one recipient of a bulk job): the
// business texts first. It is stored before the request is answered, so a
// start survives a restart, and it names its conversation before the
// conversation exists, so the answer can carry the id and a second run of
// the same start finds the conversation instead of creating another.
type Start struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	// IdempotencyKey is unique per project: the caller's key, or one the
	// server made up (a request without a key, a job's recipients).
	IdempotencyKey string `json:"idempotencyKey"`
	JobID          string `json:"jobId,omitempty"`
	// Seq orders a job's recipients (their index in the request).
	Seq        int    `json:"seq"`
	ProviderID string `json:"channelProviderId"`
	// To is the recipient and From our number, as Twilio spells them: the
	// session key of the conversation is (project, provider, From, To).
	To             string          `json:"to"`
	From           string          `json:"from"`
	StageID        string          `json:"stageId"`
	AgentID        string          `json:"agentId,omitempty"`
	ConversationID string          `json:"conversationId"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	// Text, when set, is the opening message, sent as it is (no LLM).
	Text string `json:"text,omitempty"`
	// Instruction, when set, is added to the stage's prompt for the
	// opening message only.
	Instruction string `json:"instruction,omitempty"`
	// ContentSID, when set, opens the conversation with that Content
	// template (ContentVariables, a compact JSON object, fills it in)
	// instead of a text: the request's choice, ahead of the stage's
	// metadata.whatsappTemplate.
	ContentSID       string `json:"contentSid,omitempty"`
	ContentVariables string `json:"contentVariables,omitempty"`
	// MediaURLs ride the opening message's first part (MMS, WhatsApp
	// media).
	MediaURLs []string `json:"mediaUrls,omitempty"`
	// CallbackBase is the public scheme://host the request reached, for
	// status callbacks when PUBLIC_BASE_URL is not set.
	CallbackBase string    `json:"-"`
	State        string    `json:"state"`
	Error        string    `json:"error,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Key returns the session key of the conversation s starts.
func (s *Start) Key() SessionKey {
	return SessionKey{ProjectID: s.ProjectID, ChannelProviderID: s.ProviderID, To: s.From, From: s.To}
}

// Start states. A start leaves pending once, for one of the others.
const (
	StartPending  = "pending"   // stored, its opening turn not yet committed
	StartStarted  = "started"   // the conversation and its opening message are committed
	StartOptedOut = "opted_out" // the recipient had opted out (STOP) when its turn ran
	StartFailed   = "failed"    // no conversation (Error says why)
)

// A StartJob is a bulk start: many recipients, one request, worked
// through at the pace of the send rate limits. Its recipients are Starts
// with its ID.
type StartJob struct {
	ID             string    `json:"jobId"`
	ProjectID      string    `json:"projectId"`
	ProviderID     string    `json:"channelProviderId"`
	IdempotencyKey string    `json:"idempotencyKey"`
	Total          int       `json:"total"`
	CreatedAt      time.Time `json:"createdAt"`
	// Counts is how many of its starts are in each state (read only).
	Counts map[string]int `json:"counts"`
}

// Done reports whether every recipient of j has its outcome.
func (j *StartJob) Done() bool { return j.Counts[StartPending] == 0 }

// Prefixes of start and job ids.
const (
	PrefixStart    = "cst_"
	PrefixStartJob = "job_"
)

// StartStore keeps starts and jobs; both stores implement it (see Store).
type StartStore interface {
	// CreateStart stores s as pending (setting its ID, State and times)
	// unless the project already has a start with s.IdempotencyKey; then
	// it returns that start and created false. Concurrent calls with one
	// key store one start.
	CreateStart(ctx context.Context, s *Start) (stored *Start, created bool, err error)
	// StartByKey returns a project's start by its idempotency key, else
	// ENOTFOUND.
	StartByKey(ctx context.Context, projectID, key string) (*Start, error)
	// GetStart returns a start by id, else ENOTFOUND.
	GetStart(ctx context.Context, id string) (*Start, error)
	// FinishStart moves a pending start to state (with errMsg); a start
	// that is no longer pending is left alone. It reports whether it moved.
	FinishStart(ctx context.Context, id, state, errMsg string) (bool, error)
	// PendingStarts returns every pending start, oldest first (a job's
	// in Seq order).
	PendingStarts(ctx context.Context) ([]*Start, error)
	// CreateStartJob stores j and its starts (their JobID, Seq, ids and
	// states set here) in one transaction, unless the project already has
	// a job with j.IdempotencyKey; then it returns that job and created
	// false.
	CreateStartJob(ctx context.Context, j *StartJob, starts []*Start) (stored *StartJob, created bool, err error)
	// GetStartJob returns a project's job with its counts, else ENOTFOUND.
	GetStartJob(ctx context.Context, projectID, id string) (*StartJob, error)
	// JobStarts returns a page of a job's starts in Seq order.
	JobStarts(ctx context.Context, jobID string, offset, limit int) ([]*Start, error)
}
