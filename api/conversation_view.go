package api

import (
	"encoding/json"
	"strconv"
	"time"

	"switchboard/store"
)

// Bonsai's conversation states (its conversationStateSchema). Switchboard
// stores two states; the API answers in Bonsai's vocabulary so that
// Bonsai's console (badges, the dashboard's counts by status, the status
// filter) reads Switchboard's conversations as it reads Bonsai's.
const (
	bonsaiInitialized   = "initialized"
	bonsaiAwaitingInput = "awaiting_user_input"
	bonsaiReceiving     = "receiving_user_voice"
	bonsaiProcessing    = "processing_user_input"
	bonsaiGenerating    = "generating_response"
	bonsaiFinished      = "finished"
	bonsaiAborted       = "aborted"
	bonsaiFailed        = "failed"
)

// bonsaiStatuses is Bonsai's whole status set, for validating filters.
var bonsaiStatuses = []string{bonsaiInitialized, bonsaiAwaitingInput, bonsaiReceiving, bonsaiProcessing,
	bonsaiGenerating, bonsaiFinished, bonsaiAborted, bonsaiFailed}

// bonsaiStatus maps a stored status onto Bonsai's set. An active SMS
// conversation is waiting for the user's next text between turns; whether a
// turn is in flight lives in the actor engine, which the API does not
// consult, so active is always awaiting_user_input. Every end Switchboard
// records (inactivity, opt-out) is an orderly end of an SMS conversation,
// so finished stays finished; its reason is in statusDetails.
func bonsaiStatus(stored string) string {
	switch stored {
	case store.ConversationActive:
		return bonsaiAwaitingInput
	case store.ConversationFinished:
		return bonsaiFinished
	}
	return stored
}

