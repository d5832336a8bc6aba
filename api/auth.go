package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"switchboard/store"
)

// randomToken returns 32 random bytes, base64url-encoded without padding.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// operatorKey is the context key of the authenticated operator.
type operatorKey struct{}

// currentOperator returns the operator authenticated for r (nil on public
// routes).
func currentOperator(r *http.Request) *store.Operator {
	op, _ := r.Context().Value(operatorKey{}).(*store.Operator)
	return op
}

var errBadToken = store.Errorf(store.EUNAUTHORIZED, "invalid or expired token")

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticate resolves the request's bearer access token to an active
// operator, else EUNAUTHORIZED.
func (s *Server) authenticate(r *http.Request) (*store.Operator, error) {
	raw := bearerToken(r)
	if raw == "" {
		return nil, store.Errorf(store.EUNAUTHORIZED, "missing bearer token")
	}
	tok, err := s.st.GetToken(r.Context(), store.HashKey(raw), s.now())
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("api: get token: %w", err)
	}
	if tok.Kind != store.TokenAccess {
		return nil, errBadToken
	}
	op, err := s.st.GetOperator(r.Context(), tok.OperatorID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("api: get operator: %w", err)
	}
	if !op.IsActive {
		return nil, store.Errorf(store.EUNAUTHORIZED, "operator is inactive")
	}
	return op, nil
}

// checkPassword enforces the password rules: at least 8 characters
// (runes) and at most 72 bytes (bcrypt's limit).
func checkPassword(field, pw string) error {
	if utf8.RuneCountInString(pw) < 8 {
		return store.FieldError(field, "must be at least 8 characters")
	}
	if len(pw) > 72 {
		return store.FieldError(field, "must be at most 72 bytes")
	}
	return nil
}

// hashPassword hashes pw with bcrypt in a slot of the hashing gate.
func (s *Server) hashPassword(ctx context.Context, pw string) (string, error) {
	var h []byte
	var err error
	if gerr := s.hash.run(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(pw), s.opts.BcryptCost) }); gerr != nil {
		return "", gerr
	}
	if err != nil {
		return "", fmt.Errorf("api: hash password: %w", err)
	}
	return string(h), nil
}

// comparePassword reports whether pw matches the bcrypt hash, comparing
// in a slot of the hashing gate. A nil hash (unknown operator) is compared
// against the dummy hash and never matches, in the same time.
func (s *Server) comparePassword(ctx context.Context, hash []byte, pw string) (bool, error) {
	var ok bool
	err := s.hash.run(ctx, func() {
		if hash == nil {
			_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(pw))
			return
		}
		ok = bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
	})
	return ok, err
}

// dummyHash is compared against when a login names an unknown operator, so
// that unknown ids and wrong passwords take the same time.
func (s *Server) dummyHash() []byte {
	s.dummyM.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("switchboard: no such operator"), s.opts.BcryptCost)
	})
	return s.dummy
}

// tokenResponse is the body of setup, login and refresh: Bonsai's login
// shape (accessToken, refreshToken, expiresIn, operatorId, displayName,
// roles, permissions; its refresh shape is a subset) plus Switchboard's
// own operator and tokenType. Bonsai's console reads operator from setup
// and the flat fields from login and refresh.
type tokenResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int64  `json:"expiresIn"` // seconds until the access token expires
	// OperatorID, DisplayName, Roles and Permissions are the operator as
	// of this call: a refresh answers roles changed since the login.
	OperatorID  string          `json:"operatorId"`
	DisplayName string          `json:"displayName"`
	Roles       []string        `json:"roles"`
	Permissions []string        `json:"permissions"`
	Operator    *store.Operator `json:"operator"`

	// newSession is true when the refresh token was issued with the
	// access token (login, setup), false when it is the caller's own
	// (refresh): dropTokens deletes only what was issued.
	newSession bool
}

