// Package store holds Switchboard's domain records and the Store interface
// that persists them. It imports only the standard library; store/sqlite and
// store/postgres implement Store, and store/storetest is the conformance
// suite both pass.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// ID prefixes of the resources.
const (
	PrefixProject      = "proj_"
	PrefixAgent        = "agnt_"
	PrefixStage        = "stag_"
	PrefixProvider     = "prov_"
	PrefixAPIKey       = "akey_"
	PrefixConversation = "conv_"
	PrefixOperator     = "oper_"
)

// NewID returns prefix followed by 24 hex digits: 48 bits of the current
// time in milliseconds, then 48 random bits. Time-ordered IDs keep the rows
// and index entries of recent records (active conversations, their events
// and outbox rows) on a few B-tree pages instead of scattering every write
// over the whole index, which is most of a commit's cost.
func NewID(prefix string) string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return prefix + hex.EncodeToString(b[:])
}

// HashKey returns the stored form of a secret token or API key value:
// its hex SHA-256. Keys and tokens are looked up by this hash and never
// stored in clear.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Meta is the bookkeeping every resource carries. Version starts at 1 and
// grows by one on every update; updates and deletes name the version they
// expect and fail with ECONFLICT on a mismatch.
type Meta struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"version"`
}

// Operator is a person who manages Switchboard through the API.
type Operator struct {
	Meta
	Name         string   `json:"name"`
	PasswordHash string   `json:"-"`
	Roles        []string `json:"roles"`
	IsActive     bool     `json:"isActive"`
}

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Token is an operator's bearer token. Only the SHA-256 hash of the token
// value is stored.
type Token struct {
	Hash       string
	OperatorID string
	Kind       string
	// Session names the login the token belongs to (the hash of that
	// login's refresh token): a password change through the profile ends
	// every session but the caller's, and logout ends the caller's whole
	// session. Empty for tokens stored before sessions existed.
	Session   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Provider types and API types.
const (
	ProviderTypeLLM     = "llm"
	ProviderTypeChannel = "channel"

	APITypeTwilioMessaging = "twilio_messaging"
	APITypeOpenAI          = "openai" // OpenAI's Responses API
	APITypeOpenAILegacy    = "openai-legacy"
	APITypeAnthropic       = "anthropic"
	APITypeGemini          = "gemini"
	APITypeGroq            = "groq"
	APITypeMistral         = "mistral"
	APITypeDeepSeek        = "deepseek"
	APITypeOpenRouter      = "openrouter"
	APITypeTogetherAI      = "together-ai"
	APITypeFireworksAI     = "fireworks-ai"
	APITypePerplexity      = "perplexity"
	APITypeCohere          = "cohere"
	APITypeXAI             = "xai"
	APITypeOllama          = "ollama"
	APITypeScripted        = "scripted"
)

// Provider is a configured external service: an LLM or a channel (Twilio).
// Config is the apiType-specific JSON, validated by package providers.
type Provider struct {
	Meta
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	ProviderType string          `json:"providerType"`
	APIType      string          `json:"apiType"`
	Config       json.RawMessage `json:"config"`
	Tags         []string        `json:"tags"`
}

// Project groups agents, stages, API keys and conversations.
//
// Timezone is the IANA zone (e.g. "Europe/Warsaw") of the time a stage
// prompt sees; nil means UTC, as in Bonsai. ArchivedAt and ArchivedBy (the
// operator who archived it) are both set while the project is archived and
// both nil otherwise; Bonsai's shape, where they read null when unset.
// CostManagementConfig is Bonsai's project-level token caps (costs.go), as
// checked and normalised by ParseCostManagementConfig; nil (null) for none.
type Project struct {
	Meta
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Timezone             *string         `json:"timezone"`
	ArchivedAt           *time.Time      `json:"archivedAt"`
	ArchivedBy           *string         `json:"archivedBy"`
	CostManagementConfig json.RawMessage `json:"costManagementConfig"`
}

// Archived reports whether the project is archived.
func (p *Project) Archived() bool { return p.ArchivedAt != nil }

// Location returns the project's timezone, UTC when it has none or its
// zone cannot be loaded (a zone the tz database has since dropped).
func (p *Project) Location() *time.Location {
	if p.Timezone == nil {
		return time.UTC
	}
	loc, err := LoadTimezone(*p.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// LoadTimezone loads an IANA zone name such as "Europe/Warsaw" or "UTC".
// Only the tz database's own names are accepted: they start with an
// upper-case letter and hold letters, digits, "/", "_", "+" and "-"
// ("Etc/GMT+5"). That leaves out what time.LoadLocation would also load
// but is not a zone name: "Local" (the server's own zone), file paths, and
// the lower-case files of a zoneinfo directory (localtime, posixrules,
// right/…). The error is EINVALID, naming the field "timezone".
func LoadTimezone(name string) (*time.Location, error) {
	bad := func(why string) error {
		return FieldError("timezone", "must be an IANA timezone name such as Europe/Warsaw or UTC; %q %s", name, why)
	}
	if name == "" || len(name) > 64 {
		return nil, bad("is empty or too long")
	}
	if name[0] < 'A' || name[0] > 'Z' || name == "Local" {
		return nil, bad("is not one")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+-", c)) {
			return nil, bad("is not one")
		}
	}
	if strings.Contains(name, "//") || strings.HasSuffix(name, "/") {
		return nil, bad("is not one")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, bad("is not in the tz database")
	}
	return loc, nil
}

// Agent is a persona that a stage (or a webhook's agentId) can give the AI.
type Agent struct {
	Meta
	ProjectID   string `json:"projectId"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Prompt      string `json:"prompt"`
}

