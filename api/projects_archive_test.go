package api

import (
	"net/http"
	"strings"
	"testing"

	"switchboard/store"
)

// TestProjectTimezone: timezone is Bonsai's nullable IANA name: null when
// not set, kept on create and update, cleared by null or "", and a name
// that is not a zone is a 400 naming the field that changes nothing.
func TestProjectTimezone(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	r := e.do("POST", "/api/projects", tok, map[string]any{"name": "plain"}).want(http.StatusCreated)
	if v, ok := r.obj()["timezone"]; !ok || v != nil {
		t.Fatalf("timezone of a new project = %v (present %v), want null", v, ok)
	}
	r = e.do("POST", "/api/projects", tok, map[string]any{"name": "pl", "timezone": "Europe/Warsaw"}).want(http.StatusCreated)
	id := r.str("id")
	if r.str("timezone") != "Europe/Warsaw" {
		t.Fatalf("create = %s", r.body)
	}
	if got := e.do("GET", "/api/projects/"+id, tok, nil).want(http.StatusOK).str("timezone"); got != "Europe/Warsaw" {
		t.Fatalf("read timezone = %q", got)
	}
	for _, bad := range []any{"Mars/Olympus_Mons", "Local", "europe/warsaw", "/etc/localtime", "../../etc/passwd", "Europe/Warsaw/", "posixrules", " UTC", 5, true} {
		e.do("POST", "/api/projects", tok, map[string]any{"name": "x", "timezone": bad}).wantField("timezone")
		e.do("PUT", "/api/projects/"+id, tok, map[string]any{"timezone": bad, "name": "changed", "version": 1}).wantField("timezone")
	}
	got := e.do("GET", "/api/projects/"+id, tok, nil).want(http.StatusOK)
	if got.str("timezone") != "Europe/Warsaw" || got.str("name") != "pl" || got.version() != 1 {
		t.Fatalf("a refused update changed the project: %s", got.body)
	}
	if _, n := e.auditList(tok, "filters[entityId]="+id+"&filters[action]=UPDATE"); n != 0 {
		t.Fatalf("%d audit entries for refused updates", n)
	}
	// Absent keeps it; another zone replaces it; null and "" clear it.
	u := e.do("PUT", "/api/projects/"+id, tok, map[string]any{"name": "renamed", "version": 1}).want(http.StatusOK)
	if u.str("timezone") != "Europe/Warsaw" {
		t.Fatalf("absent timezone changed it: %s", u.body)
	}
	u = e.do("PUT", "/api/projects/"+id, tok, map[string]any{"timezone": "Etc/GMT+5", "version": 2}).want(http.StatusOK)
	if u.str("timezone") != "Etc/GMT+5" {
		t.Fatalf("update = %s", u.body)
	}
	for i, clear := range []any{nil, ""} {
		e.do("PUT", "/api/projects/"+id, tok, map[string]any{"timezone": "UTC", "version": 3 + 2*i}).want(http.StatusOK)
		u = e.do("PUT", "/api/projects/"+id, tok, map[string]any{"timezone": clear, "version": 4 + 2*i}).want(http.StatusOK)
		if v, ok := u.obj()["timezone"]; !ok || v != nil {
			t.Fatalf("timezone %q: %s", clear, u.body)
		}
	}
}

