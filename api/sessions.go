package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"switchboard/internal/periodic"
	"switchboard/store"
)

// Reasons a revocation gives in its TOKENS_REVOKED event.
const (
	revokePasswordChanged = "password_changed"
	revokeRolesChanged    = "roles_changed"
	revokeDeactivated     = "deactivated"
	revokeLogoutAll       = "logout_all"
	revokeAdmin           = "admin_revoke"
)

// revocationReason says why an update from was to now must revoke the
// operator's tokens, or "" when it need not: a new password (even the same
// one: the caller cannot tell), a changed role set, or deactivation.
func revocationReason(was, now *store.Operator, passwordSet bool) string {
	switch {
	case was.IsActive && !now.IsActive:
		return revokeDeactivated
	case passwordSet:
		return revokePasswordChanged
	case !sameRoles(was.Roles, now.Roles):
		return revokeRolesChanged
	}
	return ""
}

// sameRoles reports whether a and b hold the same roles in any order.
func sameRoles(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !slices.Contains(b, r) {
			return false
		}
	}
	return true
}

// revokeTokens deletes every token of the operator, records why, and
// returns how many there were.
func (s *Server) revokeTokens(r *http.Request, operatorID, reason string) (int, error) {
	n, err := s.st.DeleteOperatorTokens(r.Context(), operatorID)
	if err != nil {
		return 0, fmt.Errorf("api: revoke tokens: %w", err)
	}
	s.metrics.tokensDeleted(reason, n)
	s.log.Info("operator tokens revoked", "operator_id", operatorID, "reason", reason, "count", n)
	s.securityEvent(r, "TOKENS_REVOKED", "operator", operatorID, map[string]any{"reason": reason, "count": n})
	return n, nil
}

// issueChecked issues tokens for op, the operator as it was when its
// credentials were checked: a new session when refresh is nil (login),
// else an access token in refresh's session. It then reads op again: when
// its password, roles or activation changed meanwhile, or the refresh
// token is gone, a revocation raced this login or refresh, so what was
// issued is deleted and denied returned. updateOperator revokes again after
// it updates, so tokens stored before the update are deleted by that
// revocation and tokens stored after it are deleted here.
func (s *Server) issueChecked(ctx context.Context, op *store.Operator, refresh *store.Token, denied error) (*tokenResponse, error) {
	var resp *tokenResponse
	var err error
	if refresh == nil {
		resp, err = s.issueTokens(ctx, op)
	} else {
		resp, err = s.issueAccess(ctx, op, refresh)
	}
	if err != nil {
		return nil, err
	}
	cur, err := s.st.GetOperator(ctx, op.ID)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		return nil, fmt.Errorf("api: get operator: %w", err)
	}
	ok := err == nil && cur.IsActive && cur.PasswordHash == op.PasswordHash && sameRoles(cur.Roles, op.Roles)
	if ok && refresh != nil {
		_, err := s.st.GetToken(ctx, refresh.Hash, s.now())
		if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			return nil, fmt.Errorf("api: get token: %w", err)
		}
		ok = err == nil
	}
	if ok {
		return resp, nil
	}
	if err := s.dropTokens(ctx, resp); err != nil {
		return nil, err
	}
	return nil, denied
}

// dropTokens deletes the tokens issued by issueTokens or issueAccess that
// must not be handed out after all (never the caller's own refresh token).
func (s *Server) dropTokens(ctx context.Context, resp *tokenResponse) error {
	raws := []string{resp.AccessToken}
	if resp.newSession {
		raws = append(raws, resp.RefreshToken)
	}
	for _, raw := range raws {
		if err := s.st.DeleteToken(ctx, store.HashKey(raw)); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			return fmt.Errorf("api: delete token: %w", err)
		}
	}
	return nil
}

// logoutAll ("log out everywhere") deletes every access and refresh token
// of the caller, including the one it called with.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.revokeTokens(r, currentOperator(r).ID, revokeLogoutAll); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeOperatorTokens ends every session of another operator (a lost
// laptop, a leaked token) without changing its password. It answers how
// many tokens were deleted.
func (s *Server) revokeOperatorTokens(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalBody(r, &struct{}{}); err != nil {
		return err
	}
	id := pathVar(r, "id")
	if _, err := s.st.GetOperator(r.Context(), id); err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	n, err := s.revokeTokens(r, id, revokeAdmin)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"operatorId": id, "revokedTokens": n})
	return nil
}

// PurgeExpiredTokens deletes the tokens that have expired (they no longer
// authenticate, but would otherwise pile up) and returns how many.
func (s *Server) PurgeExpiredTokens(ctx context.Context) (int, error) {
	n, err := s.st.PurgeExpiredTokens(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("api: purge expired tokens: %w", err)
	}
	if n > 0 {
		s.metrics.tokensDeleted("expired", n)
		s.log.Info("expired tokens purged", "count", n)
	}
	return n, nil
}

// StartTokenPurge runs PurgeExpiredTokens now and then every interval
// until ctx ends or the returned stop is called; stop waits for a purge in
// progress, so the store may be closed after it.
func (s *Server) StartTokenPurge(ctx context.Context, every time.Duration) (stop func()) {
	return periodic.Start(ctx, every, func(ctx context.Context) {
		if _, err := s.PurgeExpiredTokens(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("token purge failed", "err", err)
		}
	})
}