// storedStatuses maps Bonsai statuses onto the stored statuses that answer
// to them (the inverse of bonsaiStatus); a status no stored conversation
// can have maps to nothing.
func storedStatuses(bonsai []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range bonsai {
		for _, s := range []string{store.ConversationActive, store.ConversationFinished} {
			if bonsaiStatus(s) == b && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// conversationView is a conversation in Bonsai's ConversationResponse
// shape plus Switchboard's own fields (agentId, channelProviderId,
// deadline, version).
type conversationView struct {
	ID              string          `json:"id"`
	ProjectID       string          `json:"projectId"`
	UserID          string          `json:"userId"`
	SessionID       string          `json:"sessionId"`
	ClientID        string          `json:"clientId"`
	StageID         string          `json:"stageId"`
	StartingStageID *string         `json:"startingStageId"`
	EndingStageID   *string         `json:"endingStageId"`
	StageVars       map[string]any  `json:"stageVars"`
	Status          string          `json:"status"`
	StatusDetails   *string         `json:"statusDetails"`
	Direction       string          `json:"direction"`
	Metadata        json.RawMessage `json:"metadata"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	Version         int64           `json:"version"`

	AgentID           string    `json:"agentId,omitempty"`
	ChannelProviderID string    `json:"channelProviderId"`
	Deadline          time.Time `json:"deadline"`
}

// viewConversation answers c in Bonsai's shape. sessionId is the
// conversation's own ID: Switchboard keeps no session record apart from
// the conversation (its sessions are in-memory actors keyed by sender and
// number). clientId, the channel a Bonsai client connected through, is the
// channel provider the texts came through. direction is incoming for a
// conversation the user's text started, outgoing for one started through
// POST /api/twilio/messaging/send. A stage
// never changes during a Switchboard conversation, so the starting stage
// is the stage and the ending stage is the stage once it has ended.
func viewConversation(c *store.Conversation) conversationView {
	v := conversationView{
		ID: c.ID, ProjectID: c.ProjectID, UserID: c.UserID, SessionID: c.ID, ClientID: c.ChannelProviderID,
		StageID: c.StageID, StartingStageID: &c.StageID, StageVars: map[string]any{},
		Status: bonsaiStatus(c.Status), StatusDetails: statusDetails(c.StatusDetails), Direction: store.DirectionOf(c),
		Metadata: c.Metadata, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version,
		AgentID: c.AgentID, ChannelProviderID: c.ChannelProviderID, Deadline: c.Deadline,
	}
	if c.Status == store.ConversationFinished {
		v.EndingStageID = &c.StageID
	}
	if len(v.Metadata) == 0 || string(v.Metadata) == "null" {
		v.Metadata = json.RawMessage(`{}`)
	}
	return v
}

// statusDetails turns the stored details ({"reason": "..."}, written when
// a conversation ends) into Bonsai's string: the reason, or the stored
// JSON text when it holds something else.
func statusDetails(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var d struct {
		Reason string `json:"reason"`
	}
	s := string(raw)
	if json.Unmarshal(raw, &d) == nil && d.Reason != "" {
		s = d.Reason
	}
	return &s
}

func viewConversations(cs []*store.Conversation) []conversationView {
	out := make([]conversationView, len(cs))
	for i, c := range cs {
		out[i] = viewConversation(c)
	}
	return out
}

// eventView is an event in Bonsai's ConversationEventResponse shape, with
// Switchboard's createdAt kept beside timestamp.
type eventView struct {
	ID             string          `json:"id"`
	ProjectID      string          `json:"projectId"`
	ConversationID string          `json:"conversationId"`
	EventType      string          `json:"eventType"`
	EventData      json.RawMessage `json:"eventData"`
	StageID        *string         `json:"stageId"`
	Timestamp      time.Time       `json:"timestamp"`
	Metadata       map[string]any  `json:"metadata"`
	CreatedAt      time.Time       `json:"createdAt"`
}

// viewEvent answers e, an event of c, in Bonsai's shape. Its numeric ID
// becomes the decimal string Bonsai's contract types it as; its stage is
// the conversation's (stages never change within one). eventData gains
// the fields Bonsai's contract requires and Switchboard does not store: a
// message's originalText (Switchboard never rewrites a text, so it is the
// text) and a conversation_end's stageId.
func viewEvent(c *store.Conversation, e *store.Event) eventView {
	v := eventView{
		ID: strconv.FormatInt(e.ID, 10), ProjectID: c.ProjectID, ConversationID: e.ConversationID,
		EventType: e.EventType, EventData: e.EventData, StageID: &c.StageID,
		Timestamp: e.CreatedAt, Metadata: map[string]any{}, CreatedAt: e.CreatedAt,
	}
	if len(v.EventData) == 0 || string(v.EventData) == "null" {
		v.EventData = json.RawMessage(`{}`)
	}
	switch e.EventType {
	case store.EventMessage:
		v.EventData = withDefault(v.EventData, "originalText", "text")
	case store.EventConversationStart, store.EventConversationEnd:
		v.EventData = withValue(v.EventData, "stageId", c.StageID)
	}
	return v
}

// withDefault sets key to the value of from when key is missing.
func withDefault(data json.RawMessage, key, from string) json.RawMessage {
	return editObject(data, func(m map[string]any) bool {
		if _, ok := m[key]; ok {
			return false
		}
		v, ok := m[from]
		m[key] = v
		return ok
	})
}

// withValue sets key to v when key is missing or empty.
func withValue(data json.RawMessage, key, v string) json.RawMessage {
	return editObject(data, func(m map[string]any) bool {
		if s, ok := m[key].(string); ok && s != "" {
			return false
		}
		m[key] = v
		return true
	})
}

// editObject applies edit to the JSON object data and returns the result
// when edit reports a change; data itself when it is no object or edit
// changed nothing.
func editObject(data json.RawMessage, edit func(m map[string]any) bool) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil || m == nil || !edit(m) {
		return data
	}
	b, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return b
}

func viewEvents(c *store.Conversation, es []*store.Event) []eventView {
	out := make([]eventView, len(es))
	for i, e := range es {
		out[i] = viewEvent(c, e)
	}
	return out
}
