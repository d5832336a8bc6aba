package api

import "net/http"

// securityEvent records a security event (throttling, token revocation)
// about the entity. This stub does nothing: it is replaced by the audit
// log, which records the event durably with the request's operator and
// client address.
func (s *Server) securityEvent(r *http.Request, action, entityType, entityID string, details map[string]any) {
}
