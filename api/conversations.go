package api

import (
	"fmt"
	"net/http"
	"strconv"

	"switchboard/providers/twilio"
	"switchboard/store"
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
	can, err := conversationOptions(&opts)
	if err != nil {
		return err
	}
	if !can {
		writeList(w, []conversationView{}, 0, opts)
		return nil
	}
	cs, total, err := s.st.ListConversations(r.Context(), proj.ID, opts)
	if err != nil {
		return fmt.Errorf("api: list conversations: %w", err)
	}
	writeList(w, viewConversations(cs), total, opts)
	return nil
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) error {
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	writeJSON(w, http.StatusOK, viewConversation(c))
	return nil
}

// listEvents answers a page of a conversation's events, newest first
// unless orderBy says otherwise (Bonsai's default; the console asks for
// orderBy=timestamp).
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
	writeList(w, viewEvents(c, es), total, opts)
	return nil
}

// getEvent answers one event of a conversation (Bonsai's event detail
// route). Event IDs are decimal strings; anything else is not an event.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	id, err := strconv.ParseInt(pathVar(r, "eventId"), 10, 64)
	if err != nil || id <= 0 {
		return store.Errorf(store.ENOTFOUND, "event not found")
	}
	e, err := s.st.GetEvent(r.Context(), c.ID, id)
	if err != nil {
		return fmt.Errorf("api: get event: %w", err)
	}
	writeJSON(w, http.StatusOK, viewEvent(c, e))
	return nil
}

// listOutbound answers a page of a conversation's outbound message parts
// (the outbox) with their send state and delivery status, newest first
// unless orderBy says otherwise.
func (s *Server) listOutbound(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	rows, total, err := s.st.ListOutbound(r.Context(), c.ID, opts)
	if err != nil {
		return fmt.Errorf("api: list outbound: %w", err)
	}
	for _, o := range rows {
		if o.ErrorMessage == "" && o.ErrorCode != 0 {
			// A failure reported by a status callback stores only its code
			// (Twilio's usual way to refuse a WhatsApp message outside the
			// window): explain the codes an operator must act on.
			o.ErrorMessage = twilio.Reason(o.ErrorCode, "")
		}
	}
	writeList(w, rows, total, opts)
	return nil
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	c, err := s.st.GetConversation(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get conversation: %w", err)
	}
	if err := s.st.DeleteConversation(r.Context(), c.ProjectID, c.ID, version); err != nil {
		return fmt.Errorf("api: delete conversation: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditConversation, c.ID, c.ProjectID, auditConversation(c), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
