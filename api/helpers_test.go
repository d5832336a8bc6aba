package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"switchboard/store/sqlite"
)

// testSID is a well-formed Twilio account SID.
const testSID = "AC0123456789abcdef0123456789abcdef"

// env is one API under test: the real router over a real SQLite store in
// a temp folder, with a clock the test can move.
type env struct {
	t      *testing.T
	st     *sqlite.DB
	router *mux.Router
	mu     sync.Mutex
	clock  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, st: st, router: mux.NewRouter(), clock: time.Now()}
	srv := New(st, nil, Options{BcryptCost: bcrypt.MinCost, Now: e.now})
	srv.Register(e.router)
	return e
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(d)
}

// result is a recorded response.
type result struct {
	t    *testing.T
	code int
	hdr  http.Header
	body []byte
}

// do sends a request through the router. body is nil (no body), a string
// (sent as is) or a value (sent as JSON).
func (e *env) do(method, path, token string, body any) *result {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, req)
	return &result{t: e.t, code: w.Code, hdr: w.Header(), body: w.Body.Bytes()}
}

// want fails the test unless the status is code.
func (r *result) want(code int) *result {
	r.t.Helper()
	if r.code != code {
		r.t.Fatalf("status = %d, want %d; body: %s", r.code, code, r.body)
	}
	return r
}

// obj decodes the body as a JSON object.
func (r *result) obj() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// raw returns a field of the body as its JSON text.
func (r *result) raw(key string) json.RawMessage {
	r.t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m[key]
}

// str returns a string field of the body.
func (r *result) str(key string) string {
	r.t.Helper()
	s, ok := r.obj()[key].(string)
	if !ok {
		r.t.Fatalf("body has no string %q: %s", key, r.body)
	}
	return s
}

// version returns the body's version field.
func (r *result) version() int64 {
	r.t.Helper()
	v, ok := r.obj()["version"].(float64)
	if !ok {
		r.t.Fatalf("body has no version: %s", r.body)
	}
	return int64(v)
}

// wantField fails unless the response is a 400 whose details name field.
func (r *result) wantField(field string) {
	r.t.Helper()
	r.want(http.StatusBadRequest)
	m := r.obj()
	if _, ok := m["error"].(string); !ok {
		r.t.Fatalf("400 without error message: %s", r.body)
	}
	d, _ := m["details"].(map[string]any)
	if d["field"] != field {
		r.t.Fatalf("details.field = %v, want %q; body: %s", d["field"], field, r.body)
	}
}

// wantError fails unless the status is code and the body is the error
// envelope.
func (r *result) wantError(code int) string {
	r.t.Helper()
	r.want(code)
	if ct := r.hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		r.t.Fatalf("Content-Type = %q", ct)
	}
	msg, ok := r.obj()["error"].(string)
	if !ok || msg == "" {
		r.t.Fatalf("no error message in %s", r.body)
	}
	return msg
}

// items returns the items of a list response after checking its shape.
func (r *result) items(total, offset, limit int) []map[string]any {
	r.t.Helper()
	r.want(http.StatusOK)
	var l struct {
		Items  []map[string]any `json:"items"`
		Total  *int             `json:"total"`
		Offset *int             `json:"offset"`
		Limit  *int             `json:"limit"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		r.t.Fatalf("list body: %v: %s", err, r.body)
	}
	if l.Items == nil || l.Total == nil || l.Offset == nil || l.Limit == nil {
		r.t.Fatalf("list body misses items/total/offset/limit: %s", r.body)
	}
	if *l.Total != total || *l.Offset != offset || *l.Limit != limit {
		r.t.Fatalf("list total/offset/limit = %d/%d/%d, want %d/%d/%d", *l.Total, *l.Offset, *l.Limit, total, offset, limit)
	}
	return l.Items
}

// setup creates the first operator "admin" and returns its access token.
func (e *env) setup() string {
	e.t.Helper()
	return e.do("POST", "/api/setup/initial-operator", "", map[string]any{
		"id": "admin", "name": "Admin", "password": "admin-password",
	}).want(http.StatusCreated).str("accessToken")
}

// operator creates an operator with roles (as admin) and returns its access
// token.
func (e *env) operator(admin, id string, roles ...string) string {
	e.t.Helper()
	e.do("POST", "/api/operators", admin, map[string]any{
		"id": id, "name": id, "password": "password-" + id, "roles": roles,
	}).want(http.StatusCreated)
	return e.login(id, "password-"+id)
}

func (e *env) login(id, password string) string {
	e.t.Helper()
	return e.do("POST", "/api/auth/login", "", map[string]any{"id": id, "password": password}).want(http.StatusOK).str("accessToken")
}

// project creates a project and returns its id.
func (e *env) project(tok, name string) string {
	e.t.Helper()
	return e.do("POST", "/api/projects", tok, map[string]any{"name": name}).want(http.StatusCreated).str("id")
}

// scripted creates a scripted LLM provider and returns its id.
func (e *env) scripted(tok string) string {
	e.t.Helper()
	return e.do("POST", "/api/providers", tok, map[string]any{
		"name": "demo", "providerType": "llm", "apiType": "scripted",
		"config": map[string]any{"defaultReply": "R{{.Turn}}: {{.Text}}"},
	}).want(http.StatusCreated).str("id")
}

// twilio creates a twilio_messaging channel provider and returns its id.
func (e *env) twilio(tok string) string {
	e.t.Helper()
	return e.do("POST", "/api/providers", tok, map[string]any{
		"name": "line", "providerType": "channel", "apiType": "twilio_messaging",
		"config": map[string]any{"accountSid": testSID, "authToken": "0123456789abcdef0123456789abcdef", "fromNumber": "+15551234567"},
	}).want(http.StatusCreated).str("id")
}

// stage creates a stage on the scripted provider and returns its id.
func (e *env) stage(tok, projectID, providerID string) string {
	e.t.Helper()
	return e.do("POST", fmt.Sprintf("/api/projects/%s/stages", projectID), tok, map[string]any{
		"name": "main", "prompt": "Be brief.", "llmProviderId": providerID,
	}).want(http.StatusCreated).str("id")
}
