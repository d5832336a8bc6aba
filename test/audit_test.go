package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// auditEntry is an audit log entry as the API answers it.
type auditEntry struct {
	ID         string          `json:"id"`
	UserID     *string         `json:"userId"`
	Action     string          `json:"action"`
	EntityType string          `json:"entityType"`
	EntityID   string          `json:"entityId"`
	ProjectID  *string         `json:"projectId"`
	OldEntity  json.RawMessage `json:"oldEntity"`
	NewEntity  json.RawMessage `json:"newEntity"`
	CreatedAt  time.Time       `json:"createdAt"`
}

func auditActions(es []auditEntry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return strings.Join(out, ",")
}

// rawGet returns the body of an authenticated GET that must answer 200.
func rawGet(t *testing.T, s *server, path, token string) string {
	t.Helper()
	var raw json.RawMessage
	s.mustAPI("GET", path, token, nil, &raw, 200)
	return string(raw)
}

// TestAuditLog drives the real binary: provider and stage changes are in
// the audit log (Bonsai's list route and per-entity routes) with the
// operator and without the Twilio auth token; a burst of forged webhooks
// becomes one SIGNATURE_FAILURES entry, flushed at shutdown.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{"AUDIT_SIGNATURE_FAILURE_INTERVAL_MS": "3600000"})
	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, s, sim, lineOptions{})

	// A second Twilio provider: created, its token changed, deleted.
	const tok1, tok2 = "firsttoken0123456789abcdefAAAA", "secondtoken0123456789abcdefBBBB"
	var rec struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	cfg := func(tok string) map[string]any {
		return map[string]any{"accountSid": l.AccountSID, "authToken": tok, "fromNumber": "+15550002000"}
	}
	s.mustAPI("POST", "/api/providers", l.token, map[string]any{"name": "Spare", "apiType": "twilio_messaging", "config": cfg(tok1)}, &rec, 201)
	prov := rec.ID
	s.mustAPI("PUT", "/api/providers/"+prov, l.token, map[string]any{"version": 1, "config": cfg(tok2)}, &rec, 200)
	s.mustAPI("DELETE", fmt.Sprintf("/api/providers/%s?version=%d", prov, rec.Version), l.token, nil, nil, 204)

	// A stage: created, renamed, deleted.
	pp := "/api/projects/" + l.ProjectID
	s.mustAPI("POST", pp+"/stages", l.token, map[string]any{"name": "Extra", "prompt": "x", "llmProviderId": l.LLMID,
		"llmSettings": map[string]any{"model": "m"}}, &rec, 201)
	stage := rec.ID
	s.mustAPI("PUT", pp+"/stages/"+stage, l.token, map[string]any{"version": 1, "name": "Extra 2"}, &rec, 200)
	s.mustAPI("DELETE", fmt.Sprintf("%s/stages/%s?version=%d", pp, stage, rec.Version), l.token, nil, nil, 204)

	var list struct {
		Items  []auditEntry `json:"items"`
		Total  int          `json:"total"`
		Offset int          `json:"offset"`
		Limit  int          `json:"limit"`
	}
	s.mustAPI("GET", "/api/audit-logs?filters[entityType]=provider", l.token, nil, &list, 200)
	// setupLine created two providers; then the spare's three changes.
	if list.Total != 5 || auditActions(list.Items) != "DELETE,UPDATE,CREATE,CREATE,CREATE" || list.Offset != 0 || list.Limit == 0 {
		t.Fatalf("provider entries: %s (total %d)", auditActions(list.Items), list.Total)
	}
	for _, e := range list.Items {
		if e.UserID == nil || *e.UserID != "admin" || e.EntityType != "provider" || e.ProjectID != nil {
			t.Fatalf("entry %+v", e)
		}
	}
	var perProv []auditEntry
	s.mustAPI("GET", "/api/providers/"+prov+"/audit-logs", l.token, nil, &perProv, 200)
	if auditActions(perProv) != "DELETE,UPDATE,CREATE" || perProv[1].OldEntity == nil || perProv[1].NewEntity == nil {
		t.Fatalf("per-provider entries: %+v", perProv)
	}
	var perStage []auditEntry
	s.mustAPI("GET", pp+"/stages/"+stage+"/audit-logs", l.token, nil, &perStage, 200)
	if auditActions(perStage) != "DELETE,UPDATE,CREATE" || *perStage[0].ProjectID != l.ProjectID ||
		!strings.Contains(string(perStage[1].OldEntity), `"Extra"`) || !strings.Contains(string(perStage[1].NewEntity), `"Extra 2"`) {
		t.Fatalf("per-stage entries: %+v", perStage)
	}
	for _, path := range []string{"/api/audit-logs?limit=1000", "/api/providers/" + prov + "/audit-logs", "/api/providers/" + l.ProviderID + "/audit-logs"} {
		body := rawGet(t, s, path, l.token)
		for _, secret := range []string{tok1, tok2, l.AuthToken, l.APIKey, "correct horse battery"} {
			if strings.Contains(body, secret) {
				t.Fatalf("%s holds a secret (%s…)", path, secret[:6])
			}
		}
	}

	// A forged-signature burst: one entry for the whole burst, written
	// when the server shuts down (the window is an hour long).
	const burst = 5
	for i := 0; i < burst; i++ {
		params := twiliosim.InboundParamsFor(l.AccountSID, "+15556000009", l.Number, "x", twiliosim.NewMessageSID())
		if code, _ := l.post(l.Webhook, params, http.Header{"X-Twilio-Signature": {"forged"}}); code != 403 {
			t.Fatalf("forged webhook: %d", code)
		}
	}
	s.mustAPI("GET", "/api/audit-logs?filters[action]=SIGNATURE_FAILURES", l.token, nil, &list, 200)
	if list.Total != 0 {
		t.Fatalf("signature failures written before the window closed: %+v", list.Items)
	}
	l.restart(t, dir, map[string]string{"AUDIT_SIGNATURE_FAILURE_INTERVAL_MS": "200"})
	s = l.srv
	var auth struct {
		AccessToken string `json:"accessToken"`
	}
	s.mustAPI("POST", "/api/auth/login", "", map[string]any{"id": "admin", "password": "correct horse battery"}, &auth, 200)
	tok := auth.AccessToken
	s.mustAPI("GET", "/api/audit-logs?filters[action]=SIGNATURE_FAILURES&filters[entityType]=provider", tok, nil, &list, 200)
	if list.Total != 1 || list.Items[0].EntityID != l.ProviderID || list.Items[0].UserID != nil {
		t.Fatalf("signature failure entries: %+v", list.Items)
	}
	var d struct {
		Count   int            `json:"count"`
		Reasons map[string]int `json:"reasons"`
	}
	if err := json.Unmarshal(list.Items[0].NewEntity, &d); err != nil || d.Count != burst || d.Reasons["mismatch"] != burst {
		t.Fatalf("details %s: %v", list.Items[0].NewEntity, err)
	}

	// With a short window the entry is written while the server runs.
	for i := 0; i < 3; i++ {
		params := twiliosim.InboundParamsFor(l.AccountSID, "+15556000009", l.Number, "x", twiliosim.NewMessageSID())
		if code, _ := l.post(l.Webhook, params, http.Header{"X-Twilio-Signature": {"forged"}}); code != 403 {
			t.Fatalf("forged webhook: %d", code)
		}
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		var l2 struct {
			Items []auditEntry `json:"items"`
		}
		s.mustAPI("GET", "/api/audit-logs?filters[action]=SIGNATURE_FAILURES&orderBy=createdAt", tok, nil, &l2, 200)
		n := 0
		for _, e := range l2.Items[1:] {
			var d struct {
				Count int `json:"count"`
			}
			_ = json.Unmarshal(e.NewEntity, &d)
			n += d.Count
		}
		if n != 3 {
			return fmt.Errorf("%d failures recorded since the restart, want 3", n)
		}
		return nil
	})
	// The login after the restart is in the log too.
	s.mustAPI("GET", "/api/audit-logs?filters[action]=LOGIN&filters[userId]=admin", tok, nil, &list, 200)
	if list.Total < 1 {
		t.Fatal("no LOGIN entry")
	}
}