// TestProjectArchive: Bonsai's archive and unarchive routes with their
// version check, errors and audit records; the archived list parameter;
// an archived project and what is in it cannot be changed (409) but can
// be read and deleted.
func TestProjectArchive(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "old line")
	active := e.project(tok, "live line")
	llm := e.scripted(tok)
	stage := e.stage(tok, pid, llm)
	agent := e.do("POST", "/api/projects/"+pid+"/agents", tok, map[string]any{"name": "Ava"}).want(http.StatusCreated).str("id")
	key := e.do("POST", "/api/projects/"+pid+"/api-keys", tok, map[string]any{"name": "k"}).want(http.StatusCreated).str("id")

	r := e.do("GET", "/api/projects/"+pid, tok, nil).want(http.StatusOK)
	for _, f := range []string{"archivedAt", "archivedBy"} {
		if v, ok := r.obj()[f]; !ok || v != nil {
			t.Fatalf("%s of an active project = %v (present %v)", f, v, ok)
		}
	}
	e.do("POST", "/api/projects/"+pid+"/archive", tok, map[string]any{}).wantField("version")
	e.do("POST", "/api/projects/"+pid+"/archive", tok, map[string]any{"version": "1"}).wantField("version")
	e.do("POST", "/api/projects/"+pid+"/archive", tok, map[string]any{"version": 7}).wantError(http.StatusConflict)
	e.do("POST", "/api/projects/"+pid+"/unarchive", tok, map[string]any{"version": 1}).wantError(http.StatusBadRequest)
	e.do("POST", "/api/projects/proj_nope/archive", tok, map[string]any{"version": 1}).wantError(http.StatusNotFound)

	a := e.do("POST", "/api/projects/"+pid+"/archive", tok, map[string]any{"version": 1}).want(http.StatusOK)
	if a.str("archivedAt") == "" || a.str("archivedBy") != "admin" || a.version() != 2 {
		t.Fatalf("archive = %s", a.body)
	}
	if msg := e.do("POST", "/api/projects/"+pid+"/archive", tok, map[string]any{"version": 2}).wantError(http.StatusConflict); !strings.Contains(msg, "already archived") {
		t.Fatalf("archive twice: %q", msg)
	}
	es := e.entityAudit(tok, "/api/projects/"+pid+"/audit-logs")
	if len(es) < 2 || es[0].Action != store.AuditUpdate || es[0].UserID != "admin" ||
		!strings.Contains(string(es[0].NewEntity), `"archivedBy":"admin"`) || !strings.Contains(string(es[0].OldEntity), `"archivedAt":null`) {
		t.Fatalf("audit of the archive: %+v", es[0])
	}

	// Lists: active by default, archived=true the archived ones.
	ids := func(path string) []string {
		var out []string
		for _, it := range e.do("GET", path, tok, nil).want(http.StatusOK).items(1, 0, 100) {
			out = append(out, it["id"].(string))
		}
		return out
	}
	if got := ids("/api/projects"); len(got) != 1 || got[0] != active {
		t.Fatalf("active list = %v", got)
	}
	if got := ids("/api/projects?archived=false"); len(got) != 1 || got[0] != active {
		t.Fatalf("archived=false = %v", got)
	}
	if got := ids("/api/projects?archived=true"); len(got) != 1 || got[0] != pid {
		t.Fatalf("archived=true = %v", got)
	}
	e.do("GET", "/api/projects?archived=yes", tok, nil).wantField("archived")

	// Read-only while archived: the project and everything in it.
	pp := "/api/projects/" + pid
	for _, c := range []struct{ method, path string }{
		{"PUT", pp},
		{"POST", pp + "/agents"},
		{"PUT", pp + "/agents/" + agent},
		{"DELETE", pp + "/agents/" + agent + "?version=1"},
		{"POST", pp + "/stages"},
		{"PUT", pp + "/stages/" + stage},
		{"DELETE", pp + "/stages/" + stage + "?version=1"},
		{"POST", pp + "/api-keys"},
		{"PUT", pp + "/api-keys/" + key},
		{"PUT", "/api/api-keys/" + key},
		{"DELETE", "/api/api-keys/" + key + "?version=1"},
		{"POST", "/api/api-keys"},
	} {
		var body any = map[string]any{"name": "changed", "version": 1, "projectId": pid}
		if c.method == "DELETE" {
			body = nil
		}
		if msg := e.do(c.method, c.path, tok, body).wantError(http.StatusConflict); !strings.Contains(msg, "archived") {
			t.Fatalf("%s %s: %q", c.method, c.path, msg)
		}
	}
	e.do("GET", pp+"/agents/"+agent, tok, nil).want(http.StatusOK)
	e.do("GET", "/api/api-keys/"+key, tok, nil).want(http.StatusOK)
	if n := e.do("GET", pp+"/agents/"+agent, tok, nil).version(); n != 1 {
		t.Fatalf("agent changed: version %d", n)
	}

	// Unarchive: editable again, recorded.
	e.do("POST", pp+"/unarchive", tok, map[string]any{"version": 1}).wantError(http.StatusConflict)
	u := e.do("POST", pp+"/unarchive", tok, map[string]any{"version": 2}).want(http.StatusOK)
	if v, ok := u.obj()["archivedAt"]; !ok || v != nil || u.obj()["archivedBy"] != nil || u.version() != 3 {
		t.Fatalf("unarchive = %s", u.body)
	}
	if es := e.entityAudit(tok, pp+"/audit-logs"); !strings.Contains(string(es[0].NewEntity), `"archivedAt":null`) {
		t.Fatalf("audit of the unarchive: %+v", es[0])
	}
	e.do("PUT", pp+"/agents/"+agent, tok, map[string]any{"name": "Eve", "version": 1}).want(http.StatusOK)

	// An archived project can be deleted (Bonsai).
	e.do("POST", pp+"/archive", tok, map[string]any{"version": 3}).want(http.StatusOK)
	e.do("DELETE", pp+"?version=4", tok, nil).want(http.StatusNoContent)
}
