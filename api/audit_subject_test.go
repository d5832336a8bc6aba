package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"switchboard/store"
)

// TestCreatedEntryIsTheAPIs: CreatedEntry (what serve --demo records) is
// the entry the API records when an operator creates the same record —
// action, entity, project, operator and snapshot (secrets masked) — for
// every kind of record the API creates.
func TestCreatedEntryIsTheAPIs(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	ctx := t.Context()
	const secret = `"authToken":"0123456789abcdef0123456789abcdef"` // e.twilio's
	provID := e.twilio(tok)
	projID := e.project(tok, "p")
	agentID := e.do("POST", "/api/projects/"+projID+"/agents", tok, map[string]any{"name": "a", "prompt": "Be kind."}).
		want(http.StatusCreated).str("id")
	stageID := e.do("POST", "/api/projects/"+projID+"/stages", tok, map[string]any{
		"name": "s", "prompt": "Be brief.", "llmProviderId": e.scripted(tok), "agentId": agentID,
	}).want(http.StatusCreated).str("id")
	keyID := e.do("POST", "/api/projects/"+projID+"/api-keys", tok, map[string]any{"name": "k"}).want(http.StatusCreated).str("id")
	e.do("POST", "/api/operators", tok, map[string]any{"id": "ann", "name": "Ann", "password": "ann-password", "roles": []string{"viewer"}}).
		want(http.StatusCreated)

	get := func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	records := map[string]any{
		provID:  get(e.st.GetProvider(ctx, provID)),
		projID:  get(e.st.GetProject(ctx, projID)),
		agentID: get(e.st.GetAgent(ctx, projID, agentID)),
		stageID: get(e.st.GetStage(ctx, projID, stageID)),
		keyID:   get(e.st.GetAPIKey(ctx, keyID)),
		"ann":   get(e.st.GetOperator(ctx, "ann")),
	}
	for id, rec := range records {
		es, _ := e.auditList(tok, "filters[action]=CREATE&filters[entityId]="+id)
		if len(es) != 1 {
			t.Fatalf("%s: %d CREATE entries", id, len(es))
		}
		api, mine := es[0], CreatedEntry("admin", rec)
		if mine == nil {
			t.Fatalf("%s: no entry for %T", id, rec)
		}
		if mine.UserID != api.UserID || mine.Action != api.Action || mine.EntityType != api.EntityType ||
			mine.EntityID != api.EntityID || mine.ProjectID != api.ProjectID || mine.OldEntity != nil {
			t.Errorf("%s: CreatedEntry %+v, the API recorded %+v", id, mine, api)
		}
		if !sameJSON(t, mine.NewEntity, api.NewEntity) {
			t.Errorf("%s: snapshot\n %s\nthe API recorded\n %s", id, mine.NewEntity, api.NewEntity)
		}
		if id == provID && contains(mine.NewEntity, secret) {
			t.Errorf("provider snapshot holds the token: %s", mine.NewEntity)
		}
	}

	// An update: the old and new snapshots.
	p := records[projID].(*store.Project)
	before := *p
	p.Name = "q"
	u := UpdatedEntry("admin", &before, p)
	if u == nil || u.Action != store.AuditUpdate || u.EntityID != projID || u.ProjectID != projID ||
		!contains(u.OldEntity, `"name":"p"`) || !contains(u.NewEntity, `"name":"q"`) {
		t.Errorf("UpdatedEntry = %+v", u)
	}
	if CreatedEntry("admin", "a string") != nil || UpdatedEntry("admin", "a string", p) != nil {
		t.Error("an entry for something that is no record")
	}
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
