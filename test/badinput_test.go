package test

// The bad-input suite: hostile and malformed requests against the real
// binary — the Twilio webhook, the status callback and the operator API —
// each answered with its documented status, and each changing nothing: the
// row count and content of every table of the database are the same after
// the request as before it, and the simulated Twilio received no request.
//
// One server and one line serve the whole suite (TestBadInput). Every row
// starts from a valid request and spoils one thing. To add a row, append it
// to webhookRows, statusRows or apiRows:
//
//	{name: "what is wrong", req: webhook(func(e *badEnv, h *hookReq) { h.Form.Del("To") }), status: 400},
//	{name: "what is wrong", req: op("viewer", "POST", "/api/projects", `{"name":"x"}`), status: 403},
//
// webhook and callback build a signed Twilio request that the row's function
// changes (hookReq says what can be changed: query, form, raw body, content
// type, and what the signature is computed over); op builds an operator API
// call as one of the suite's operators, with {placeholders} (see
// badEnv.expand) for the ids set up by the suite.
//
// A row whose status an open fix of issue 11 changes asserts today's status
// and says so in a comment ("changes to 413 with issue 11 #8"), for the lead
// to flip when that fix is merged.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"switchboard/internal/testutil"
	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

// suiteMayChange are the tables every row may change: records that a
// rejected request is expected to leave behind (security events in the
// audit log). Names that do not exist are ignored.
var suiteMayChange = []string{"audit_log", "audit_logs", "security_events"}

// badRow is one request of the suite and what it must get.
type badRow struct {
	name   string
	req    func(e *badEnv) *http.Request
	status int
	// body, when set, must occur in the answer's body.
	body string
	// mayChange names tables this row may change besides suiteMayChange.
	mayChange []string
	// noHeaderPrefix, when set, is a prefix no header of the answer may
	// have ("Access-Control-": a refused cross-origin request gets no
	// CORS header).
	noHeaderPrefix string
}

// badEnv is the suite's server, its line and the records set up for the
// rows to aim at.
type badEnv struct {
	t      *testing.T
	srv    *server
	sim    *twiliosim.Server
	db     *sql.DB
	l      *line // the line under attack
	other  *line // a second project, number and Twilio provider
	tokens map[string]string
	ids    map[string]string // placeholder → value, for badEnv.expand

	// The first text, processed before the rows run.
	firstSID, firstToken, firstFrom string
	outboundSID                     string // the SID Twilio gave its reply
}

// TestBadInput runs every row against one server; see the top of the file.
func TestBadInput(t *testing.T) {
	e := newBadEnv(t, map[string]string{"WEBHOOK_FAILURE_RATE_LIMIT": "100000", "CORS_ALLOWED_ORIGINS": "https://console.example.com"})
	start := e.snapshot(t)
	startSim := e.simRequests()
	allowed := slices.Clone(suiteMayChange)
	groups := []struct {
		name string
		rows []badRow
	}{
		{"webhook", webhookRows()},
		{"status", statusRows()},
		{"api", apiRows()},
		{"start", startRows()},
	}
	total := 0
	for _, g := range groups {
		total += len(g.rows)
		t.Run(g.name, func(t *testing.T) {
			for _, row := range g.rows {
				allowed = append(allowed, row.mayChange...)
				t.Run(row.name, func(t *testing.T) { e.run(t, row) })
			}
		})
	}
	if total < 60 {
		t.Errorf("the suite has %d rows, want at least 60", total)
	}
	// Nothing arrived late either: no send since the start, and the tables
	// no row may change are as they were.
	if n := e.simRequests(); n != startSim {
		t.Fatalf("the simulated Twilio received %d requests during the suite", n-startSim)
	}
	if d := start.diff(e.snapshot(t), allowed); d != "" {
		t.Fatalf("the database changed during the suite:\n%s", d)
	}

	// The canary: a valid text still gets through and gets exactly one
	// reply, so the server was healthy and the checks above can fail.
	t.Run("canary", func(t *testing.T) {
		before := e.snapshot(t)
		from := "+15557770002"
		e.l.mustText(t, from, "canary")
		e.l.waitReplies(t, from, 1, 10*time.Second)
		e.waitOutboundSent(t)
		if got := e.l.replies(from); len(got) != 1 || !strings.Contains(got[0], "canary") {
			t.Fatalf("replies to the canary: %q, want exactly one echoing it", got)
		}
		if n := e.simRequests(); n != startSim+1 {
			t.Fatalf("the simulated Twilio received %d requests for the canary, want 1", n-startSim)
		}
		after := e.snapshot(t)
		for _, table := range []string{"inbound_messages", "turns", "conversations"} {
			if after[table].rows != before[table].rows+1 {
				t.Errorf("%s: %d rows after the canary, want %d", table, after[table].rows, before[table].rows+1)
			}
		}
	})
}

// TestBadInputFailureLimiter: a client that keeps sending rejected webhooks
// gets 429 with Retry-After once its failure budget (twice the rate, plus
// one) is spent, the limited requests change nothing either, and a validly
// signed text from the same address is still accepted.
func TestBadInputFailureLimiter(t *testing.T) {
	e := newBadEnv(t, map[string]string{"WEBHOOK_FAILURE_RATE_LIMIT": "1"})
	before := e.snapshot(t)
	sends := e.simRequests()
	unsigned := webhook(func(e *badEnv, h *hookReq) { h.NoSignature = true })
	var codes []int
	for range 10 {
		resp := e.do(t, unsigned(e))
		codes = append(codes, resp.status)
		if resp.status == http.StatusTooManyRequests {
			if resp.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
	}
	// The budget is a burst of 3 (2×1+1) refilled at 1/s: at least three
	// 403s (more only if the client stalled for a second), then 429.
	last := len(codes) - 1
	if codes[last] != 429 || last < 3 || slices.ContainsFunc(codes[:last], func(c int) bool { return c != 403 }) {
		t.Fatalf("statuses %v, want three or more 403s then 429", codes)
	}
	if d := before.diff(e.snapshot(t), suiteMayChange); d != "" {
		t.Fatalf("limited requests changed the database:\n%s", d)
	}
	if n := e.simRequests(); n != sends {
		t.Fatalf("the simulated Twilio received %d requests", n-sends)
	}
	// Valid traffic from the same client is never limited.
	e.l.mustText(t, "+15557770003", "still here")
	e.l.waitReplies(t, "+15557770003", 1, 10*time.Second)
}

// newBadEnv starts a server with env and sets up what the rows aim at: two
// lines (projects, stages, LLM and Twilio providers, API keys), more API
// keys, an agent in each project, an operator of every lesser role with a
// token, revoked and misused tokens, and one text already answered.
func newBadEnv(t *testing.T, env map[string]string) *badEnv {
	dir := t.TempDir()
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, dir, env)
	e := &badEnv{t: t, srv: s, sim: sim, tokens: map[string]string{}}
	e.l = setupLine(t, s, sim, lineOptions{})
	e.other = setupLine(t, s, sim, lineOptions{number: "+15550009999"})
	admin := e.l.token
	e.tokens["admin"] = admin

	var rec struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	key := func(name string, settings map[string]any) (id, value string) {
		body := map[string]any{"name": name}
		for k, v := range settings {
			body[k] = v
		}
		s.mustAPI("POST", "/api/projects/"+e.l.ProjectID+"/api-keys", admin, body, &rec, 201)
		return rec.ID, rec.Key
	}
	_, webOnly := key("web only", map[string]any{"allowedChannels": []string{"web"}})
	_, noText := key("no text input", map[string]any{"allowedFeatures": []string{"conversation_control"}})
	inactiveID, inactive := key("inactive", nil)
	e.ids = map[string]string{"{inactiveKeyID}": inactiveID}
	s.mustAPI("PUT", "/api/projects/"+e.l.ProjectID+"/api-keys/"+inactiveID, admin, map[string]any{"version": 1, "isActive": false}, nil, 200)
	deletedID, deleted := key("deleted", nil)
	s.mustAPI("DELETE", "/api/projects/"+e.l.ProjectID+"/api-keys/"+deletedID+"?version=1", admin, nil, nil, 204)

	s.mustAPI("POST", "/api/projects/"+e.l.ProjectID+"/agents", admin, map[string]any{"name": "Agent one"}, &rec, 201)
	agent := rec.ID
	s.mustAPI("POST", "/api/projects/"+e.other.ProjectID+"/agents", admin, map[string]any{"name": "Agent two"}, &rec, 201)
	otherAgent := rec.ID

	// An archived project with a stage and an API key: its texts are
	// dropped, it cannot be changed.
	s.mustAPI("POST", "/api/projects", admin, map[string]any{"name": "archived line", "timezone": "Europe/Warsaw"}, &rec, 201)
	archived := rec.ID
	s.mustAPI("POST", "/api/projects/"+archived+"/stages", admin, map[string]any{"name": "S", "llmProviderId": e.l.LLMID, "llmSettings": map[string]any{"model": "m"}}, &rec, 201)
	archivedStage := rec.ID
	s.mustAPI("POST", "/api/projects/"+archived+"/api-keys", admin, map[string]any{"name": "k"}, &rec, 201)
	archivedKey := rec.Key
	s.mustAPI("POST", "/api/projects/"+archived+"/archive", admin, map[string]any{"version": 1}, nil, 200)

	login := func(id string) (access, refresh string) {
		var auth struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
		}
		s.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": id, "password": "password of " + id}, &auth, 200)
		return auth.AccessToken, auth.RefreshToken
	}
	// One operator per lesser role, with its token under the role's name
	// (operator ids have no underscore), and one to deactivate.
	for _, o := range []struct{ id, role, name string }{
		{"viewer", "viewer", "viewer"}, {"support", "support", "support"},
		{"content-manager", "content_manager", "content_manager"}, {"developer", "developer", "developer"},
		{"retired", "developer", "retired"},
	} {
		s.mustAPI("POST", "/api/operators", admin, map[string]any{"id": o.id, "name": o.name, "password": "password of " + o.id, "roles": []string{o.role}}, nil, 201)
		e.tokens[o.name], _ = login(o.id)
	}
	// An operator deactivated after logging in.
	s.mustAPI("PUT", "/api/operators/retired", admin, map[string]any{"version": 1, "isActive": false}, nil, 200)
	// A session logged out (its access and refresh tokens); a live
	// refresh token (as a bearer token it is the wrong kind).
	loggedOut, loggedOutRefresh := login("viewer")
	s.mustAPI("POST", "/api/auth/logout", loggedOut, nil, nil, 204)
	_, liveRefresh := login("viewer")
	e.tokens["logged_out"], e.tokens["refresh_as_access"] = loggedOut, liveRefresh

	// One text answered, for the duplicate rows and the status callbacks.
	e.firstFrom, e.firstSID, e.firstToken = "+15557770001", twiliosim.NewMessageSID(), "idem-"+twiliosim.NewMessageSID()
	code, body := e.l.post(e.l.Webhook, twiliosim.InboundParamsFor(e.l.AccountSID, e.firstFrom, e.l.Number, "first", e.firstSID),
		http.Header{"I-Twilio-Idempotency-Token": {e.firstToken}})
	if code != 200 {
		t.Fatalf("first text: %d %s", code, body)
	}
	e.l.waitReplies(t, e.firstFrom, 1, 10*time.Second)
	e.outboundSID = sim.MessagesTo(e.firstFrom)[0].SID
	// A recipient who opted out, for the start rows.
	e.l.mustText(t, "+15557770009", "STOP")
	testutil.CheckFor(t, 10*time.Second, func() error {
		if len(e.l.conversations(t)) == 2 && e.l.conversations(t)[1].Status == "finished" {
			return nil
		}
		return fmt.Errorf("the STOP is not processed yet")
	})
	convs := e.l.conversations(t)
	if len(convs) != 2 {
		t.Fatalf("%d conversations after the first text and the STOP", len(convs))
	}

	var err error
	e.db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "switchboard.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.waitOutboundSent(t)

	for k, v := range map[string]string{
		"{project}":       e.l.ProjectID,
		"{stage}":         e.l.StageID,
		"{llm}":           e.l.LLMID,
		"{provider}":      e.l.ProviderID,
		"{accountSid}":    e.l.AccountSID,
		"{authToken}":     e.l.AuthToken,
		"{maskedToken}":   "••••" + e.l.AuthToken[len(e.l.AuthToken)-4:],
		"{simURL}":        sim.URL(),
		"{agent}":         agent,
		"{conversation}":  convs[0].ID,
		"{otherProject}":  e.other.ProjectID,
		"{otherStage}":    e.other.StageID,
		"{otherProvider}": e.other.ProviderID,
		"{otherAgent}":    otherAgent,
		"{otherAPIKey}":   e.other.APIKey,
		"{webOnlyKey}":    webOnly,
		"{noTextKey}":     noText,
		"{inactiveKey}":   inactive,
		"{deletedKey}":    deleted,
		"{apiKey}":        e.l.APIKey,
		"{endedRefresh}":  loggedOutRefresh,
		"{liveRefresh}":   liveRefresh,
		"{accessToken}":   e.tokens["viewer"],
		"{user}":          e.firstFrom,
		"{archived}":      archived,
		"{archivedStage}": archivedStage,
		"{archivedKey}":   archivedKey,
	} {
		e.ids[k] = v
	}
	return e
}