// Enter behaviours of a stage.
const (
	EnterAwaitUserInput   = "await_user_input"
	EnterGenerateResponse = "generate_response"
)

// LLMSettings are a stage's model parameters. Timeout is in milliseconds.
// MaxInputTokens is the estimated input budget of a call (system prompt,
// history and new text; Bonsai's maxInputTokens cap): the oldest history is
// dropped to fit; nil means the engine's default.
type LLMSettings struct {
	Model              string   `json:"model"`
	DefaultTemperature *float64 `json:"defaultTemperature,omitempty"`
	DefaultMaxTokens   *int     `json:"defaultMaxTokens,omitempty"`
	Timeout            *int     `json:"timeout,omitempty"`
	MaxInputTokens     *int     `json:"maxInputTokens,omitempty"`
}

// Stage is an LLM-backed prompt a conversation runs on.
type Stage struct {
	Meta
	ProjectID     string          `json:"projectId"`
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Prompt        string          `json:"prompt"`
	LLMProviderID string          `json:"llmProviderId"`
	LLMSettings   LLMSettings     `json:"llmSettings"`
	AgentID       string          `json:"agentId,omitempty"`
	EnterBehavior string          `json:"enterBehavior"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// APIKey authorises webhook traffic for a project. Only KeyHash (SHA-256 of
// the key value) is stored. A nil AllowedChannels or AllowedFeatures means
// "all allowed".
type APIKey struct {
	Meta
	ProjectID       string          `json:"projectId"`
	Name            string          `json:"name"`
	KeyHash         string          `json:"-"`
	KeyPreview      string          `json:"keyPreview"`
	IsActive        bool            `json:"isActive"`
	AllowedChannels []string        `json:"allowedChannels"`
	AllowedFeatures []string        `json:"allowedFeatures"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
	LastUsedAt      *time.Time      `json:"lastUsedAt,omitempty"`
}

// Conversation statuses.
const (
	ConversationActive   = "active"
	ConversationFinished = "finished"
)

// Conversation directions (Bonsai's values).
const (
	DirectionIncoming = "incoming" // started by the user's text
	DirectionOutgoing = "outgoing" // started by the business (POST /api/twilio/messaging/send)
)

