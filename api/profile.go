package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"switchboard/store"
)

// Bonsai's profile routes: any authenticated operator reads and edits its
// own name and password, without the operator:write permission.

// getProfile answers the caller's own operator record (Bonsai's
// ProfileResponse: id, name, roles, version, createdAt, updatedAt; plus
// isActive).
func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, publicOperator(currentOperator(r)))
	return nil
}

// errWrongOldPassword answers a password change whose oldPassword does not
// match. Inside credentialCheck it is an EUNAUTHORIZED failure, so it is
// throttled like a login; the client gets errWrongOldPasswordAnswer, a 400
// as Bonsai answers: the console meets a 401 by refreshing its token and
// sending the request again, which would count every wrong attempt twice.
var errWrongOldPassword = &store.Error{
	Code:    store.EUNAUTHORIZED,
	Message: "oldPassword: does not match the current password",
	Details: map[string]string{"field": "oldPassword", "reason": "does not match the current password"},
}

var errWrongOldPasswordAnswer = &store.Error{
	Code:    store.EINVALID,
	Message: errWrongOldPassword.Message,
	Details: errWrongOldPassword.Details,
}

// updateProfile changes the caller's name and/or password (Bonsai's
// UpdateProfileRequest: name, oldPassword, newPassword). A new password
// needs the current one, checked under the login throttle; it ends every
// other session of the operator, while the caller's session (its access
// token and the refresh token of its login) stays valid, because Bonsai's
// console keeps working with them after "Edit profile".
func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name        *string `json:"name"`
		OldPassword *string `json:"oldPassword"`
		NewPassword *string `json:"newPassword"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	caller := currentOperator(r)
	op, err := s.st.GetOperator(r.Context(), caller.ID)
	if err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	version := op.Version
	old := snapshot(publicOperator(op))
	if body.Name != nil {
		if op.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	changePassword := body.NewPassword != nil
	switch {
	case changePassword && (body.OldPassword == nil || *body.OldPassword == ""):
		return store.FieldError("oldPassword", "required to change the password")
	case !changePassword && body.OldPassword != nil:
		return store.FieldError("newPassword", "required with oldPassword (nothing else uses it)")
	}
	if changePassword {
		if err := checkPassword("newPassword", *body.NewPassword); err != nil {
			return err
		}
		err := s.credentialCheck(r, "profile", op.ID, func() error {
			ok, err := s.comparePassword(r.Context(), []byte(op.PasswordHash), *body.OldPassword)
			if err != nil {
				return err
			}
			if !ok {
				s.securityEvent(r, store.AuditLoginFailed, store.AuditOperator, op.ID, map[string]any{"reason": "wrong oldPassword on a password change"})
				return errWrongOldPassword
			}
			return nil
		})
		if err == errWrongOldPassword {
			return errWrongOldPasswordAnswer
		}
		if err != nil {
			return err
		}
		if op.PasswordHash, err = s.hashPassword(r.Context(), *body.NewPassword); err != nil {
			return err
		}
	}
	op.UpdatedAt = s.now()

	// As in updateOperator, the other sessions are ended before the update
	// (a failed revocation changes nothing) and again after it (a login
	// racing the update either sees the new hash in issueChecked or stored
	// its tokens before the second pass).
	keep := ""
	if changePassword {
		tok, err := s.st.GetToken(r.Context(), store.HashKey(bearerToken(r)), s.now())
		if err != nil {
			return fmt.Errorf("api: get token: %w", err)
		}
		keep = tok.Session
		if keep == "" {
			// A token from before sessions: no session is kept, the
			// caller signs in again.
			keep = "-"
		}
		if err := s.revokeOtherSessions(r, op.ID, keep); err != nil {
			return err
		}
	}
	if err := s.st.UpdateOperator(r.Context(), op, version); err != nil {
		return fmt.Errorf("api: update operator: %w", err)
	}
	var revokeErr error
	if changePassword {
		revokeErr = s.revokeOtherSessions(r, op.ID, keep)
	}
	if op, err = s.st.GetOperator(r.Context(), op.ID); err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	newSnap := snapshot(publicOperator(op))
	if changePassword {
		// The hash is never in a snapshot: as in Bonsai, the entry says
		// passwordChanged false before and true after.
		old, newSnap = withFlag(old, "passwordChanged", false), withFlag(newSnap, "passwordChanged", true)
	}
	s.record(r, store.AuditUpdate, store.AuditOperator, op.ID, "", old, newSnap)
	if revokeErr != nil {
		return fmt.Errorf("api: password changed, but ending the other sessions failed (log out everywhere with POST /api/auth/logout-all): %w", revokeErr)
	}
	writeJSON(w, http.StatusOK, publicOperator(op))
	return nil
}

// revokeOtherSessions deletes the operator's tokens outside session keep
// after a password change and records it when there were any.
func (s *Server) revokeOtherSessions(r *http.Request, operatorID, keep string) error {
	n, err := s.st.DeleteOtherSessions(r.Context(), operatorID, keep)
	if err != nil {
		return fmt.Errorf("api: revoke other sessions: %w", err)
	}
	if n > 0 {
		s.metrics.tokensDeleted(revokePasswordChanged, n)
		s.log.Info("operator tokens revoked", "operator_id", operatorID, "reason", revokePasswordChanged, "count", n, "kept_caller_session", true)
		s.securityEvent(r, store.AuditTokensRevoked, store.AuditOperator, operatorID, map[string]any{"reason": revokePasswordChanged, "count": n, "callerSessionKept": true})
	}
	return nil
}

// withFlag returns the JSON object snap with key set to v (snap itself if
// it is no object).
func withFlag(snap json.RawMessage, key string, v bool) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(snap, &m); err != nil || m == nil {
		return snap
	}
	m[key] = v
	return snapshot(m)
}