// expand replaces the {placeholders} of s with the suite's ids.
func (e *badEnv) expand(s string) string {
	for k, v := range e.ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// waitOutboundSent waits until every reply is stored as accepted by Twilio
// (the engine records the SID after the send): only then is the database
// at rest.
func (e *badEnv) waitOutboundSent(t *testing.T) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, func() error {
		var pending int
		// A message a turn consumed stays pending until a later commit
		// sweeps it: its turn row says it was consumed.
		err := e.db.QueryRow(`SELECT (SELECT count(*) FROM outbox_log WHERE state <> 'sent' OR twilio_sid = '')
			+ (SELECT count(*) FROM inbound_messages i WHERE state = 'pending' AND NOT EXISTS (
				SELECT 1 FROM turns t, json_each(t.inbound_ids) j WHERE j.value = i.id))`).Scan(&pending)
		if err != nil {
			return err
		}
		if pending > 0 {
			return fmt.Errorf("%d messages not at rest", pending)
		}
		return nil
	})
}

// simRequests counts every request the simulated Twilio received: accepted
// sends, refused ones and message list calls.
func (e *badEnv) simRequests() int {
	return e.sim.Count() + len(e.sim.Failures()) + e.sim.ListCalls()
}

// run sends the row's request and checks its answer and that nothing
// changed.
func (e *badEnv) run(t *testing.T, row badRow) {
	prev := e.t
	e.t = t // the request builders fail the row's test, not the suite's
	defer func() { e.t = prev }()
	before := e.snapshot(t)
	sends := e.simRequests()
	resp := e.do(t, row.req(e))
	if resp.status != row.status {
		t.Errorf("status %d, want %d: %s", resp.status, row.status, resp.body)
	}
	if row.body != "" && !strings.Contains(resp.body, row.body) {
		t.Errorf("answer %q does not contain %q", resp.body, row.body)
	}
	for k := range resp.header {
		if row.noHeaderPrefix != "" && strings.HasPrefix(k, row.noHeaderPrefix) {
			t.Errorf("answer has header %s: %q", k, resp.header.Get(k))
		}
	}
	if resp.status >= 500 {
		t.Errorf("server error %d: %s", resp.status, resp.body)
	}
	if d := before.diff(e.snapshot(t), append(slices.Clone(suiteMayChange), row.mayChange...)); d != "" {
		t.Errorf("the request changed the database:\n%s", d)
	}
	if n := e.simRequests(); n != sends {
		t.Errorf("the simulated Twilio received %d requests", n-sends)
	}
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

func (e *badEnv) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", req.Method, req.URL.Path, err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// tableState is one table's row count and a digest of its content.
type tableState struct {
	rows   int
	digest string
}

// dbState is every table of the database.
type dbState map[string]tableState

// snapshot reads every table's row count and content digest (rows hashed
// in sorted order, so the digest does not depend on the scan order).
func (e *badEnv) snapshot(t *testing.T) dbState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// SQLite's own tables are left out: an INSERT that a unique index
	// turns into nothing (a duplicate webhook) still advances the
	// AUTOINCREMENT counter in sqlite_sequence, which changes no record.
	names, err := e.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for names.Next() {
		var n string
		if err := names.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	names.Close()
	out := dbState{}
	for _, table := range tables {
		rows, err := e.db.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		// An inbound message's state and a turn's unsent count are
		// bookkeeping: the turn row records what it consumed and the sends
		// rows what was sent, and a sweep that rides a later commit (which
		// may be the request's own: a status callback is committed even
		// when it matches nothing) marks the message done and the turn
		// sent. The turn and sends rows are compared.
		skip := -1
		switch table {
		case "inbound_messages":
			skip = slices.Index(cols, "state")
		case "turns":
			skip = slices.Index(cols, "unsent")
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			if skip >= 0 {
				vals[skip] = nil
			}
			b, _ := json.Marshal(vals)
			lines = append(lines, string(b))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows.Close()
		sort.Strings(lines)
		sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		out[table] = tableState{rows: len(lines), digest: hex.EncodeToString(sum[:8])}
	}
	return out
}

// diff describes how after differs from s, ignoring the tables in allowed;
// "" when it does not.
func (s dbState) diff(after dbState, allowed []string) string {
	var out []string
	for table, b := range s {
		if slices.Contains(allowed, table) {
			continue
		}
		a, ok := after[table]
		switch {
		case !ok:
			out = append(out, table+": dropped")
		case a.rows != b.rows:
			out = append(out, fmt.Sprintf("%s: %d rows, was %d", table, a.rows, b.rows))
		case a.digest != b.digest:
			out = append(out, fmt.Sprintf("%s: content changed (%d rows)", table, a.rows))
		}
	}
	for table := range after {
		if _, ok := s[table]; !ok && !slices.Contains(allowed, table) {
			out = append(out, table+": created")
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// Webhook and status callback requests.

const (
	webhookPath = "/api/twilio/messaging/webhook"
	statusPath  = "/api/twilio/messaging/status"
	formType    = "application/x-www-form-urlencoded"
)

// hookReq is a Twilio request under construction. By default it is a valid
// request: a POST of Form, form-encoded, signed with the line's auth token
// over the URL sent and Form.
type hookReq struct {
	Method      string
	Path        string
	Query       url.Values
	Form        url.Values
	RawBody     *string // sent instead of Form's encoding (the signature still covers Form)
	ContentType string  // "" sends none
	Header      http.Header

	NoSignature bool
	Signature   string     // a literal X-Twilio-Signature instead of a computed one
	SignToken   string     // the token signed with, instead of the line's
	SignURL     string     // the URL signed over, instead of the one sent
	SignForm    url.Values // the parameters signed over, instead of Form
}

// webhook returns a row's request: a valid inbound text for the line,
// changed by mut.
func webhook(mut func(e *badEnv, h *hookReq)) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request {
		h := &hookReq{
			Method:      http.MethodPost,
			Path:        webhookPath,
			Query:       url.Values{"apiKey": {e.l.APIKey}, "stageId": {e.l.StageID}, "channelProviderId": {e.l.ProviderID}},
			Form:        twiliosim.InboundParamsFor(e.l.AccountSID, "+15557770009", e.l.Number, "hello", twiliosim.NewMessageSID()),
			ContentType: formType,
			Header:      http.Header{},
		}
		mut(e, h)
		return h.build(e)
	}
}

// callback returns a row's request: a valid status callback for the line's
// provider, about a message SID the server never sent, changed by mut.
func callback(mut func(e *badEnv, h *hookReq)) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request {
		sid := twiliosim.NewMessageSID()
		h := &hookReq{
			Method: http.MethodPost,
			Path:   statusPath,
			Query:  url.Values{"channelProviderId": {e.l.ProviderID}},
			Form: url.Values{"AccountSid": {e.l.AccountSID}, "ApiVersion": {"2010-04-01"}, "From": {e.l.Number}, "To": {e.firstFrom},
				"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {"delivered"}, "SmsStatus": {"delivered"}},
			ContentType: formType,
			Header:      http.Header{},
		}
		mut(e, h)
		return h.build(e)
	}
}

func (h *hookReq) build(e *badEnv) *http.Request {
	rawURL := e.srv.URL + h.Path
	if len(h.Query) > 0 {
		rawURL += "?" + h.Query.Encode()
	}
	body := h.Form.Encode()
	if h.RawBody != nil {
		body = *h.RawBody
	}
	req, err := http.NewRequest(h.Method, rawURL, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h.Header {
		req.Header[k] = v
	}
	if h.ContentType != "" {
		req.Header.Set("Content-Type", h.ContentType)
	}
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	switch {
	case h.NoSignature:
	case h.Signature != "":
		req.Header.Set("X-Twilio-Signature", h.Signature)
	default:
		token, signURL, signForm := e.l.AuthToken, rawURL, h.Form
		if h.SignToken != "" {
			token = h.SignToken
		}
		if h.SignURL != "" {
			signURL = e.expand(h.SignURL)
		}
		if h.SignForm != nil {
			signForm = h.SignForm
		}
		req.Header.Set("X-Twilio-Signature", twilio.Signature(token, signURL, signForm))
	}
	return req
}

// cloneForm copies a form, so that a row can sign one and send another.
func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// webhookRows are the inbound webhook's rows.
func webhookRows() []badRow {
	type h = hookReq
	query := func(k, v string) func(*badEnv, *h) {
		return func(e *badEnv, r *h) { r.Query.Set(k, e.expand(v)) }
	}
	noQuery := func(k string) func(*badEnv, *h) { return func(_ *badEnv, r *h) { r.Query.Del(k) } }
	form := func(k, v string) func(*badEnv, *h) { return func(_ *badEnv, r *h) { r.Form.Set(k, v) } }
	noForm := func(k ...string) func(*badEnv, *h) {
		return func(_ *badEnv, r *h) {
			for _, k := range k {
				r.Form.Del(k)
			}
		}
	}
	// signedThen signs the form as it is, then applies change to what is sent.
	signedThen := func(change func(url.Values)) func(*badEnv, *h) {
		return func(_ *badEnv, r *h) {
			r.SignForm = cloneForm(r.Form)
			change(r.Form)
		}
	}
	// signedOver signs over the URL sent with old replaced by new.
	signedOver := func(old, new string) func(*badEnv, *h) {
		return func(e *badEnv, r *h) {
			u := e.srv.URL + r.Path + "?" + r.Query.Encode()
			r.SignURL = strings.Replace(u, e.expand(old), e.expand(new), 1)
		}
	}
	big := strings.Repeat("a", 70<<10)
	return []badRow{
		{name: "missing apiKey", req: webhook(noQuery("apiKey")), status: 400, body: "query parameters are required"},
		// Not an error: an archived project takes no traffic (as in
		// Bonsai): 200 so that Twilio does not retry, nothing stored, no
		// reply.
		{name: "text to an archived project", req: webhook(func(e *badEnv, r *h) {
			r.Query.Set("apiKey", e.expand("{archivedKey}"))
			r.Query.Set("stageId", e.expand("{archivedStage}"))
		}), status: 200, body: "<Response/>"},
		{name: "missing stageId", req: webhook(noQuery("stageId")), status: 400, body: "query parameters are required"},
		{name: "missing channelProviderId", req: webhook(noQuery("channelProviderId")), status: 400, body: "query parameters are required"},
		{name: "no query at all", req: webhook(func(_ *badEnv, r *h) { r.Query = nil }), status: 400, body: "query parameters are required"},
		{name: "unknown provider", req: webhook(query("channelProviderId", "prov_nope")), status: 400, body: "unknown channel provider"},
		{name: "LLM provider as channel", req: webhook(query("channelProviderId", "{llm}")), status: 400, body: "unknown channel provider"},
		{name: "missing signature", req: webhook(func(_ *badEnv, r *h) { r.NoSignature = true }), status: 403, body: "missing X-Twilio-Signature"},
		{name: "empty signature", req: webhook(func(_ *badEnv, r *h) { r.Signature = " " }), status: 403},
		{name: "garbage signature", req: webhook(func(_ *badEnv, r *h) { r.Signature = "forged" }), status: 403, body: "invalid X-Twilio-Signature"},
		{name: "signature of the right length, wrong value", req: webhook(func(_ *badEnv, r *h) { r.Signature = strings.Repeat("A", 27) + "=" }), status: 403},
		{name: "signature over another query", req: webhook(signedOver("stageId={stage}", "stageId={otherStage}")), status: 403},
		{name: "signature over another host", req: webhook(signedOver("127.0.0.1", "localhost")), status: 403},
		{name: "signature over another scheme", req: webhook(signedOver("http://", "https://")), status: 403},
		{name: "signature over another path", req: webhook(signedOver(webhookPath, statusPath)), status: 403},
		{name: "signature with another provider's token", req: webhook(func(e *badEnv, r *h) { r.SignToken = e.other.AuthToken }), status: 403},
		{name: "this provider's signature on the other provider's URL", req: webhook(func(e *badEnv, r *h) {
			r.Query.Set("channelProviderId", e.other.ProviderID) // checked with the other provider's token
		}), status: 403},
		{name: "Body changed after signing", req: webhook(signedThen(func(f url.Values) { f.Set("Body", "tampered") })), status: 403},
		{name: "From changed after signing", req: webhook(signedThen(func(f url.Values) { f.Set("From", "+15557770010") })), status: 403},
		{name: "parameter added after signing", req: webhook(signedThen(func(f url.Values) { f.Set("MediaUrl0", "http://evil.example/x") })), status: 403},
		{name: "parameter removed after signing", req: webhook(signedThen(func(f url.Values) { f.Del("ProfileName"); f.Del("FromCity") })), status: 403},
		{name: "parameter repeated after signing", req: webhook(signedThen(func(f url.Values) { f.Add("Body", "again") })), status: 403},
		{name: "JSON body", req: webhook(func(_ *badEnv, r *h) {
			r.ContentType, r.RawBody = "application/json", ptr(`{"From":"+15557770009","Body":"hi"}`)
		}), status: 400, body: "Content-Type"},
		{name: "multipart body", req: webhook(func(_ *badEnv, r *h) {
			r.ContentType, r.RawBody = "multipart/form-data; boundary=x", ptr("--x\r\nContent-Disposition: form-data; name=\"Body\"\r\n\r\nhi\r\n--x--\r\n")
		}), status: 400, body: "Content-Type"},
		{name: "no Content-Type", req: webhook(func(_ *badEnv, r *h) { r.ContentType = "" }), status: 400, body: "Content-Type"},
		{name: "malformed form encoding", req: webhook(func(_ *badEnv, r *h) { r.RawBody = ptr("Body=%zz&From=%2B15557770009") }), status: 400, body: "malformed form body"},
		{name: "body over 64 KiB", req: webhook(form("Body", big)), status: 413, body: "body too large"},
		{name: "unknown API key", req: webhook(query("apiKey", "akey_live_nope")), status: 401, body: "invalid API key"},
		{name: "deleted API key", req: webhook(query("apiKey", "{deletedKey}")), status: 401, body: "invalid API key"},
		{name: "inactive API key", req: webhook(query("apiKey", "{inactiveKey}")), status: 401, body: "invalid API key"},
		{name: "API key of another project", req: webhook(query("apiKey", "{otherAPIKey}")), status: 400, body: "stageId"},
		{name: "API key without twilio_messaging", req: webhook(query("apiKey", "{webOnlyKey}")), status: 403, body: "twilio_messaging"},
		{name: "API key without text_input", req: webhook(query("apiKey", "{noTextKey}")), status: 403, body: "text_input"},
		{name: "stage of another project", req: webhook(query("stageId", "{otherStage}")), status: 400, body: "stageId"},
		{name: "unknown stage", req: webhook(query("stageId", "stg_nope")), status: 400, body: "stageId"},
		{name: "unknown agent", req: webhook(query("agentId", "agnt_nope")), status: 400, body: "agentId"},
		{name: "agent of another project", req: webhook(query("agentId", "{otherAgent}")), status: 400, body: "agentId"},
		{name: "missing From", req: webhook(noForm("From")), status: 400, body: "From is required"},
		{name: "blank From", req: webhook(form("From", "   ")), status: 400, body: "From must be an E.164 number"},
		{name: "From without +", req: webhook(form("From", "15557770001")), status: 400, body: "From must be"},
		{name: "From a short code", req: webhook(form("From", "12345")), status: 400, body: "From must be"},
		{name: "From whatsapp: alone", req: webhook(form("From", "whatsapp:")), status: 400, body: "From must be"},
		{name: "From whatsapp: twice", req: webhook(form("From", "whatsapp:whatsapp:+15557770001")), status: 400, body: "From must be"},
		{name: "From with CR LF", req: webhook(form("From", "+15557770001\r\nX-Injected: 1")), status: 400, body: "From must be"},
		{name: "From with NUL", req: webhook(form("From", "+1555777\x000001")), status: 400, body: "From must be"},
		{name: "From a template", req: webhook(form("From", "{{.}}")), status: 400, body: "From must be"},
		{name: "WhatsApp From to an SMS number", req: webhook(form("From", "whatsapp:+15557770001")), status: 400},
		{name: "empty Body and no media", req: webhook(form("Body", "")), status: 400, body: "Body or media"},
		{name: "NumMedia not an integer", req: webhook(form("NumMedia", "one")), status: 400, body: "NumMedia"},
		{name: "NumMedia negative", req: webhook(form("NumMedia", "-1")), status: 400, body: "NumMedia"},
		{name: "NumMedia 21", req: webhook(form("NumMedia", "21")), status: 400, body: "NumMedia"},
		{name: "MediaUrl0 missing", req: webhook(form("NumMedia", "1")), status: 400, body: "MediaUrl0"},
		{name: "MessageSid missing", req: webhook(noForm("MessageSid", "SmsMessageSid", "SmsSid")), status: 400, body: "MessageSid is required"},
		{name: "MessageSid too long", req: webhook(form("MessageSid", "SM"+strings.Repeat("0", 63))), status: 400, body: "MessageSid is too long"},
		{name: "From too long", req: webhook(form("From", "+1"+strings.Repeat("5", 70))), status: 400},
		{name: "To too long", req: webhook(form("To", "+1"+strings.Repeat("5", 70))), status: 400, body: "too long"},
		{name: "duplicate MessageSid", req: webhook(func(e *badEnv, r *h) {
			r.Form = twiliosim.InboundParamsFor(e.l.AccountSID, e.firstFrom, e.l.Number, "first", e.firstSID)
		}), status: 200, body: "<Response/>"},
		{name: "duplicate MessageSid, other content", req: webhook(func(e *badEnv, r *h) {
			r.Form = twiliosim.InboundParamsFor(e.l.AccountSID, "+15557770011", e.l.Number, "replayed", e.firstSID)
		}), status: 200, body: "<Response/>"},
		{name: "duplicate MessageSid under another I-Twilio-Idempotency-Token", req: webhook(func(e *badEnv, r *h) {
			r.Form = twiliosim.InboundParamsFor(e.l.AccountSID, e.firstFrom, e.l.Number, "first", e.firstSID)
			r.Header.Set("I-Twilio-Idempotency-Token", "idem-"+twiliosim.NewMessageSID())
		}), status: 200, body: "<Response/>"},
		{name: "GET", req: webhook(func(_ *badEnv, r *h) { r.Method, r.RawBody, r.ContentType = http.MethodGet, ptr(""), "" }), status: 405},
		{name: "PUT", req: webhook(func(_ *badEnv, r *h) { r.Method = http.MethodPut }), status: 405},
	}
}

// statusRows are the status callback's rows.
func statusRows() []badRow {
	type h = hookReq
	form := func(k, v string) func(*badEnv, *h) { return func(_ *badEnv, r *h) { r.Form.Set(k, v) } }
	return []badRow{
		{name: "missing channelProviderId", req: callback(func(_ *badEnv, r *h) { r.Query = nil }), status: 400, body: "channelProviderId"},
		{name: "unknown provider", req: callback(func(_ *badEnv, r *h) { r.Query.Set("channelProviderId", "prov_nope") }), status: 400, body: "unknown channel provider"},
		{name: "LLM provider", req: callback(func(e *badEnv, r *h) { r.Query.Set("channelProviderId", e.l.LLMID) }), status: 400, body: "unknown channel provider"},
		{name: "missing signature", req: callback(func(_ *badEnv, r *h) { r.NoSignature = true }), status: 403},
		{name: "garbage signature", req: callback(func(_ *badEnv, r *h) { r.Signature = "forged" }), status: 403},
		{name: "signature with another provider's token", req: callback(func(e *badEnv, r *h) { r.SignToken = e.other.AuthToken }), status: 403},
		{name: "forged delivery failure of a sent message", req: callback(func(e *badEnv, r *h) {
			r.Form.Set("MessageSid", e.outboundSID)
			r.Form.Set("MessageStatus", "failed")
			r.Form.Set("ErrorCode", "30008")
			r.Signature = "forged"
		}), status: 403},
		{name: "status changed after signing", req: callback(func(_ *badEnv, r *h) {
			r.SignForm = cloneForm(r.Form)
			r.Form.Set("MessageStatus", "failed")
		}), status: 403},
		{name: "JSON body", req: callback(func(_ *badEnv, r *h) {
			r.ContentType, r.RawBody = "application/json", ptr(`{"MessageSid":"SM1","MessageStatus":"failed"}`)
		}), status: 400, body: "Content-Type"},
		{name: "malformed form encoding", req: callback(func(_ *badEnv, r *h) { r.RawBody = ptr("MessageSid=%zz") }), status: 400},
		{name: "missing MessageSid", req: callback(func(_ *badEnv, r *h) { r.Form.Del("MessageSid") }), status: 400, body: "MessageSid and MessageStatus"},
		{name: "missing MessageStatus", req: callback(func(_ *badEnv, r *h) { r.Form.Del("MessageStatus") }), status: 400, body: "MessageSid and MessageStatus"},
		{name: "unknown MessageStatus", req: callback(form("MessageStatus", "exploded")), status: 400, body: "unknown MessageStatus"},
		{name: "ErrorCode not an integer", req: callback(form("ErrorCode", "30008x")), status: 400, body: "ErrorCode"},
		{name: "unknown message SID", req: callback(func(*badEnv, *h) {}), status: 204},
		{name: "ref not a number", req: callback(func(_ *badEnv, r *h) { r.Query.Set("ref", "12ab") }), status: 400, body: "ref must be a positive integer"},
		{name: "ref negative", req: callback(func(_ *badEnv, r *h) { r.Query.Set("ref", "-1024") }), status: 400, body: "ref must be a positive integer"},
		{name: "ref of no message", req: callback(func(_ *badEnv, r *h) { r.Query.Set("ref", "9223372036854775807") }), status: 204},
		{name: "unknown message SID, failed", req: callback(func(_ *badEnv, r *h) {
			r.Form.Set("MessageStatus", "undelivered")
			r.Form.Set("ErrorCode", "30003")
		}), status: 204},
		// A callback signed with provider B's token on B's query, for a
		// message sent through provider A: acknowledged (so Twilio stops
		// retrying) and it changes nothing.
		{name: "other provider's callback for this provider's message", req: callback(func(e *badEnv, r *h) {
			r.Query.Set("channelProviderId", e.other.ProviderID)
			r.SignToken = e.other.AuthToken
			r.Form.Set("AccountSid", e.other.AccountSID)
			r.Form.Set("MessageSid", e.outboundSID)
			r.Form.Set("MessageStatus", "failed")
			r.Form.Set("ErrorCode", "30008")
		}), status: 204},
	}
}

// apiRows are the operator API's rows.
func apiRows() []badRow {
	huge := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	twilioCfg := func(change string) string {
		return `{"name":"T","providerType":"channel","apiType":"twilio_messaging","config":{` + change + `}}`
	}
	const (
		sid   = `"accountSid":"{accountSid}"`
		tok   = `"authToken":"abc123def456"`
		from  = `"fromNumber":"+15550004444"`
		base  = `"apiBaseUrl":"{simURL}"`
		valid = sid + "," + tok + "," + from + "," + base
	)
	stage := func(fields string) string {
		return `{"name":"S","llmProviderId":"{llm}","llmSettings":{"model":"m"}` + fields + `}`
	}
	// An exchange bundle (POST /api/projects/import) with one agent and
	// the stages given.
	bundle := func(stages string) string {
		return `{"formatVersion":1,"exportedAt":"2026-11-30T09:41:12.345Z","project":{"id":"p1","name":"P"},` +
			`"agents":[{"id":"a1","name":"A","prompt":"p"}],"stages":[` + stages + `]}`
	}
	const goodStage = `{"id":"s1","name":"S","prompt":"p","agentId":"a1","llmHint":{"type":"llm","apiType":"scripted"}}`
	hugeImport := `{"formatVersion":1,"knowledgeItems":[{"answer":"` + strings.Repeat("a", 8<<20) + `"}]}`
	return []badRow{
		// Authentication.
		{name: "no token", req: op("", "GET", "/api/projects", ""), status: 401, body: "missing bearer token"},
		{name: "Basic authorization", req: opAuth("Basic YWRtaW46cGFzc3dvcmQ=", "GET", "/api/projects", ""), status: 401},
		{name: "Bearer without token", req: opAuth("Bearer ", "GET", "/api/projects", ""), status: 401},
		{name: "garbage token", req: opAuth("Bearer not-a-token", "GET", "/api/projects", ""), status: 401, body: "invalid or expired token"},
		{name: "logged-out token", req: op("logged_out", "GET", "/api/projects", ""), status: 401},
		{name: "refresh token as access token", req: op("refresh_as_access", "GET", "/api/projects", ""), status: 401},
		{name: "webhook API key as access token", req: opAuth("Bearer {apiKey}", "GET", "/api/projects", ""), status: 401},
		{name: "token of a deactivated operator", req: op("retired", "GET", "/api/projects", ""), status: 401},
		{name: "no token, state-changing route", req: op("", "DELETE", "/api/projects/{project}?version=1", ""), status: 401},

		// Permissions.
		{name: "viewer creates a project", req: op("viewer", "POST", "/api/projects", `{"name":"x"}`), status: 403, body: "project:write"},
		{name: "viewer deletes a project", req: op("viewer", "DELETE", "/api/projects/{project}?version=1", ""), status: 403},
		{name: "viewer lists operators", req: op("viewer", "GET", "/api/operators", ""), status: 403},
		{name: "viewer deletes a conversation", req: op("viewer", "DELETE", "/api/projects/{project}/conversations/{conversation}?version=1", ""), status: 403},
		{name: "support reads providers", req: op("support", "GET", "/api/providers", ""), status: 403, body: "provider:read"},
		{name: "support reads API keys", req: op("support", "GET", "/api/projects/{project}/api-keys", ""), status: 403},
		{name: "support edits a stage", req: op("support", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"name":"x"}`), status: 403},
		{name: "support deletes a conversation", req: op("support", "DELETE", "/api/projects/{project}/conversations/{conversation}?version=1", ""), status: 403},
		{name: "content_manager creates a provider", req: op("content_manager", "POST", "/api/providers", twilioCfg(valid)), status: 403, body: "provider:write"},
		{name: "content_manager edits a provider", req: op("content_manager", "PUT", "/api/providers/{provider}", `{"version":1,"name":"x"}`), status: 403},
		{name: "content_manager creates an API key", req: op("content_manager", "POST", "/api/projects/{project}/api-keys", `{"name":"k"}`), status: 403},
		{name: "developer creates an operator", req: op("developer", "POST", "/api/operators", `{"id":"eve","name":"Eve","password":"long enough pw","roles":["super_admin"]}`), status: 403, body: "operator:write"},
		{name: "developer promotes itself", req: op("developer", "PUT", "/api/operators/developer", `{"version":1,"roles":["super_admin"]}`), status: 403},

		// Bonsai's features Switchboard does not have (issue 14): lists
		// are empty, changes refused with 400, and nothing is stored.
		{name: "create a classifier", req: op("content_manager", "POST", "/api/projects/{project}/classifiers", `{"name":"intent","prompt":"x"}`), status: 400, body: "Switchboard does not support classifiers"},
		{name: "clone a tool", req: op("admin", "POST", "/api/projects/{project}/tools/t1/clone", `{}`), status: 400, body: "not_supported"},
		{name: "edit a knowledge item", req: op("admin", "PUT", "/api/projects/{project}/knowledge/items/k1", `{"version":1,"question":"q"}`), status: 400, body: "Switchboard does not support knowledge bases"},
		{name: "delete an environment", req: op("admin", "DELETE", "/api/environments/env1", ""), status: 400, body: "Switchboard does not support environments"},
		{name: "pull from an environment", req: op("admin", "POST", "/api/environments/env1/migration/pull", `{}`), status: 400, body: "not_supported"},
		{name: "file an issue", req: op("support", "POST", "/api/issues", `{"title":"x"}`), status: 400, body: "Switchboard does not support issues"},
		{name: "viewer creates a guardrail", req: op("viewer", "POST", "/api/projects/{project}/guardrails", `{"name":"g"}`), status: 403, body: "guardrail:write"},
		{name: "support lists classifiers", req: op("support", "GET", "/api/projects/{project}/classifiers", ""), status: 403, body: "classifier:read"},
		{name: "a Bonsai-only list with a bad offset", req: op("admin", "GET", "/api/projects/{project}/tools?offset=x", ""), status: 400, body: "offset"},
		{name: "a Bonsai-only list of an unknown project", req: op("admin", "GET", "/api/projects/nope/sample-copies", ""), status: 404},
		{name: "create a classifier with a huge body", req: op("admin", "POST", "/api/projects/{project}/classifiers", huge), status: 400, body: "Switchboard does not support"},

		// Bonsai's project exchange (issue 14): a refused import creates
		// nothing — not the project, not the agents before the bad stage.
		{name: "viewer imports a project", req: op("viewer", "POST", "/api/projects/import", bundle(goodStage)), status: 403, body: "project:write"},
		{name: "support imports a project", req: op("support", "POST", "/api/projects/import", bundle(goodStage)), status: 403, body: "project:write"},
		{name: "import without a token", req: op("", "POST", "/api/projects/import", bundle(goodStage)), status: 401},
		{name: "import of something that is not a bundle", req: op("admin", "POST", "/api/projects/import", `{"name":"x"}`), status: 400, body: "formatVersion"},
		{name: "import of a newer bundle format", req: op("admin", "POST", "/api/projects/import", strings.Replace(bundle(goodStage), `"formatVersion":1`, `"formatVersion":2`, 1)), status: 400, body: "unsupported exchange format version 2"},
		{name: "import of a stage on an agent not in the bundle", req: op("admin", "POST", "/api/projects/import", bundle(strings.Replace(goodStage, `"agentId":"a1"`, `"agentId":"{agent}"`, 1))), status: 400, body: "stages[0].agentId"},
		{name: "import of a stage without an LLM hint", req: op("admin", "POST", "/api/projects/import", bundle(strings.Replace(goodStage, `{"type":"llm","apiType":"scripted"}`, `null`, 1))), status: 400, body: "stages[0].llmHint"},
		{name: "import whose last stage is bad", req: op("admin", "POST", "/api/projects/import", bundle(goodStage+`,`+strings.Replace(goodStage, `"id":"s1"`, `"id":"s2","llmSettings":{"timeout":"5s"}`, 1))), status: 400, body: "stages[1].llmSettings.timeout"},
		{name: "import with classifiers that are no array", req: op("admin", "POST", "/api/projects/import", strings.Replace(bundle(goodStage), `"agents"`, `"classifiers":{},"agents"`, 1)), status: 400, body: "classifiers"},
		{name: "import of a project without a name", req: op("admin", "POST", "/api/projects/import", strings.Replace(bundle(goodStage), `"name":"P"`, `"name":""`, 1)), status: 400, body: "project.name"},
		{name: "import over 8 MiB", req: op("admin", "POST", "/api/projects/import", hugeImport), status: 413, body: "exceeds"},
		{name: "import sent as text/plain", req: opCT("admin", "POST", "/api/projects/import", "text/plain", bundle(goodStage)), status: 415},
		{name: "export of an unknown project", req: op("admin", "GET", "/api/projects/nope/export", ""), status: 404},
		{name: "POST to an export", req: op("admin", "POST", "/api/projects/{project}/export", `{}`), status: 405},

		// The provider catalog (public, as in Bonsai).
		{name: "provider catalog of an unknown category", req: op("", "GET", "/api/provider-catalog/video", ""), status: 404, body: "no provider category"},
		{name: "provider catalog entry of an unknown apiType", req: op("", "GET", "/api/provider-catalog/llm/bard", ""), status: 404, body: "twilio_messaging"},
		{name: "provider catalog entry in the wrong category", req: op("", "GET", "/api/provider-catalog/llm/twilio_messaging", ""), status: 404},
		{name: "POST to the provider catalog", req: op("admin", "POST", "/api/provider-catalog", `{"apiType":"x"}`), status: 405},

		// Users (issue 14 #7): the senders of a project, read-only; the
		// conversation list's filter by user.
		{name: "a user who never texted", req: op("admin", "GET", "/api/projects/{project}/users/+15550000000", ""), status: 404, body: "not found"},
		{name: "a user of another project", req: op("admin", "GET", "/api/projects/{otherProject}/users/{user}", ""), status: 404},
		{name: "users of an unknown project", req: op("admin", "GET", "/api/projects/nope/users", ""), status: 404},
		{name: "users with a bad offset", req: op("admin", "GET", "/api/projects/{project}/users?offset=-1", ""), status: 400, body: "offset"},
		{name: "users with a search too long", req: op("admin", "GET", "/api/projects/{project}/users?textSearch="+strings.Repeat("5", 201), ""), status: 400, body: "textSearch"},
		{name: "users with a bad limit", req: op("admin", "GET", "/api/projects/{project}/users?limit=ten", ""), status: 400, body: "limit"},
		{name: "create a user", req: op("admin", "POST", "/api/projects/{project}/users", `{"id":"u1","profile":{"name":"x"}}`), status: 400, body: "does not support creating, editing or deleting users"},
		{name: "ban a user", req: op("support", "PUT", "/api/projects/{project}/users/{user}", `{"banned":true,"banReason":"spam"}`), status: 400, body: "not_supported"},
		{name: "delete a user", req: op("admin", "DELETE", "/api/projects/{project}/users/{user}", ""), status: 400, body: "not_supported"},
		{name: "viewer edits a user", req: op("viewer", "PUT", "/api/projects/{project}/users/{user}", `{"profile":{"name":"x"}}`), status: 403, body: "user:write"},
		{name: "conversations by a user filter without a value", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[userId][op]=eq", ""), status: 400, body: "filters[userId]"},
		{name: "conversations by an unknown Bonsai status", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[status]=active", ""), status: 400, body: "filters[status]"},
		{name: "conversations by statusDetails between one value", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[statusDetails][op]=between&filters[statusDetails][value]=opt_out", ""), status: 400, body: "filters[statusDetails]"},
		{name: "conversations by a field they lack", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[password]=x", ""), status: 400, body: "filters[password]"},
		{name: "conversations ordered by a field they lack", req: op("admin", "GET", "/api/projects/{project}/conversations?orderBy=-password", ""), status: 400, body: "orderBy"},
		{name: "conversations with an unknown operator", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[createdAt][op]=near&filters[createdAt][value]=2026-01-01", ""), status: 400, body: "filters[createdAt]"},
		{name: "conversations with like on a time", req: op("admin", "GET", "/api/projects/{project}/conversations?filters[createdAt][op]=like&filters[createdAt][value]=2026%25", ""), status: 400, body: "filters[createdAt]"},
		{name: "events by a non-numeric id", req: op("admin", "GET", "/api/projects/{project}/conversations/{conversation}/events?filters[id]=abc", ""), status: 400, body: "filters[id]"},
		{name: "outbound ordered by a field it lacks", req: op("admin", "GET", "/api/projects/{project}/conversations/{conversation}/messages?orderBy=colour", ""), status: 400, body: "orderBy"},
		{name: "users by a field they lack", req: op("admin", "GET", "/api/projects/{project}/users?filters[banned]=true", ""), status: 400, body: "filters[banned]"},
		{name: "projects by an archived flag not true or false", req: op("admin", "GET", "/api/projects?archived=yes", ""), status: 400, body: "archived"},
		{name: "projects filtered by a malformed key", req: op("admin", "GET", "/api/projects?filters[name][x][y]=a", ""), status: 400, body: "filters[name][x][y]"},
		{name: "projects with eq of two values", req: op("admin", "GET", "/api/projects?filters[name][op]=eq&filters[name][value][]=a&filters[name][value][]=b", ""), status: 400, body: "filters[name]"},
		{name: "projects between one value", req: op("admin", "GET", "/api/projects?filters[createdAt][op]=between&filters[createdAt][value]=2026-01-01", ""), status: 400, body: "filters[createdAt]"},
		{name: "projects with a value and an op", req: op("admin", "GET", "/api/projects?filters[name]=a&filters[name][op]=ne&filters[name][value]=b", ""), status: 400, body: "filters[name]"},
		{name: "projects with a limit over 1000", req: op("admin", "GET", "/api/projects?limit=1001", ""), status: 400, body: "limit"},
		{name: "projects with a limit of 0", req: op("admin", "GET", "/api/projects?limit=0", ""), status: 400, body: "limit"},
		{name: "agents by their tags (Switchboard's have none)", req: op("admin", "GET", "/api/projects/{project}/agents?filters[tags]=vip", ""), status: 400, body: "filters[tags]"},
		{name: "api keys ordered by the key", req: op("admin", "GET", "/api/api-keys?orderBy=keyHash", ""), status: 400, body: "orderBy"},
		{name: "operators by their password", req: op("admin", "GET", "/api/operators?filters[passwordHash][op]=like&filters[passwordHash][value]=%25", ""), status: 400, body: "filters[passwordHash]"},
		{name: "providers by their config", req: op("admin", "GET", "/api/providers?filters[config]=x", ""), status: 400, body: "filters[config]"},
		{name: "providers ordered by tags", req: op("admin", "GET", "/api/providers?orderBy=tags", ""), status: 400, body: "orderBy"},
		{name: "stages with a search too long", req: op("admin", "GET", "/api/projects/{project}/stages?textSearch="+strings.Repeat("a", 201), ""), status: 400, body: "textSearch"},
		{name: "a Bonsai-only list by a field it lacks", req: op("admin", "GET", "/api/projects/{project}/tools?filters[colour]=red", ""), status: 400, body: "filters[colour]"},
		{name: "a Bonsai-only list ordered by a field it lacks", req: op("admin", "GET", "/api/issues?orderBy=colour", ""), status: 400, body: "orderBy"},

		// Cross-origin requests (CORS_ALLOWED_ORIGINS is the console's
		// origin in this suite).
		{name: "CORS preflight from an origin not allowed", req: withHeaders(op("", "OPTIONS", "/api/auth/login", ""),
			"Origin", "https://evil.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type"),
			status: 403, body: "CORS_ALLOWED_ORIGINS", noHeaderPrefix: "Access-Control-"},
		{name: "CORS preflight from a sandboxed page (Origin: null)", req: withHeaders(op("", "OPTIONS", "/api/projects", ""),
			"Origin", "null", "Access-Control-Request-Method", "POST"),
			status: 403, body: "CORS_ALLOWED_ORIGINS", noHeaderPrefix: "Access-Control-"},
		{name: "CORS preflight from the console's host on another port", req: withHeaders(op("", "OPTIONS", "/api/projects/{project}", ""),
			"Origin", "https://console.example.com:8443", "Access-Control-Request-Method", "DELETE"),
			status: 403, body: "CORS_ALLOWED_ORIGINS", noHeaderPrefix: "Access-Control-"},

		// Routing and bodies.
		{name: "unknown route", req: op("admin", "GET", "/api/nope", ""), status: 404},
		{name: "unknown nested route", req: op("admin", "GET", "/api/projects/{project}/nope", ""), status: 404},
		{name: "wrong method", req: op("admin", "PATCH", "/api/projects", `{"name":"x"}`), status: 405},
		// OPTIONS is answered (204, Allow) since CORS (issue 14): a
		// preflight must never become 405.
		{name: "OPTIONS", req: op("admin", "OPTIONS", "/api/projects", ""), status: 204},
		{name: "DELETE on a collection", req: op("admin", "DELETE", "/api/projects", ""), status: 405},
		{name: "malformed JSON", req: op("admin", "POST", "/api/projects", `{"name":`), status: 400, body: "malformed JSON"},
		{name: "JSON array", req: op("admin", "POST", "/api/projects", `[{"name":"x"}]`), status: 400, body: "JSON object"},
		{name: "empty body", req: op("admin", "POST", "/api/projects", ""), status: 400, body: "JSON object"},
		{name: "JSON body sent as text/plain", req: opCT("admin", "POST", "/api/projects", "text/plain", `{"name":"x"}`), status: 415, body: "application/json"},
		{name: "setup claimed with a form post", req: opCT("", "POST", "/api/setup/initial-operator", "application/x-www-form-urlencoded", `{"id":"evil","name":"Evil","password":"evil-password"}`), status: 415},
		{name: "trailing garbage after JSON", req: op("admin", "POST", "/api/projects", `{"name":"x"} {"name":"y"}`), status: 400},
		{name: "body over 1 MiB", req: op("admin", "POST", "/api/projects", huge), status: 413, body: "exceeds"},
		{name: "name of the wrong type", req: op("admin", "POST", "/api/projects", `{"name":5}`), status: 400, body: "name"},
		{name: "roles of the wrong type", req: op("admin", "POST", "/api/operators", `{"id":"x1","name":"X","password":"long enough pw","roles":"viewer"}`), status: 400, body: "roles"},
		{name: "config of the wrong type", req: op("admin", "POST", "/api/providers", `{"name":"T","apiType":"twilio_messaging","config":"x"}`), status: 400, body: "config"},
		{name: "allowedChannels of the wrong type", req: op("admin", "POST", "/api/projects/{project}/api-keys", `{"name":"k","allowedChannels":"twilio_messaging"}`), status: 400, body: "allowedChannels"},
		{name: "llmSettings.timeout of the wrong type", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"llmSettings":{"model":"m","timeout":"5s"}`)), status: 400, body: "timeout"},
		{name: "version of the wrong type", req: op("admin", "PUT", "/api/projects/{project}", `{"version":"1","name":"x"}`), status: 400, body: "version"},
		{name: "missing name", req: op("admin", "POST", "/api/projects", `{"description":"x"}`), status: 400, body: "name"},
		{name: "blank name", req: op("admin", "POST", "/api/projects", `{"name":"   "}`), status: 400, body: "name"},
		{name: "name too long", req: op("admin", "POST", "/api/projects", `{"name":"`+strings.Repeat("n", 201)+`"}`), status: 400, body: "name"},
		{name: "name with NUL", req: op("admin", "POST", "/api/projects", `{"name":"a\u0000b"}`), status: 400, body: "control characters"},
		{name: "name with a line break", req: op("admin", "POST", "/api/projects", `{"name":"a\nFAKE LOG LINE"}`), status: 400, body: "control characters"},
		{name: "agent name with an escape sequence", req: op("admin", "POST", "/api/projects/{project}/agents", `{"name":"\u001b[31mred","prompt":"p"}`), status: 400, body: "control characters"},
		{name: "bad id", req: op("admin", "POST", "/api/projects", `{"id":"../etc/passwd","name":"x"}`), status: 400, body: "id"},
		{name: "id taken", req: op("admin", "POST", "/api/projects", `{"id":"{project}","name":"x"}`), status: 409},
		{name: "bad list limit", req: op("admin", "GET", "/api/projects?limit=-1", ""), status: 400, body: "limit"},
		{name: "bad list offset", req: op("admin", "GET", "/api/projects?offset=x", ""), status: 400, body: "offset"},

		// Ids and versions.
		{name: "unknown project", req: op("admin", "GET", "/api/projects/prj_nope", ""), status: 404},
		{name: "update of an unknown project", req: op("admin", "PUT", "/api/projects/prj_nope", `{"version":1,"name":"x"}`), status: 404},
		{name: "stage under another project", req: op("admin", "GET", "/api/projects/{otherProject}/stages/{stage}", ""), status: 404},
		{name: "stage update under another project", req: op("admin", "PUT", "/api/projects/{otherProject}/stages/{stage}", `{"version":1,"name":"x"}`), status: 404},
		{name: "conversation under another project", req: op("admin", "GET", "/api/projects/{otherProject}/conversations/{conversation}", ""), status: 404},
		{name: "conversation deleted under another project", req: op("admin", "DELETE", "/api/projects/{otherProject}/conversations/{conversation}?version=1", ""), status: 404},
		{name: "conversation deleted with a stale version", req: op("admin", "DELETE", "/api/projects/{project}/conversations/{conversation}?version=99", ""), status: 409},
		{name: "update without version", req: op("admin", "PUT", "/api/projects/{project}", `{"name":"x"}`), status: 400, body: "version"},
		{name: "update with version 0", req: op("admin", "PUT", "/api/projects/{project}", `{"version":0,"name":"x"}`), status: 400, body: "version"},
		{name: "version beyond int64", req: op("admin", "PUT", "/api/projects/{project}", `{"version":9223372036854775808,"name":"x"}`), status: 400, body: "version"},
		{name: "update with a stale version", req: op("admin", "PUT", "/api/projects/{project}", `{"version":99,"name":"x"}`), status: 409, body: "version"},
		{name: "provider update with a stale version", req: op("admin", "PUT", "/api/providers/{provider}", `{"version":99,"name":"x"}`), status: 409},
		{name: "delete with a stale version", req: op("admin", "DELETE", "/api/projects/{project}?version=99", ""), status: 409},
		{name: "delete without version", req: op("admin", "DELETE", "/api/projects/{project}", ""), status: 400, body: "version"},
		{name: "delete with a bad version", req: op("admin", "DELETE", "/api/projects/{project}/stages/{stage}?version=x", ""), status: 400, body: "version"},
		{name: "delete with a negative version", req: op("admin", "DELETE", "/api/projects/{project}?version=-1", ""), status: 400, body: "version"},
		{name: "API key under another project", req: op("admin", "PUT", "/api/projects/{otherProject}/api-keys/{inactiveKeyID}", `{"version":2,"isActive":true}`), status: 404},
		{name: "delete of an unknown stage", req: op("admin", "DELETE", "/api/projects/{project}/stages/stg_nope?version=1", ""), status: 404},

		// Providers.
		{name: "unknown apiType", req: op("admin", "POST", "/api/providers", `{"name":"T","apiType":"carrier_pigeon","config":{}}`), status: 400, body: "apiType"},
		{name: "providerType that does not fit", req: op("admin", "POST", "/api/providers", `{"name":"T","providerType":"llm","apiType":"twilio_messaging","config":{`+valid+`}}`), status: 400, body: "providerType"},
		{name: "twilio without config", req: op("admin", "POST", "/api/providers", `{"name":"T","apiType":"twilio_messaging"}`), status: 400, body: "config.accountSid"},
		{name: "bad accountSid", req: op("admin", "POST", "/api/providers", twilioCfg(`"accountSid":"AC123",`+tok+","+from)), status: 400, body: "config.accountSid"},
		{name: "accountSid of the wrong type", req: op("admin", "POST", "/api/providers", twilioCfg(`"accountSid":12345,`+tok+","+from)), status: 400, body: "config.accountSid"},
		{name: "authToken not alphanumeric", req: op("admin", "POST", "/api/providers", twilioCfg(sid+`,"authToken":"abc-123!",`+from)), status: 400, body: "config.authToken"},
		{name: "bad fromNumber", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+`,"fromNumber":"5551234"`)), status: 400, body: "config.fromNumber"},
		{name: "apiBaseUrl ftp://", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+","+from+`,"apiBaseUrl":"ftp://twilio.example"`)), status: 400, body: "config.apiBaseUrl"},
		{name: "unknown config key", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"webhookSecret":"x"`)), status: 400, body: "config.webhookSecret"},
		{name: "masked secret that does not match", req: op("admin", "PUT", "/api/providers/{provider}",
			`{"version":1,"config":{`+sid+`,"authToken":"••••zzzz","fromNumber":"+15550001000",`+base+`}}`), status: 400, body: "config.authToken"},
		// Issue 11 #1: a stored secret never follows a changed destination.
		{name: "developer sends the masked token to another apiBaseUrl", req: op("developer", "PUT", "/api/providers/{provider}",
			`{"version":1,"config":{`+sid+`,"authToken":"{maskedToken}","fromNumber":"+15550001000","apiBaseUrl":"http://127.0.0.1:9"}}`), status: 400, body: "config.apiBaseUrl"},
		{name: "developer clears apiBaseUrl with the masked token", req: op("developer", "PUT", "/api/providers/{provider}",
			`{"version":1,"config":{`+sid+`,"authToken":"{maskedToken}","fromNumber":"+15550001000","apiBaseUrl":""}}`), status: 400, body: "config.authToken"},
		{name: "masked token with another accountSid", req: op("developer", "PUT", "/api/providers/{provider}",
			`{"version":1,"config":{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"{maskedToken}","fromNumber":"+15550001000",`+base+`}}`), status: 400, body: "config.accountSid"},
		{name: "apiBaseUrl with credentials", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+","+from+`,"apiBaseUrl":"https://user:pw@twilio.example"`)), status: 400, body: "config.apiBaseUrl"},
		{name: "apiBaseUrl on a link-local metadata address", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+","+from+`,"apiBaseUrl":"http://169.254.169.254"`)), status: 400, body: "config.apiBaseUrl"},
		{name: "apiBaseUrl on a metadata address inside NAT64", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+","+from+`,"apiBaseUrl":"http://[64:ff9b::a9fe:a9fe]"`)), status: 400, body: "(169.254.169.254)"},
		{name: "ollama baseUrl on Alibaba Cloud's metadata address", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"ollama","config":{"baseUrl":"http://100.100.100.200"}}`), status: 400, body: "config.baseUrl"},
		{name: "openai baseUrl with a numeric host", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai-legacy","config":{"apiKey":"k","baseUrl":"http://0xa9fea9fe/v1"}}`), status: 400, body: "host must be a DNS name or a standard IP address"},
		{name: "openai baseUrl with a query", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai-legacy","config":{"apiKey":"sk-test-123456789","baseUrl":"https://api.example.com/v1?x=1"}}`), status: 400, body: "config.baseUrl"},
		{name: "masked secret on create", req: op("admin", "POST", "/api/providers", twilioCfg(sid+`,"authToken":"{maskedToken}",`+from)), status: 400, body: "config.authToken"},
		// Issue 16: API key authentication, both fields or neither.
		{name: "apiKeySecret without apiKeySid", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"apiKeySecret":"keysecret0123456789"`)), status: 400, body: "config.apiKeySid: required with config.apiKeySecret"},
		{name: "apiKeySid without apiKeySecret", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"apiKeySid":"SK0123456789abcdef0123456789abcdef"`)), status: 400, body: "config.apiKeySecret: required with config.apiKeySid"},
		{name: "apiKeySid that is an account SID", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"apiKeySid":"{accountSid}","apiKeySecret":"keysecret0123456789"`)), status: 400, body: "config.apiKeySid"},
		{name: "apiKeySecret not alphanumeric", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"apiKeySid":"SK0123456789abcdef0123456789abcdef","apiKeySecret":"key secret!"`)), status: 400, body: "config.apiKeySecret"},
		{name: "apiKeySecret of the wrong type", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"apiKeySid":"SK0123456789abcdef0123456789abcdef","apiKeySecret":123`)), status: 400, body: "config.apiKeySecret"},
		// Issue 16: Messaging Services.
		{name: "messagingServiceSid of the wrong form", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"messagingServiceSid":"MG123"`)), status: 400, body: "config.messagingServiceSid"},
		{name: "messagingServiceSid of the wrong type", req: op("admin", "POST", "/api/providers", twilioCfg(valid+`,"messagingServiceSid":7`)), status: 400, body: "config.messagingServiceSid"},
		{name: "neither fromNumber nor messagingServiceSid", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+","+base)), status: 400, body: "config.fromNumber: required unless config.messagingServiceSid is set"},
		{name: "empty fromNumber without a service", req: op("admin", "POST", "/api/providers", twilioCfg(sid+","+tok+`,"fromNumber":""`)), status: 400, body: "config.fromNumber"},
		{name: "masked apiKeySecret with no stored key", req: op("developer", "PUT", "/api/providers/{provider}",
			`{"version":1,"config":{`+sid+`,"authToken":"{maskedToken}","fromNumber":"+15550001000",`+base+`,"apiKeySid":"SK0123456789abcdef0123456789abcdef","apiKeySecret":"••••zzzz"}}`), status: 400, body: "config.apiKeySecret"},
		{name: "config null on update", req: op("admin", "PUT", "/api/providers/{provider}", `{"version":1,"config":null}`), status: 400, body: "config.accountSid"},
		{name: "apiType changed without a fitting config", req: op("admin", "PUT", "/api/providers/{llm}", `{"version":1,"apiType":"twilio_messaging"}`), status: 400, body: "required when apiType changes"},
		{name: "openai without apiKey", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai-legacy","config":{"baseUrl":"https://api.openai.com/v1"}}`), status: 400, body: "config.apiKey"},
		{name: "anthropic without apiKey", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"anthropic","config":{"baseUrl":"https://api.anthropic.com"}}`), status: 400, body: "config.apiKey"},
		{name: "groq with OpenRouter's header key", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"groq","config":{"apiKey":"gsk-1","httpReferer":"https://x.example"}}`), status: 400, body: "config.httpReferer"},
		{name: "gemini baseUrl on a metadata address", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"gemini","config":{"apiKey":"AIza-1","baseUrl":"http://169.254.169.254"}}`), status: 400, body: "config.baseUrl"},
		{name: "openai (Responses) with a deepseek-only shape", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai","config":{"apiKey":"sk-1","xTitle":"x"}}`), status: 400, body: "config.xTitle"},
		{name: "models of an unknown provider", req: op("admin", "GET", "/api/providers/prov_nope/models", ""), status: 404},
		{name: "models of a channel provider", req: op("admin", "GET", "/api/providers/{provider}/models", ""), status: 400, body: "not an LLM provider"},
		{name: "models without a token", req: op("", "GET", "/api/providers/{llm}/models", ""), status: 401, body: "missing bearer token"},
		{name: "support lists a provider's models", req: op("support", "GET", "/api/providers/{llm}/models", ""), status: 403, body: "provider:read"},
		{name: "openai baseUrl javascript:", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai-legacy","config":{"apiKey":"k","baseUrl":"javascript:alert(1)"}}`), status: 400, body: "config.baseUrl"},
		{name: "openai baseUrl without host", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"openai-legacy","config":{"apiKey":"k","baseUrl":"http://"}}`), status: 400, body: "config.baseUrl"},
		{name: "ollama baseUrl ftp://", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"ollama","config":{"baseUrl":"ftp://localhost:11434"}}`), status: 400, body: "config.baseUrl"},
		{name: "scripted invalid regexp", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"rules":[{"match":"(","reply":"x"}]}}`), status: 400, body: "invalid regexp"},
		{name: "scripted invalid template", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"defaultReply":"{{.Text"}}`), status: 400, body: "invalid template"},
		{name: "scripted rule null", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"rules":[null]}}`), status: 400, body: "config.rules[0]"},
		{name: "scripted rule without reply", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"rules":[{"match":"x"}]}}`), status: 400, body: "config.rules[0].reply"},
		{name: "scripted rules of the wrong type", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"rules":{"match":"x"}}}`), status: 400, body: "config.rules"},
		// A template that parses but would fail every turn is refused when
		// the provider is saved.
		{name: "scripted template with an unknown field", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"defaultReply":"{{.NoSuchField}}"}}`),
			status: 400, body: "config.defaultReply"},
		{name: "scripted template calling an undefined template", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"defaultReply":"{{template \"x\"}}"}}`),
			status: 400, body: "config.defaultReply"},
		{name: "scripted template looping a billion times", req: op("admin", "POST", "/api/providers", `{"name":"L","apiType":"scripted","config":{"rules":[{"match":"x","reply":"{{range 1000000000}}x{{end}}"}]}}`),
			status: 400, body: "config.rules[0].reply"},

		// Stages, API keys, operators.
		{name: "stage with a missing LLM provider", req: op("admin", "POST", "/api/projects/{project}/stages", `{"name":"S","llmProviderId":"prov_nope","llmSettings":{"model":"m"}}`), status: 400, body: "llmProviderId"},
		{name: "stage with a channel provider as LLM", req: op("admin", "POST", "/api/projects/{project}/stages", `{"name":"S","llmProviderId":"{provider}","llmSettings":{"model":"m"}}`), status: 400, body: "llmProviderId"},
		{name: "stage with an agent of another project", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"agentId":"{otherAgent}"`)), status: 400, body: "agentId"},
		{name: "stage update to an agent of another project", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"agentId":"{otherAgent}"}`), status: 400, body: "agentId"},
		{name: "stage with a bad enterBehavior", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"enterBehavior":"sing"`)), status: 400, body: "enterBehavior"},
		{name: "stage with an unknown replyFormat", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"replyFormat":"markdown"}`)), status: 400, body: "metadata.replyFormat"},
		{name: "stage with a non-string replyFormat", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"replyFormat":1}`)), status: 400, body: "metadata.replyFormat"},
		{name: "stage update to a replyFormat in the wrong case", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"metadata":{"replyFormat":"Plain"}}`), status: 400, body: "metadata.replyFormat"},
		{name: "stage with a replyMedia that is not a boolean", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"replyMedia":"no"}`)), status: 400, body: "metadata.replyMedia"},
		{name: "stage with a whatsappTemplate that is not an object", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":"HX0123456789abcdef0123456789abcdef"}`)), status: 400, body: "metadata.whatsappTemplate"},
		{name: "stage with a whatsappTemplate without a contentSid", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":{"contentVariables":{"1":"a"}}}`)), status: 400, body: "contentSid"},
		{name: "stage with a whatsappTemplate contentSid of the wrong form", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":{"contentSid":"SM0123456789abcdef0123456789abcdef"}}`)), status: 400, body: "contentSid"},
		{name: "stage with whatsappTemplate variables that are not strings", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":{"contentSid":"HX0123456789abcdef0123456789abcdef","contentVariables":{"1":2}}}`)), status: 400, body: "contentVariables"},
		{name: "stage with whatsappTemplate variables that are not JSON", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":{"contentSid":"HX0123456789abcdef0123456789abcdef","contentVariables":"{1:2"}}`)), status: 400, body: "contentVariables"},
		{name: "stage with an unknown whatsappTemplate key", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":{"whatsappTemplate":{"contentSid":"HX0123456789abcdef0123456789abcdef","body":"hi"}}`)), status: 400, body: "metadata.whatsappTemplate"},
		{name: "stage update to a whatsappTemplate with a short contentSid", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"metadata":{"whatsappTemplate":{"contentSid":"HX01"}}}`), status: 400, body: "metadata.whatsappTemplate"},
		{name: "stage with temperature 3", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"llmSettings":{"model":"m","defaultTemperature":3}`)), status: 400, body: "defaultTemperature"},
		{name: "stage with a non-object metadata", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"metadata":"x"`)), status: 400, body: "metadata"},
		{name: "stage with negative maxTokens", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"llmSettings":{"model":"m","defaultMaxTokens":-1}`)), status: 400, body: "defaultMaxTokens"},
		{name: "stage with a negative timeout", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"llmSettings":{"model":"m","timeout":-5}`)), status: 400, body: "timeout"},
		{name: "stage with a tiny maxInputTokens", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"llmSettings":{"model":"m","maxInputTokens":10}`)), status: 400, body: "llmSettings.maxInputTokens"},
		{name: "stage update to a maxInputTokens of the wrong type", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"llmSettings":{"maxInputTokens":"4k"}}`), status: 400, body: "maxInputTokens"},
		{name: "stage prompt with an unclosed expression", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"prompt":"Hi\n{{userProfile.name"`)), status: 400, body: `"prompt: invalid template at line 2, column 1: Unclosed expression"`},
		{name: "stage prompt with a mismatched block", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"prompt":"{{#if vars.x}}a{{/each}}"`)), status: 400, body: `"field":"prompt"`},
		{name: "stage prompt calling an unknown helper", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"prompt":"{{shout consts.name}}"`)), status: 400, body: `unknown helper \"shout\"`},
		{name: "stage prompt with a partial", req: op("admin", "POST", "/api/projects/{project}/stages", stage(`,"prompt":"{{> header}}"`)), status: 400, body: "partials"},
		{name: "stage update to an unclosed block", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"prompt":"{{agent}}\n{{#exists vars.x}}"}`), status: 400, body: `"line":"2"`},
		{name: "stage update without LLM provider", req: op("admin", "PUT", "/api/projects/{project}/stages/{stage}", `{"version":1,"llmProviderId":""}`), status: 400, body: "llmProviderId"},
		{name: "stage in an unknown project", req: op("admin", "POST", "/api/projects/prj_nope/stages", stage("")), status: 404},
		{name: "API key with an unknown channel", req: op("admin", "POST", "/api/projects/{project}/api-keys", `{"name":"k","allowedChannels":["carrier_pigeon"]}`), status: 400, body: "allowedChannels"},
		{name: "API key with an unknown feature", req: op("admin", "POST", "/api/projects/{project}/api-keys", `{"name":"k","keySettings":{"allowedFeatures":["telepathy"]}}`), status: 400, body: "allowedFeatures"},
		{name: "API key without project", req: op("admin", "POST", "/api/api-keys", `{"name":"k"}`), status: 400, body: "projectId"},
		{name: "API key in an unknown project", req: op("admin", "POST", "/api/api-keys", `{"name":"k","projectId":"prj_nope"}`), status: 400, body: "projectId"},
		{name: "operator with an unknown role", req: op("admin", "POST", "/api/operators", `{"id":"x2","name":"X","password":"long enough pw","roles":["root"]}`), status: 400, body: "roles"},
		{name: "operator without roles", req: op("admin", "POST", "/api/operators", `{"id":"x3","name":"X","password":"long enough pw","roles":[]}`), status: 400, body: "roles"},
		{name: "operator with a short password", req: op("admin", "POST", "/api/operators", `{"id":"x4","name":"X","password":"short","roles":["viewer"]}`), status: 400, body: "password"},
		{name: "operator with a password over 72 bytes", req: op("admin", "POST", "/api/operators", `{"id":"x5","name":"X","password":"`+strings.Repeat("p", 73)+`","roles":["viewer"]}`), status: 400, body: "password"},
		{name: "password reset too short", req: op("admin", "PUT", "/api/operators/viewer", `{"version":1,"password":"short"}`), status: 400, body: "password"},
		{name: "operator id taken", req: op("admin", "POST", "/api/operators", `{"id":"viewer","name":"X","password":"long enough pw","roles":["viewer"]}`), status: 409},
		{name: "admin deactivates itself", req: op("admin", "PUT", "/api/operators/admin", `{"version":1,"isActive":false}`), status: 409},
		{name: "admin deletes itself", req: op("admin", "DELETE", "/api/operators/admin?version=1", ""), status: 409},

		// Setup and sessions. Few failures per account and per client:
		// login, refresh and setup are throttled (issue 11 #3).
		{name: "setup when already set up", req: op("", "POST", "/api/setup/initial-operator", `{"id":"root","name":"Root","password":"long enough pw"}`), status: 409},
		{name: "login to an unknown account", req: op("", "POST", "/api/auth/login", `{"id":"nobody-1","password":"wrong password"}`), status: 401, body: "invalid id or password"},
		{name: "login with a wrong password", req: op("", "POST", "/api/auth/login", `{"id":"viewer","password":"wrong password"}`), status: 401, body: "invalid id or password"},
		{name: "login to a deactivated account", req: op("", "POST", "/api/auth/login", `{"id":"retired","password":"password of retired"}`), status: 401},
		{name: "login without password", req: op("", "POST", "/api/auth/login", `{"id":"nobody-2"}`), status: 400, body: "password"},
		{name: "logout with a refreshToken of the wrong type", req: op("viewer", "POST", "/api/auth/logout", `{"refreshToken":5}`), status: 400, body: "refreshToken"},
		{name: "refresh with a bogus token", req: op("", "POST", "/api/auth/refresh", `{"refreshToken":"bogus"}`), status: 401},
		{name: "refresh with the refresh token of a logged-out session", req: op("", "POST", "/api/auth/refresh", `{"refreshToken":"{endedRefresh}"}`), status: 401},
		{name: "refresh with an access token", req: op("", "POST", "/api/auth/refresh", `{"refreshToken":"{accessToken}"}`), status: 401},

		// Sessions and the audit log (issue 11).
		{name: "logout everywhere without a token", req: op("", "POST", "/api/auth/logout-all", ""), status: 401},
		{name: "viewer revokes the admin's sessions", req: op("viewer", "POST", "/api/operators/admin/revoke-tokens", ""), status: 403, body: "operator:write"},
		{name: "revoke the sessions of an unknown operator", req: op("admin", "POST", "/api/operators/nobody/revoke-tokens", ""), status: 404},
		{name: "audit log without a token", req: op("", "GET", "/api/audit-logs", ""), status: 401},
		{name: "audit log with an unknown filter", req: op("admin", "GET", "/api/audit-logs?filters[password]=x", ""), status: 400, body: "filters[password]"},
		{name: "audit log with a malformed filter", req: op("admin", "GET", "/api/audit-logs?filters[createdAt][op]=gte&filters[createdAt][value]=yesterday", ""), status: 400, body: "filters[createdAt]"},
		{name: "audit log between backwards", req: op("admin", "GET", "/api/audit-logs?filters[createdAt][op]=between&filters[createdAt][value][0]=2026-02-01&filters[createdAt][value][1]=2026-01-01", ""), status: 400, body: "filters[createdAt]"},
		{name: "audit log with an unknown operator", req: op("admin", "GET", "/api/audit-logs?filters[action][op]=explode&filters[action][value]=CREATE", ""), status: 400, body: "filters[action]"},
		{name: "audit log ordered by an unknown field", req: op("admin", "GET", "/api/audit-logs?orderBy=-oldEntity", ""), status: 400, body: "orderBy"},
		{name: "audit log with a bad limit", req: op("admin", "GET", "/api/audit-logs?limit=-5", ""), status: 400, body: "limit"},
		{name: "support reads a provider's audit log", req: op("support", "GET", "/api/providers/{provider}/audit-logs", ""), status: 403, body: "provider:read"},
		{name: "POST to the audit log", req: op("admin", "POST", "/api/audit-logs", `{}`), status: 405},

		// Bonsai's profile routes (issue 14 #3). A wrong current password
		// is a failed credential check: throttled like a login.
		{name: "profile without a token", req: op("", "POST", "/api/profile", `{"name":"X"}`), status: 401},
		{name: "profile password change with a wrong oldPassword", req: op("viewer", "POST", "/api/profile", `{"oldPassword":"wrong password","newPassword":"long enough pw"}`), status: 400, body: "oldPassword"},
		{name: "profile newPassword without oldPassword", req: op("viewer", "POST", "/api/profile", `{"newPassword":"long enough pw"}`), status: 400, body: "oldPassword"},
		{name: "profile newPassword too short", req: op("viewer", "POST", "/api/profile", `{"oldPassword":"password of viewer","newPassword":"short"}`), status: 400, body: "newPassword"},
		{name: "profile name with control characters", req: op("viewer", "POST", "/api/profile", `{"name":"Vi\u001b[31mewer"}`), status: 400, body: "control characters"},

		// A project's token caps (Bonsai's costManagementConfig).
		{name: "project costManagementConfig without limits", req: op("admin", "POST", "/api/projects", `{"name":"x","costManagementConfig":{}}`), status: 400, body: "costManagementConfig.limits"},
		{name: "project costManagementConfig cap of 0", req: op("admin", "PUT", "/api/projects/{project}",
			`{"version":1,"costManagementConfig":{"limits":{"*":{"*":{"inputTokensLimits":{"completion":0}}}}}}`), status: 400, body: "inputTokensLimits.completion"},
		{name: "project costManagementConfig cap not an integer", req: op("admin", "POST", "/api/projects",
			`{"name":"x","costManagementConfig":{"limits":{"*":{"*":{"outputTokensLimits":{"completion":2.5}}}}}}`), status: 400, body: "outputTokensLimits.completion"},
		// A project's timezone (an IANA name) and Bonsai's archive routes.
		{name: "project timezone not in the tz database", req: op("admin", "POST", "/api/projects", `{"name":"x","timezone":"Mars/Olympus_Mons"}`), status: 400, body: "timezone"},
		{name: "project timezone Local (the server's zone)", req: op("admin", "PUT", "/api/projects/{project}", `{"version":1,"timezone":"Local"}`), status: 400, body: "timezone"},
		{name: "project timezone a file path", req: op("admin", "POST", "/api/projects", `{"name":"x","timezone":"../../../etc/passwd"}`), status: 400, body: "timezone"},
		{name: "project timezone a zoneinfo file that is no zone", req: op("admin", "PUT", "/api/projects/{project}", `{"version":1,"timezone":"posixrules"}`), status: 400, body: "timezone"},
		{name: "project timezone of the wrong type", req: op("admin", "POST", "/api/projects", `{"name":"x","timezone":120}`), status: 400, body: "timezone"},
		{name: "archive without version", req: op("admin", "POST", "/api/projects/{project}/archive", `{}`), status: 400, body: "version"},
		{name: "archive with a stale version", req: op("admin", "POST", "/api/projects/{project}/archive", `{"version":99}`), status: 409, body: "version"},
		{name: "archive an unknown project", req: op("admin", "POST", "/api/projects/proj_nope/archive", `{"version":1}`), status: 404},
		{name: "viewer archives a project", req: op("viewer", "POST", "/api/projects/{project}/archive", `{"version":1}`), status: 403, body: "project:write"},
		{name: "archive without a token", req: op("", "POST", "/api/projects/{project}/archive", `{"version":1}`), status: 401},
		{name: "GET the archive route", req: op("admin", "GET", "/api/projects/{project}/archive", ""), status: 405},
		{name: "unarchive an active project", req: op("admin", "POST", "/api/projects/{project}/unarchive", `{"version":1}`), status: 400, body: "not archived"},
		{name: "archive an archived project", req: op("admin", "POST", "/api/projects/{archived}/archive", `{"version":2}`), status: 409, body: "already archived"},
		{name: "unarchive with a stale version", req: op("admin", "POST", "/api/projects/{archived}/unarchive", `{"version":1}`), status: 409, body: "version"},
		{name: "edit an archived project", req: op("admin", "PUT", "/api/projects/{archived}", `{"version":2,"name":"x"}`), status: 409, body: "archived"},
		{name: "add an agent to an archived project", req: op("admin", "POST", "/api/projects/{archived}/agents", `{"name":"a"}`), status: 409, body: "archived"},
		{name: "edit a stage of an archived project", req: op("admin", "PUT", "/api/projects/{archived}/stages/{archivedStage}", `{"version":1,"name":"x"}`), status: 409, body: "archived"},
		{name: "delete a stage of an archived project", req: op("admin", "DELETE", "/api/projects/{archived}/stages/{archivedStage}?version=1", ""), status: 409, body: "archived"},
		{name: "API key for an archived project", req: op("admin", "POST", "/api/api-keys", `{"name":"k","projectId":"{archived}"}`), status: 409, body: "archived"},
		{name: "projects list with archived=maybe", req: op("admin", "GET", "/api/projects?archived=maybe", ""), status: 400, body: "archived"},
	}
}

// withHeaders returns req with headers (name, value, name, value, …)
// set, placeholders expanded.
func withHeaders(req func(e *badEnv) *http.Request, kv ...string) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request {
		r := req(e)
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Set(kv[i], e.expand(kv[i+1]))
		}
		return r
	}
}

// op returns a row's request: an operator API call as the suite's operator
// `as` ("" for none; "admin", "viewer", "support", "content_manager",
// "developer"; "retired", "logged_out", "refresh_as_access" for unusable
// tokens). Placeholders in path and body are expanded.
func op(as, method, path, body string) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request {
		auth := ""
		if as != "" {
			tok, ok := e.tokens[as]
			if !ok {
				e.t.Fatalf("no operator %q in the suite", as)
			}
			auth = "Bearer " + tok
		}
		return e.apiRequest(auth, method, path, body)
	}
}

// opCT is op with the body sent under another Content-Type.
func opCT(as, method, path, contentType, body string) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request {
		req := op(as, method, path, body)(e)
		req.Header.Set("Content-Type", contentType)
		return req
	}
}

// opAuth is op with a literal Authorization header (placeholders expanded).
func opAuth(authorization, method, path, body string) func(e *badEnv) *http.Request {
	return func(e *badEnv) *http.Request { return e.apiRequest(e.expand(authorization), method, path, body) }
}

func (e *badEnv) apiRequest(authorization, method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(e.expand(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+e.expand(path), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header["Authorization"] = []string{authorization}
	}
	return req
}

// startRows are requests to start conversations (POST
// /api/twilio/messaging/send, /send/bulk, GET /send/jobs/{id}) that must
// be refused, storing and sending nothing.
func startRows() []badRow {
	const q = "apiKey={apiKey}&channelProviderId={provider}&stageId={stage}"
	send := func(query, body string) func(e *badEnv) *http.Request {
		return op("", "POST", "/api/twilio/messaging/send?"+query, body)
	}
	bulk := func(body string) func(e *badEnv) *http.Request {
		return op("", "POST", "/api/twilio/messaging/send/bulk?"+q, body)
	}
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"recipients":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"to":"+1555300%04d"}`, i)
		}
		b.WriteString(`],"text":"hi"}`)
		return b.String()
	}
	return []badRow{
		{name: "send without apiKey", req: send("channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 400, body: "apiKey"},
		{name: "send with an unknown apiKey", req: send("apiKey=nope&channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 401},
		{name: "send with an inactive key", req: send("apiKey={inactiveKey}&channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 401},
		{name: "send with a deleted key", req: send("apiKey={deletedKey}&channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 401},
		{name: "send with a web-only key", req: send("apiKey={webOnlyKey}&channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 403, body: "twilio_messaging"},
		{name: "send with a key without text input", req: send("apiKey={noTextKey}&channelProviderId={provider}&stageId={stage}", `{"to":"+15553000001"}`), status: 403},
		{name: "send with an archived project's key", req: send("apiKey={archivedKey}&channelProviderId={provider}&stageId={archivedStage}", `{"to":"+15553000001"}`), status: 422, body: "archived"},
		{name: "send to another project's stage", req: send("apiKey={apiKey}&channelProviderId={provider}&stageId={otherStage}", `{"to":"+15553000001"}`), status: 400, body: "stageId"},
		{name: "send with another project's agent", req: send(q+"&agentId={otherAgent}", `{"to":"+15553000001"}`), status: 400, body: "agentId"},
		{name: "send with the body's stage of another project", req: send(q, `{"to":"+15553000001","stageId":"{otherStage}"}`), status: 400, body: "stageId"},
		{name: "send through an unknown provider", req: send("apiKey={apiKey}&channelProviderId=prov_nope&stageId={stage}", `{"to":"+15553000001"}`), status: 400, body: "channel provider"},
		{name: "send through an LLM provider", req: send("apiKey={apiKey}&channelProviderId={llm}&stageId={stage}", `{"to":"+15553000001"}`), status: 400},
		{name: "send without a stage", req: send("apiKey={apiKey}&channelProviderId={provider}", `{"to":"+15553000001"}`), status: 422, body: "stageId"},
		{name: "send without to", req: send(q, `{"text":"hi"}`), status: 400, body: "to is required"},
		{name: "send to a number that is not E.164", req: send(q, `{"to":"555-1234"}`), status: 400, body: "E.164"},
		{name: "send to WhatsApp through an SMS number", req: send(q, `{"to":"whatsapp:+15553000001"}`), status: 400, body: "SMS"},
		{name: "send with text and instruction", req: send(q, `{"to":"+15553000001","text":"a","instruction":"b"}`), status: 400, body: "not both"},
		{name: "send with a blank text", req: send(q, `{"to":"+15553000001","text":"   "}`), status: 400, body: "blank"},
		{name: "send with a text too long", req: send(q, `{"to":"+15553000001","text":"`+strings.Repeat("x", 5000)+`"}`), status: 400, body: "limited"},
		{name: "send with metadata not an object", req: send(q, `{"to":"+15553000001","metadata":[1,2]}`), status: 400, body: "metadata"},
		{name: "send with an unknown field", req: send(q, `{"to":"+15553000001","userProfile":{}}`), status: 400, body: "userProfile"},
		{name: "send with malformed JSON", req: send(q, `{"to":`), status: 400, body: "invalid JSON"},
		{name: "send with two objects", req: send(q, `{"to":"+15553000001"}{}`), status: 400, body: "after the object"},
		{name: "send as a form", req: func(e *badEnv) *http.Request {
			r := send(q, `to=%2B15553000001`)(e)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, status: 415},
		{name: "send with GET", req: op("", "GET", "/api/twilio/messaging/send?"+q, ""), status: 405},
		{name: "send from a number not the provider's", req: send(q, `{"to":"+15553000001","from":"+15550009999"}`), status: 400, body: "fromNumber"},
		{name: "send to an opted-out recipient", req: send(q, `{"to":"+15557770009","text":"hi"}`), status: 422, body: "opted out"},
		{name: "send with differing idempotency keys", req: func(e *badEnv) *http.Request {
			r := send(q, `{"to":"+15553000001","idempotencyKey":"a"}`)(e)
			r.Header.Set("Idempotency-Key", "b")
			return r
		}, status: 400, body: "differ"},
		{name: "send with an idempotency key too long", req: send(q, `{"to":"+15553000001","idempotencyKey":"`+strings.Repeat("k", 300)+`"}`), status: 400, body: "limited"},
		{name: "send with a contentSid that is not one", req: send(q, `{"to":"+15553000001","contentSid":"MG123"}`), status: 400, body: "contentSid must be"},
		{name: "send with contentVariables not an object", req: send(q, `{"to":"+15553000001","contentSid":"HX0123456789abcdef0123456789abcdef","contentVariables":[1]}`), status: 400, body: "contentVariables"},
		{name: "send with a contentVariables value not a string", req: send(q, `{"to":"+15553000001","contentSid":"HX0123456789abcdef0123456789abcdef","contentVariables":{"1":2}}`), status: 400, body: "contentVariables"},
		{name: "send with contentVariables and no contentSid", req: send(q, `{"to":"+15553000001","contentVariables":{"1":"a"}}`), status: 400, body: "need a contentSid"},
		{name: "send with a contentSid to an SMS recipient", req: send(q, `{"to":"+15553000001","contentSid":"HX0123456789abcdef0123456789abcdef"}`), status: 400, body: "WhatsApp"},
		{name: "send with a media URL not http", req: send(q, `{"to":"+15553000001","mediaUrls":["ftp://example.com/a.png"]}`), status: 400, body: "mediaUrls[0]"},
		{name: "send with a relative media URL", req: send(q, `{"to":"+15553000001","mediaUrls":["https://example.com/a.png","/a.png"]}`), status: 400, body: "mediaUrls[1]"},
		{name: "send with a media URL with credentials", req: send(q, `{"to":"+15553000001","mediaUrls":["https://u:p@example.com/a.png"]}`), status: 400, body: "mediaUrls[0]"},
		{name: "send with a media URL too long", req: send(q, `{"to":"+15553000001","mediaUrls":["https://example.com/`+strings.Repeat("a", 2100)+`"]}`), status: 400, body: "mediaUrls[0]"},
		{name: "send with eleven media URLs", req: send(q, `{"to":"+15553000001","mediaUrls":[`+strings.Repeat(`"https://example.com/a.png",`, 10)+`"https://example.com/a.png"]}`), status: 400, body: "at most 10"},
		{name: "send with mediaUrls not a list", req: send(q, `{"to":"+15553000001","mediaUrls":"https://example.com/a.png"}`), status: 400, body: "mediaUrls"},
		{name: "bulk with one recipient's bad media URL", req: bulk(`{"recipients":[{"to":"+15553000001"},{"to":"+15553000002","mediaUrls":["javascript:alert(1)"]}]}`), status: 400, body: "recipients[1]: mediaUrls[0]"},
		{name: "bulk with a bad contentSid", req: bulk(`{"recipients":[{"to":"+15553000001"}],"contentSid":"HXnothex"}`), status: 400, body: "contentSid"},
		{name: "bulk without recipients", req: bulk(`{"recipients":[],"text":"hi"}`), status: 400, body: "recipients"},
		{name: "bulk over the limit", req: bulk(many(1001)), status: 400, body: "at most 1000"},
		{name: "bulk with a recipient twice", req: bulk(`{"recipients":[{"to":"+15553000001"},{"to":"+15553000001"}]}`), status: 400, body: "recipients[1]"},
		{name: "bulk with one bad recipient", req: bulk(`{"recipients":[{"to":"+15553000001"},{"to":"12"}]}`), status: 400, body: "recipients[1]"},
		{name: "bulk with a bad key", req: op("", "POST", "/api/twilio/messaging/send/bulk?apiKey=nope&channelProviderId={provider}&stageId={stage}", `{"recipients":[{"to":"+15553000001"}]}`), status: 401},
		{name: "job that does not exist", req: op("", "GET", "/api/twilio/messaging/send/jobs/job_nope?apiKey={apiKey}", ""), status: 404},
		{name: "job without apiKey", req: op("", "GET", "/api/twilio/messaging/send/jobs/job_nope", ""), status: 400},
		{name: "job with a bad limit", req: op("", "GET", "/api/twilio/messaging/send/jobs/job_nope?apiKey={apiKey}&limit=0", ""), status: 400, body: "limit"},
		{name: "job with POST", req: op("", "POST", "/api/twilio/messaging/send/jobs/job_nope?apiKey={apiKey}", ""), status: 405},
	}
}
