package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchboard/store"
)

// publicOperator returns a copy of op fit for a response: roles never null.
// The password hash is never serialised (store.Operator tags it "-").
func publicOperator(op *store.Operator) *store.Operator {
	c := *op
	if c.Roles == nil {
		c.Roles = []string{}
	}
	return &c
}

// checkRoles validates and de-duplicates a role list; at least one role is
// required.
func checkRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, store.FieldError("roles", "must name at least one role (%s)", strings.Join(Roles(), ", "))
	}
	var out []string
	for _, r := range roles {
		if !validRole(r) {
			return nil, store.FieldError("roles", "unknown role %q (want one of %s)", r, strings.Join(Roles(), ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Server) createOperator(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Password string   `json:"password"`
		Roles    []string `json:"roles"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	op, err := s.newOperator(r.Context(), body.ID, body.Name, body.Password, body.Roles)
	if err != nil {
		return err
	}
	if err := s.st.CreateOperator(r.Context(), op); err != nil {
		return fmt.Errorf("api: create operator: %w", err)
	}
	s.recordCreate(r, op)
	writeJSON(w, http.StatusCreated, publicOperator(op))
	return nil
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	ops, total, err := s.st.ListOperators(r.Context(), opts)
	if err != nil {
		return fmt.Errorf("api: list operators: %w", err)
	}
	items := make([]*store.Operator, len(ops))
	for i, op := range ops {
		items[i] = publicOperator(op)
	}
	writeList(w, items, total, opts)
	return nil
}

func (s *Server) getOperator(w http.ResponseWriter, r *http.Request) error {
	op, err := s.st.GetOperator(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	writeJSON(w, http.StatusOK, publicOperator(op))
	return nil
}

// updateOperator changes the fields present in the body. An operator cannot
// lock itself out: it may not deactivate itself or drop its own
// super_admin role.
func (s *Server) updateOperator(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version  *int64   `json:"version"`
		Name     *string  `json:"name"`
		Password *string  `json:"password"`
		Roles    []string `json:"roles"`
		IsActive *bool    `json:"isActive"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	id := pathVar(r, "id")
	op, err := s.st.GetOperator(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	old := snapshot(publicOperator(op))
	if body.Name != nil {
		if op.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	was := *op
	if body.Roles != nil {
		if op.Roles, err = checkRoles(body.Roles); err != nil {
			return err
		}
	}
	if body.IsActive != nil {
		op.IsActive = *body.IsActive
	}
	self := currentOperator(r).ID == op.ID
	if self && !op.IsActive {
		return store.Errorf(store.ECONFLICT, "an operator cannot deactivate itself")
	}
	if self && !slices.Contains(op.Roles, RoleSuperAdmin) {
		return store.Errorf(store.ECONFLICT, "an operator cannot remove its own super_admin role")
	}
	if body.Password != nil {
		if err := checkPassword("password", *body.Password); err != nil {
			return err
		}
		if op.PasswordHash, err = s.hashPassword(r.Context(), *body.Password); err != nil {
			return err
		}
	}
	op.UpdatedAt = s.now()
	// Sessions are revoked before the update, so that a failed revocation
	// changes nothing (the caller retries), and again after it: a login or
	// refresh racing the update either sees the change (issueChecked) or
	// stored its tokens before the second revocation.
	reason := revocationReason(&was, op, body.Password != nil)
	if reason != "" {
		if _, err := s.revokeTokens(r, op.ID, reason); err != nil {
			return err
		}
	}
	if err := s.st.UpdateOperator(r.Context(), op, version); err != nil {
		return fmt.Errorf("api: update operator: %w", err)
	}
	var revokeErr error
	if reason != "" {
		// Usually nothing is left: recorded only when something was.
		var n int
		if n, revokeErr = s.st.DeleteOperatorTokens(r.Context(), op.ID); n > 0 {
			s.metrics.tokensDeleted(reason, n)
			s.securityEvent(r, "TOKENS_REVOKED", "operator", op.ID, map[string]any{"reason": reason, "count": n})
		}
	}
	if op, err = s.st.GetOperator(r.Context(), id); err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditOperator, id, "", old, publicOperator(op))
	if revokeErr != nil {
		// The change is stored; only sessions opened during it may be left.
		return fmt.Errorf("api: operator updated, but revoking the sessions opened meanwhile failed (retry with POST /api/operators/%s/revoke-tokens): %w", id, revokeErr)
	}
	writeJSON(w, http.StatusOK, publicOperator(op))
	return nil
}

func (s *Server) deleteOperator(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	id := pathVar(r, "id")
	if id == currentOperator(r).ID {
		return store.Errorf(store.ECONFLICT, "an operator cannot delete itself")
	}
	op, err := s.st.GetOperator(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: get operator: %w", err)
	}
	if err := s.st.DeleteOperator(r.Context(), id, version); err != nil {
		return fmt.Errorf("api: delete operator: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditOperator, id, "", publicOperator(op), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