// issueTokens starts a new session for op: a refresh token, whose hash
// names the session, and an access token in it.
func (s *Server) issueTokens(ctx context.Context, op *store.Operator) (*tokenResponse, error) {
	raw, err := randomToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	session := store.HashKey(raw)
	tok := &store.Token{Hash: session, OperatorID: op.ID, Kind: store.TokenRefresh, Session: session, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTokenTTL)}
	if err := s.st.CreateToken(ctx, tok); err != nil {
		return nil, fmt.Errorf("api: create refresh token: %w", err)
	}
	resp, err := s.issueAccess(ctx, op, tok)
	if err != nil {
		if derr := s.st.DeleteToken(ctx, session); derr != nil && store.ErrorCode(derr) != store.ENOTFOUND {
			return nil, fmt.Errorf("api: delete token: %w", derr)
		}
		return nil, err
	}
	resp.RefreshToken, resp.newSession = raw, true
	return resp, nil
}

// issueAccess stores a new access token in the session of the refresh
// token refresh. The access token never outlives its session: it expires
// after AccessTokenTTL or with the refresh token, whichever is first.
func (s *Server) issueAccess(ctx context.Context, op *store.Operator, refresh *store.Token) (*tokenResponse, error) {
	raw, err := randomToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	exp := now.Add(s.opts.AccessTokenTTL)
	if refresh.ExpiresAt.Before(exp) {
		exp = refresh.ExpiresAt
	}
	session := refresh.Session
	if session == "" {
		session = refresh.Hash // a refresh token stored before sessions existed
	}
	tok := &store.Token{Hash: store.HashKey(raw), OperatorID: op.ID, Kind: store.TokenAccess, Session: session, CreatedAt: now, ExpiresAt: exp}
	if err := s.st.CreateToken(ctx, tok); err != nil {
		return nil, fmt.Errorf("api: create access token: %w", err)
	}
	pub := publicOperator(op)
	return &tokenResponse{
		AccessToken: raw, TokenType: "Bearer", ExpiresIn: max(1, int64(exp.Sub(now).Seconds())),
		OperatorID: op.ID, DisplayName: op.Name, Roles: pub.Roles, Permissions: Permissions(pub.Roles),
		Operator: pub,
	}, nil
}

