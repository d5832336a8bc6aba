package api

import (
	"fmt"
	"net/http"
	"time"
)

// Conversations are created by the session engine; the API reads and
// deletes them.

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	proj, err := s.pathProject(r.Context(), r)
	if err != nil {
		return err
	}
	cs, total, err := s.st.ListConversations(r.Context(), proj.ID, opts)
	if err != nil {
		return fmt.Errorf("api: list conversations: %w", err)
	}
	writeList(w, cs, total, opts)
	return nil
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) error {
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// listEvents answers a page of a conversation's events, oldest first.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	es, total, err := s.st.ListEvents(r.Context(), c.ID, opts)
	if err != nil {
		return fmt.Errorf("api: list events: %w", err)
	}
	writeList(w, es, total, opts)
	return nil
}

// outboundView is an outbound message part as the API shows it. Phone
// numbers are shown: operators with conversation:read see users anyway.
type outboundView struct {
	ID             int64     `json:"id"`
	ConversationID string    `json:"conversationId"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	Part           int       `json:"part"`
	Parts          int       `json:"parts"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
	ErrorCode      int       `json:"errorCode,omitempty"`
	ErrorMessage   string    `json:"errorMessage,omitempty"`
	MessageSID     string    `json:"messageSid,omitempty"`
	DeliveryStatus string    `json:"deliveryStatus,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// listOutbound answers a conversation's outbound message parts (the
// outbox) with their send state and delivery status, oldest first.
func (s *Server) listOutbound(w http.ResponseWriter, r *http.Request) error {
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	rows, err := s.st.ListOutbound(r.Context(), c.ID)
	if err != nil {
		return fmt.Errorf("api: list outbound: %w", err)
	}
	items := make([]outboundView, len(rows))
	for i, m := range rows {
		items[i] = outboundView{ID: m.ID, ConversationID: m.ConversationID, From: m.From, To: m.To, Body: m.Body,
			Part: m.Part, Parts: m.Parts, State: m.State, Attempts: m.Attempts, ErrorCode: m.ErrorCode,
			ErrorMessage: m.ErrorMessage, MessageSID: m.TwilioSID, DeliveryStatus: m.DeliveryStatus,
			CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"), version); err != nil {
		return fmt.Errorf("api: delete conversation: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