// Conversation is one run of a stage with one user on one channel.
// UserID is the sender address as Twilio gives it; ChannelAddress is the
// number the user texted (the inbound To). Deadline is when it ends if no
// inbound message arrives before; it survives restarts.
type Conversation struct {
	Meta
	ProjectID         string `json:"projectId"`
	StageID           string `json:"stageId"`
	AgentID           string `json:"agentId,omitempty"`
	UserID            string `json:"userId"`
	ChannelProviderID string `json:"channelProviderId"`
	ChannelAddress    string `json:"-"`
	// Direction is who started the conversation: DirectionIncoming (the
	// user's text) or DirectionOutgoing (the API's start request), as in
	// Bonsai. "" is stored as incoming.
	Direction     string          `json:"direction"`
	Status        string          `json:"status"`
	StatusDetails json.RawMessage `json:"statusDetails,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Deadline      time.Time       `json:"deadline"`
}

// DirectionOf returns c's direction as stored: "" is incoming.
func DirectionOf(c *Conversation) string {
	if c.Direction == "" {
		return DirectionIncoming
	}
	return c.Direction
}

// Key returns the session key of c.
func (c *Conversation) Key() SessionKey {
	return SessionKey{ProjectID: c.ProjectID, ChannelProviderID: c.ChannelProviderID, To: c.ChannelAddress, From: c.UserID}
}

// Conversation event types.
const (
	EventMessage           = "message"
	EventConversationStart = "conversation_start"
	EventConversationEnd   = "conversation_end"
	EventError             = "error"
	EventDelivery          = "delivery"
	EventOptOut            = "opt_out"
	EventOptIn             = "opt_in"
)

// Event is an entry in a conversation's history. Seq orders the events of
// one conversation.
type Event struct {
	ID             int64           `json:"id"`
	ConversationID string          `json:"conversationId"`
	EventType      string          `json:"eventType"`
	EventData      json.RawMessage `json:"eventData"`
	CreatedAt      time.Time       `json:"createdAt"`
}

// MessageData is the EventData of an EventMessage event.
type MessageData struct {
	Role     string   `json:"role"` // "user" or "assistant"
	Text     string   `json:"text"`
	MediaURL []string `json:"mediaUrls,omitempty"`
}

// SessionKey identifies one sender's session: a sender texting two numbers
// has two independent sessions.
type SessionKey struct {
	ProjectID         string
	ChannelProviderID string
	To                string // our number, as Twilio gives it
	From              string // the sender, as Twilio gives it
}

// Inbound message states.
const (
	InboundPending = "pending" // committed, its turn not yet done
	InboundDone    = "done"    // its turn is complete
)

// InboundMessage is a committed webhook delivery. ID orders messages by
// commit; a pending message gets exactly one turn, across restarts.
type InboundMessage struct {
	ID               int64
	ProviderID       string
	MessageSID       string
	IdempotencyToken string
	ProjectID        string
	StageID          string
	AgentID          string
	From             string
	To               string
	Body             string
	MediaURLs        []string
	ProfileName      string
	ReceivedAt       time.Time
	State            string
	ConversationID   string

	// CallbackBase is the public scheme://host the webhook was reached at,
	// used to build status-callback URLs. It is not stored.
	CallbackBase string
	// Start, when set, makes this no text but a start request handed to
	// the recipient's session (From is the recipient, To our number), so
	// that its opening turn is ordered with the recipient's texts. It is
	// never stored as an inbound message (the start has its own row).
	Start *Start
}

// Key returns the session key of m.
func (m *InboundMessage) Key() SessionKey {
	return SessionKey{ProjectID: m.ProjectID, ChannelProviderID: m.ProviderID, To: m.To, From: m.From}
}

// Outbox states.
const (
	OutboxPending = "pending" // written, not yet accepted by Twilio
	OutboxSent    = "sent"    // Twilio accepted it (has a SID)
	OutboxFailed  = "failed"  // permanently failed or retries exhausted
	OutboxSkipped = "skipped" // not attempted (recipient opted out)
)

// OutboundMessage is one part of a reply in the outbox. Parts of one
// conversation are sent in ID order.
type OutboundMessage struct {
	ID             int64  `json:"id"`
	ProjectID      string `json:"-"`
	ConversationID string `json:"conversationId"`
	ProviderID     string `json:"-"`
	From           string `json:"from"`
	To             string `json:"to"`
	Body           string `json:"body"`
	// MediaURLs are sent with the part as MMS or WhatsApp media (Twilio's
	// MediaUrl, at most 10): the images of the reply (replyfmt.ExtractMedia)
	// ride its first part.
	MediaURLs []string `json:"mediaUrls,omitempty"`
	// ContentSID, when set, sends a Twilio Content template (a WhatsApp
	// template, "HX…") with ContentVariables (a JSON object as a string)
	// instead of Body: the only message WhatsApp delivers outside its
	// 24-hour window. Body then describes the send for the history.
	ContentSID       string    `json:"contentSid,omitempty"`
	ContentVariables string    `json:"contentVariables,omitempty"`
	Part             int       `json:"part"` // 1-based part number
	Parts            int       `json:"parts"`
	State            string    `json:"state"`
	Attempts         int       `json:"attempts"`
	ErrorCode        int       `json:"errorCode,omitempty"`
	ErrorMessage     string    `json:"errorMessage,omitempty"`
	TwilioSID        string    `json:"messageSid,omitempty"`
	DeliveryStatus   string    `json:"deliveryStatus,omitempty"` // from status callbacks
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// InboundResult is the outcome of committing one inbound message.
type InboundResult struct {
	ID        int64 // the stored message's ID (the original's, for a duplicate)
	Duplicate bool  // same provider + MessageSid, or same idempotency token, seen before
	// Pending, for a duplicate, reports that the original is still marked
	// pending: not answered yet, or answered moments ago (a turn's
	// messages are marked done in bulk, within a second or so).
	Pending bool
}

// TurnStride is how many ids a turn row numbers: the k-th event of the
// turn with id t is event t*TurnStride+k, its j-th outbox part outbox row
// t*TurnStride+j (store/internal/sqlcore/turns.go).
const TurnStride = 1024

// Turn is everything one AI turn writes, committed atomically: the
// conversation it starts, the events it appends, the inbound messages it
// consumed, the outbox parts it adds, the send results it records, and the
// conversation's new deadline.
type Turn struct {
	// ID is the id of the turn's row, set by the commit (AssignIDs).
	ID             int64
	ConversationID string
	// Slot is the ownership slot of the conversation's session key
	// (SlotOf); a fenced store (ClusterStore.FenceAs) refuses the turn
	// unless the committing node owns it.
	Slot       int
	InboundIDs []int64
	Events     []Event
	Outbox     []*OutboundMessage // IDs are filled in on commit
	// Deadline, when non-zero, becomes the conversation's deadline; it is
	// also what makes the commit touch (updated_at) and check the
	// conversation. A zero Deadline leaves the conversation row alone.
	Deadline time.Time
	// NewConversation, when set, is created first in the turn's transaction
	// (status active, Version 1, CreatedAt=UpdatedAt=commit time; its ID must
	// be set by the caller, e.g. NewID(PrefixConversation); written
	// back with the Meta). ConversationID must equal NewConversation.ID. If the
	// session key already has an active conversation the batch fails with
	// ECONFLICT (the engine retries turns one by one).
	NewConversation *Conversation
	// OutboxUpdates record send results (like UpdateOutbox) in the same
	// transaction, after the turn's own outbox rows are inserted.
	OutboxUpdates []OutboxUpdate
	// End, when non-nil, ends the conversation after the turn's other
	// writes, as EndConversation does: an active conversation becomes
	// finished with End as its statusDetails and EndEvent (if set) is
	// appended; a conversation already finished is left alone.
	End      json.RawMessage
	EndEvent *Event
	// Delivery, on a bare turn only, records a status callback as
	// SetDeliveryStatus does, in the batch's transaction.
	Delivery *DeliveryUpdate
}

// AssignIDs records that the turn was committed as row id: it sets the
// turn's ID and the ids of its events and outbox parts.
func (t *Turn) AssignIDs(id int64) {
	t.ID = id
	for k := range t.Events {
		t.Events[k].ID = id*TurnStride + int64(k)
	}
	for j, o := range t.Outbox {
		o.ID = id*TurnStride + int64(j)
	}
}

// TurnFinder is implemented by stores that can tell whether a turn was
// committed. A commit can fail in a way that leaves its outcome unknown
// (PostgreSQL's connection lost while the commit was on its way); before
// committing the turn again, the engine asks, so that a turn that did
// commit is neither written nor answered twice.
type TurnFinder interface {
	// CommittedTurn reports whether the last turn row of the conversation
	// consumed the inbound message inboundID, and returns its id.
	// inboundID 0 asks for the conversation's last turn row, whatever it
	// consumed: an opening turn without inbound messages (a start) is its
	// conversation's first row, so its existence is the answer.
	CommittedTurn(ctx context.Context, conversationID string, inboundID int64) (id int64, found bool, err error)
}

// DeliveryUpdate is a status callback committed with a batch (Turn):
// SetDeliveryStatus's arguments, and what the commit found.
type DeliveryUpdate struct {
	ProviderID, TwilioSID, Status string
	ErrorCode                     int
	// OutboundID, when non-zero, is the id of the outbox row the callback
	// is about (its StatusCallback URL names it): the row is found by id,
	// and must still have been sent by that provider as TwilioSID.
	OutboundID int64
	// Found is set by the commit: whether a message that provider sent
	// with that SID was there to update.
	Found bool
}

// NewConversationDeadline is the deadline a turn's new conversation is
// stored with: the turn's, else the conversation's own.
func (t *Turn) NewConversationDeadline() time.Time {
	if !t.Deadline.IsZero() {
		return t.Deadline
	}
	return t.NewConversation.Deadline
}

// CommittedNewConversations writes what the store recorded back into the
// new conversations of turns committed at time at; both stores call it
// after a successful commit.
func CommittedNewConversations(turns []*Turn, at time.Time) {
	for _, t := range turns {
		c := t.NewConversation
		if c == nil {
			continue
		}
		c.Meta = Meta{ID: c.ID, CreatedAt: at, UpdatedAt: at, Version: 1}
		c.Status, c.Direction = ConversationActive, DirectionOf(c)
		c.Deadline = t.NewConversationDeadline().UTC().Truncate(time.Microsecond)
	}
}

// CheckTurns rejects a bare turn (no conversation) that carries anything
// but inbound messages, and a NewConversation that is not the turn's; both
// stores call it before CommitTurns writes anything.
func CheckTurns(turns []*Turn) error {
	for _, turn := range turns {
		if turn.ConversationID == "" {
			if turn.NewConversation != nil || len(turn.Events) > 0 || len(turn.Outbox) > 0 || turn.End != nil {
				return Errorf(EINVALID, "a turn without a conversation may not carry a new conversation, events or outbox rows")
			}
			continue
		}
		if turn.Delivery != nil {
			return Errorf(EINVALID, "a delivery update goes in a turn without a conversation")
		}
		if nc := turn.NewConversation; nc != nil && nc.ID != turn.ConversationID {
			return Errorf(EINVALID, "a turn's new conversation must have the turn's conversation ID")
		}
	}
	return nil
}

// OutboxUpdate records a send attempt's result.
type OutboxUpdate struct {
	ID           int64
	State        string
	Attempts     int
	ErrorCode    int
	ErrorMessage string
	TwilioSID    string
	// Event, when set, is the EventData of the EventDelivery event that
	// records the result in the conversation's history, at EventAt (the
	// commit's time when zero); it is stored with the result.
	Event   json.RawMessage
	EventAt time.Time
}

// BatchCommitter is implemented by stores that can commit inbound
// messages and turns in one transaction (one fsync). CommitBatch has the
// semantics of CommitInbound followed by CommitTurns, all or nothing.
type BatchCommitter interface {
	CommitBatch(ctx context.Context, msgs []*InboundMessage, turns []*Turn) ([]InboundResult, error)
}

// DeferredCommitter is implemented by stores whose hot-path commits can
// be written without waiting for durability and made durable later by one
// shared flush: the engine's group committer writes every batch as soon as
// it is formed, and syncs once for everything written since the last sync
// before it acknowledges a webhook or lets a turn send (actors/doc.go,
// "Durability"). A message then costs one durable flush however many
// transactions carry its writes.
type DeferredCommitter interface {
	BatchCommitter
	// CommitBatchDeferred has the semantics of CommitBatch, but it returns
	// once the batch is written and visible to every reader, before it is
	// durable: it survives a crash of this process, not a power loss
	// (SQLite) or a crash of the database server (PostgreSQL) until the
	// next Sync returns.
	CommitBatchDeferred(ctx context.Context, msgs []*InboundMessage, turns []*Turn) ([]InboundResult, error)
	// Sync makes every batch whose CommitBatchDeferred returned before Sync
	// was called durable. A failed Sync leaves their durability unknown:
	// the store then refuses every later commit and transaction
	// (EUNAVAILABLE) and fails Ping (so the server reports itself not
	// ready) until it is reopened, since the only safe state is the one a
	// restart reads back.
	Sync(ctx context.Context) error
}

// Stats counts the work of a store's hot path (CommitBatch,
// CommitBatchDeferred, CommitInbound, CommitTurns, Sync) since it was
// opened: deterministic figures per message, free of machine noise.
type Stats struct {
	// Commits is the number of transactions.
	Commits uint64
	// Syncs is the number of durable flushes (fsyncs of SQLite's WAL,
	// synchronous commits of PostgreSQL) of the hot path — and on SQLite
	// of every other write too, each flushed before it returns. A flush
	// covers every write before it.
	Syncs uint64
	// Statements is the number of SQL statements those transactions ran.
	Statements uint64
}

// StatsReporter is implemented by stores that count their hot-path work.
type StatsReporter interface {
	Stats() Stats
}

// Store persists everything. Implementations are safe for concurrent use.
// Lookups of missing records return ENOTFOUND; version mismatches ECONFLICT.
type Store interface {
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	// Operators and tokens.
	CountOperators(ctx context.Context) (int, error)
	// CreateFirstOperator creates op only if no operator exists yet
	// (atomically); otherwise ECONFLICT.
	CreateFirstOperator(ctx context.Context, op *Operator) error
	CreateOperator(ctx context.Context, op *Operator) error
	GetOperator(ctx context.Context, id string) (*Operator, error)
	ListOperators(ctx context.Context, opts ListOptions) ([]*Operator, int, error)
	UpdateOperator(ctx context.Context, op *Operator, version int64) error
	DeleteOperator(ctx context.Context, id string, version int64) error
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns the unexpired token with the hash, else ENOTFOUND.
	GetToken(ctx context.Context, hash string, now time.Time) (*Token, error)
	DeleteToken(ctx context.Context, hash string) error
	// DeleteOperatorTokens deletes every access and refresh token of the
	// operator (a password, role or activation change, "log out
	// everywhere") and returns how many there were. An operator without
	// tokens, or an unknown one, is not an error: it deletes 0.
	DeleteOperatorTokens(ctx context.Context, operatorID string) (int, error)
	// DeleteOtherSessions deletes every token of the operator whose
	// Session is not keep (a password change that keeps the caller signed
	// in) and returns how many there were.
	DeleteOtherSessions(ctx context.Context, operatorID, keep string) (int, error)
	// DeleteSession deletes every token of the operator's session (a
	// logout) and returns how many there were.
	DeleteSession(ctx context.Context, operatorID, session string) (int, error)
	// PurgeExpiredTokens deletes every token that expired at or before now
	// (GetToken no longer returns them) and returns how many.
	PurgeExpiredTokens(ctx context.Context, now time.Time) (int, error)

	// Providers.
	CreateProvider(ctx context.Context, p *Provider) error
	GetProvider(ctx context.Context, id string) (*Provider, error)
	ListProviders(ctx context.Context, opts ListOptions) ([]*Provider, int, error)
	UpdateProvider(ctx context.Context, p *Provider, version int64) error
	DeleteProvider(ctx context.Context, id string, version int64) error

	// Projects. Deleting a project deletes its agents, stages, keys and
	// conversations.
	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, id string) (*Project, error)
	ListProjects(ctx context.Context, opts ListOptions) ([]*Project, int, error)
	UpdateProject(ctx context.Context, p *Project, version int64) error
	DeleteProject(ctx context.Context, id string, version int64) error

	// Agents, scoped by project.
	CreateAgent(ctx context.Context, a *Agent) error
	GetAgent(ctx context.Context, projectID, id string) (*Agent, error)
	ListAgents(ctx context.Context, projectID string, opts ListOptions) ([]*Agent, int, error)
	UpdateAgent(ctx context.Context, a *Agent, version int64) error
	DeleteAgent(ctx context.Context, projectID, id string, version int64) error

	// Stages, scoped by project.
	CreateStage(ctx context.Context, s *Stage) error
	GetStage(ctx context.Context, projectID, id string) (*Stage, error)
	ListStages(ctx context.Context, projectID string, opts ListOptions) ([]*Stage, int, error)
	UpdateStage(ctx context.Context, s *Stage, version int64) error
	DeleteStage(ctx context.Context, projectID, id string, version int64) error

	// API keys. projectID "" lists keys of all projects.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	GetAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, projectID string, opts ListOptions) ([]*APIKey, int, error)
	UpdateAPIKey(ctx context.Context, k *APIKey, version int64) error
	DeleteAPIKey(ctx context.Context, id string, version int64) error

	// Conversations.
	// CreateConversation stores c (status active) and its conversation_start event.
	CreateConversation(ctx context.Context, c *Conversation, start Event) error
	GetConversation(ctx context.Context, projectID, id string) (*Conversation, error)
	ListConversations(ctx context.Context, projectID string, opts ListOptions) ([]*Conversation, int, error)
	DeleteConversation(ctx context.Context, projectID, id string, version int64) error
	// ActiveConversations returns every active conversation, oldest
	// deadline first (start-up restores their sessions).
	ActiveConversations(ctx context.Context) ([]*Conversation, error)
	// ActiveConversation returns the active conversation of a session key, else ENOTFOUND.
	ActiveConversation(ctx context.Context, key SessionKey) (*Conversation, error)
	// EndConversation marks an active conversation finished with the
	// given statusDetails and appends the end event; ending a conversation
	// that is not active is a no-op.
	EndConversation(ctx context.Context, id string, details json.RawMessage, end Event) error
	// ListEvents returns a page of a conversation's events, newest first
	// unless opts orders them otherwise. (Every List method takes
	// ListOptions; each resource's fields, searched fields and default
	// order are in store/internal/sqlcore/lists.go.)
	ListEvents(ctx context.Context, conversationID string, opts ListOptions) ([]*Event, int, error)
	// GetEvent returns one event of a conversation, else ENOTFOUND.
	GetEvent(ctx context.Context, conversationID string, id int64) (*Event, error)
	// RecentMessages returns the last limit EventMessage events of a
	// conversation, oldest first.
	RecentMessages(ctx context.Context, conversationID string, limit int) ([]*Event, error)
	// CountUserMessages returns how many EventMessage events of a
	// conversation carry role "user" (0 for an unknown conversation).
	CountUserMessages(ctx context.Context, conversationID string) (int, error)
	// AppendEvents appends events to a conversation.
	AppendEvents(ctx context.Context, events []Event) error

	// Inbound messages (the durable inbox).
	// CommitInbound stores a batch of messages in one transaction, setting
	// each message's ID; a message whose (ProviderID, MessageSID) was seen
	// before — or, for a message without a MessageSID, whose non-empty
	// IdempotencyToken was — is reported Duplicate and not stored again.
	CommitInbound(ctx context.Context, msgs []*InboundMessage) ([]InboundResult, error)
	// PendingInbound returns every pending inbound message that no
	// committed turn consumed, in ID order.
	PendingInbound(ctx context.Context) ([]*InboundMessage, error)

	// CommitTurns commits a batch of turns in one transaction; per turn, in
	// order: NewConversation created (a session key that already has an
	// active conversation fails the batch with ECONFLICT); the turn's row
	// written when it carries a new conversation, a Deadline, Events,
	// Outbox rows or InboundIDs (the conversation's deadline and updatedAt
	// become the turn's when Deadline is non-zero; the inbound messages
	// count as consumed; IDs set, see Turn.AssignIDs); OutboxUpdates
	// applied (an update of a missing row is ignored).
	// A bare turn (ConversationID "") only marks its InboundIDs done, with
	// an empty conversation, applies its OutboxUpdates and its Delivery
	// (setting Found), and touches no conversation; one that carries
	// NewConversation, Events or Outbox is EINVALID, and so is a
	// NewConversation whose ID is not ConversationID. A turn whose row names
	// a missing conversation fails the whole batch with ENOTFOUND; a failed
	// batch commits nothing.
	CommitTurns(ctx context.Context, turns []*Turn) error

	// Outbox.
	// PendingOutbox returns every pending outbox row in ID order.
	PendingOutbox(ctx context.Context) ([]*OutboundMessage, error)
	UpdateOutbox(ctx context.Context, u OutboxUpdate) error
	GetOutbound(ctx context.Context, id int64) (*OutboundMessage, error)
	// SetDeliveryStatus records a status callback (d's ProviderID,
	// TwilioSID, Status and ErrorCode) for the message that channel
	// provider d.ProviderID sent as d.TwilioSID, and returns the row. The
	// message is found by d.OutboundID, the outbox id the callback's URL
	// names (a message without one is looked up by SID among the rows of
	// the layout before turn rows, which kept a SID index). The SID alone
	// does not identify the message: a callback signed with one provider's
	// token must never change another provider's message, so a message
	// sent through another provider, or as another SID, is ENOTFOUND, like
	// an unknown one.
	SetDeliveryStatus(ctx context.Context, d DeliveryUpdate) (*OutboundMessage, error)
	// ListOutbound returns a page of a conversation's outbox rows.
	ListOutbound(ctx context.Context, conversationID string, opts ListOptions) ([]*OutboundMessage, int, error)

	// Users: the senders of a project's conversations (users.go).
	UserStore

	// A project created with its agents and stages at once (exchange.go).
	ProjectImporter
	// Conversations started from the API and their bulk jobs (starts.go).
	StartStore

	// Opt-outs, per channel provider and recipient address.
	SetOptOut(ctx context.Context, providerID, address string, optedOut bool) error
	IsOptedOut(ctx context.Context, providerID, address string) (bool, error)

	// Audit log (see AuditEntry).
	// AppendAudit stores e, filling its ID and CreatedAt when unset; an
	// entry without action, entity type or entity id is EINVALID.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns a page of the entries opts selects, newest first
	// unless opts orders them otherwise, and how many it selects in all.
	ListAudit(ctx context.Context, opts ListOptions) ([]*AuditEntry, int, error)
	// PurgeAudit deletes the entries created before t and returns how
	// many it deleted (the retention sweep).
	PurgeAudit(ctx context.Context, before time.Time) (int64, error)
}