func (s *Server) setupStatus(w http.ResponseWriter, r *http.Request) error {
	n, err := s.st.CountOperators(r.Context())
	if err != nil {
		return fmt.Errorf("api: count operators: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"isSetup": n > 0})
	return nil
}

var errSetupDone = store.Errorf(store.ECONFLICT, "setup is already complete")

func (s *Server) initialOperator(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	// Setup is throttled per address like a login: after setup every
	// attempt is a failure (409).
	var resp *tokenResponse
	err := s.credentialCheck(r, "setup", "", func() error {
		// Answer a repeated setup quickly, before paying for bcrypt; the
		// atomic CreateFirstOperator below settles races.
		if n, err := s.st.CountOperators(r.Context()); err != nil {
			return fmt.Errorf("api: count operators: %w", err)
		} else if n > 0 {
			return errSetupDone
		}
		op, err := s.newOperator(r.Context(), body.ID, body.Name, body.Password, []string{RoleSuperAdmin})
		if err != nil {
			return err
		}
		if err := s.st.CreateFirstOperator(r.Context(), op); err != nil {
			if store.ErrorCode(err) == store.ECONFLICT {
				return errSetupDone
			}
			return fmt.Errorf("api: create first operator: %w", err)
		}
		s.appendAudit(r, CreatedEntry(op.ID, op)) // the first operator creates itself
		resp, err = s.issueTokens(r.Context(), op)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// newOperator validates the fields of a new operator and returns it with
// its password hashed.
func (s *Server) newOperator(ctx context.Context, id, name, password string, roles []string) (*store.Operator, error) {
	id, err := newID(strings.TrimSpace(id), store.PrefixOperator)
	if err != nil {
		return nil, err
	}
	if name, err = requireName("name", name); err != nil {
		return nil, err
	}
	if err := checkPassword("password", password); err != nil {
		return nil, err
	}
	if roles, err = checkRoles(roles); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &store.Operator{
		Meta:         store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1},
		Name:         name,
		PasswordHash: hash,
		Roles:        roles,
		IsActive:     true,
	}, nil
}

var errBadCredentials = store.Errorf(store.EUNAUTHORIZED, "invalid id or password")

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.ID == "" {
		return store.FieldError("id", "required")
	}
	if body.Password == "" {
		return store.FieldError("password", "required")
	}
	var resp *tokenResponse
	err := s.credentialCheck(r, "login", body.ID, func() error {
		var err error
		resp, err = s.checkLogin(r, body.ID, body.Password)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// checkLogin checks an operator's id and password and issues a token
// pair. An unknown id, a wrong password and an inactive operator all
// answer errBadCredentials after one bcrypt compare.
func (s *Server) checkLogin(r *http.Request, id, password string) (*tokenResponse, error) {
	ctx := r.Context()
	op, err := s.st.GetOperator(ctx, id)
	var hash []byte
	switch {
	case store.ErrorCode(err) == store.ENOTFOUND:
		op = nil
	case err != nil:
		return nil, fmt.Errorf("api: get operator: %w", err)
	default:
		hash = []byte(op.PasswordHash)
	}
	ok, err := s.comparePassword(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if !ok || op == nil || !op.IsActive {
		reason := "wrong password or inactive operator"
		if op == nil {
			reason = "unknown operator"
		}
		s.securityEvent(r, store.AuditLoginFailed, store.AuditOperator, s.auditAccountID(ctx, id), map[string]any{"reason": reason})
		return nil, errBadCredentials
	}
	resp, err := s.issueChecked(ctx, op, nil, errBadCredentials)
	if err == nil {
		s.securityEvent(r, store.AuditLogin, store.AuditOperator, op.ID, nil)
	}
	return resp, err
}

// refresh trades a refresh token for a new access token in the same
// session. Refresh tokens do not rotate (Bonsai's behaviour: its console
// keeps using the refresh token of its login for the whole session); the
// answer repeats the caller's refresh token, so that a client that stores
// the refreshToken of every answer keeps working. A session ends when its
// refresh token expires (RefreshTokenTTL after the login, never extended),
// at logout, or when a revocation deletes it.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.RefreshToken == "" {
		return store.FieldError("refreshToken", "required")
	}
	var resp *tokenResponse
	err := s.credentialCheck(r, "refresh", "", func() error {
		var err error
		resp, err = s.checkRefresh(r.Context(), body.RefreshToken)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// checkRefresh issues an access token for a valid refresh token (see
// refresh). A revocation racing it either deletes the refresh token first
// (issueChecked finds it gone and drops the new access token) or deletes
// the new access token with the rest of the session.
func (s *Server) checkRefresh(ctx context.Context, raw string) (*tokenResponse, error) {
	hash := store.HashKey(raw)
	tok, err := s.st.GetToken(ctx, hash, s.now())
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("api: get token: %w", err)
	}
	if tok.Kind != store.TokenRefresh {
		return nil, errBadToken
	}
	op, err := s.st.GetOperator(ctx, tok.OperatorID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("api: get operator: %w", err)
	}
	if !op.IsActive {
		return nil, store.Errorf(store.EUNAUTHORIZED, "operator is inactive")
	}
	resp, err := s.issueChecked(ctx, op, tok, errBadToken)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = raw
	return resp, nil
}

// logout ends the caller's session: its access token, the other access
// tokens refreshed in it and its refresh token. A refresh token named in
// the body is deleted too (a client that held one from another session).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := decodeOptionalBody(r, &body); err != nil {
		return err
	}
	op := currentOperator(r)
	hash := store.HashKey(bearerToken(r))
	tok, err := s.st.GetToken(r.Context(), hash, s.now())
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		return fmt.Errorf("api: get token: %w", err)
	}
	if err == nil && tok.Session != "" {
		if _, err := s.st.DeleteSession(r.Context(), op.ID, tok.Session); err != nil {
			return fmt.Errorf("api: delete session: %w", err)
		}
	}
	if err := s.st.DeleteToken(r.Context(), hash); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		return fmt.Errorf("api: delete token: %w", err)
	}
	if body.RefreshToken != "" {
		hash := store.HashKey(body.RefreshToken)
		tok, err := s.st.GetToken(r.Context(), hash, s.now())
		if err == nil && tok.OperatorID == op.ID {
			if err := s.st.DeleteToken(r.Context(), hash); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
				return fmt.Errorf("api: delete token: %w", err)
			}
		}
	}
	s.record(r, store.AuditLogout, store.AuditOperator, op.ID, "", nil, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// me answers the authenticated operator with its permissions.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	op := currentOperator(r)
	writeJSON(w, http.StatusOK, struct {
		*store.Operator
		Permissions []string `json:"permissions"`
	}{publicOperator(op), Permissions(op.Roles)})
	return nil
}
