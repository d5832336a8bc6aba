package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// consoleRoutes reads testdata/console-bonsai-only-routes.txt: the routes
// of Bonsai-only features that Bonsai's console calls, copied from its
// generated client (the file says which version).
func consoleRoutes(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("testdata/console-bonsai-only-routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		method, path, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad fixture line %q", line)
		}
		out = append(out, [2]string{method, path})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBonsaiOnlyRoutes: every route the console calls for a Bonsai
// feature Switchboard does not have answers in Bonsai's shapes — a list is
// an empty page (Bonsai's docs/api/pagination.md: items, total, offset,
// limit), one item or what hangs below it is 404, an item's history an
// empty array, and every change 400 saying the feature is not supported —
// and changes nothing.
func TestBonsaiOnlyRoutes(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	pid := e.project(admin, "p")
	routes := consoleRoutes(t)
	if len(routes) < 70 {
		t.Fatalf("fixture has %d routes", len(routes))
	}
	before := e.do("GET", "/api/audit-logs?limit=1000", admin, nil).want(http.StatusOK).obj()["total"]
	for _, rt := range routes {
		method, tpl := rt[0], rt[1]
		path := strings.ReplaceAll(tpl, "{projectId}", pid)
		for _, v := range []string{"{id}", "{categoryId}", "{jobId}"} {
			path = strings.ReplaceAll(path, v, "x1")
		}
		if strings.Contains(path, "{") {
			t.Fatalf("unknown variable in %s", tpl)
		}
		var body any
		if method != "GET" {
			body = map[string]any{"name": "n", "version": 1}
		}
		r := e.do(method, path, admin, body)
		last := tpl[strings.LastIndex(tpl, "/")+1:]
		switch {
		case method != "GET":
			msg := r.wantError(http.StatusBadRequest)
			if !strings.Contains(msg, "Switchboard does not support") {
				t.Errorf("%s %s: error %q does not say the feature is not supported", method, tpl, msg)
			}
			if d, _ := r.obj()["details"].(map[string]any); d["reason"] != "not_supported" || d["feature"] == "" {
				t.Errorf("%s %s: details %v", method, tpl, r.obj()["details"])
			}
		case last == "audit-logs":
			var items []any
			if err := json.Unmarshal(r.want(http.StatusOK).body, &items); err != nil || items == nil || len(items) != 0 {
				t.Errorf("GET %s: %s, want []", tpl, r.body)
			}
		case strings.HasPrefix(last, "{") || strings.Contains(tpl, "/migration/") || strings.Contains(tpl, "{categoryId}"):
			if msg := r.wantError(http.StatusNotFound); !strings.Contains(msg, "x1") {
				t.Errorf("GET %s: error %q does not name the id", tpl, msg)
			}
		default:
			if items := r.items(0, 0, 100); len(items) != 0 {
				t.Errorf("GET %s: items %v", tpl, items)
			}
		}
	}
	// A list's page follows the request's offset and limit, and checks
	// them as every list does.
	e.do("GET", "/api/projects/"+pid+"/tools?offset=20&limit=10", admin, nil).items(0, 20, 10)
	e.do("GET", "/api/issues?limit=-1", admin, nil).wantField("limit")
	// A project's list needs the project.
	e.do("GET", "/api/projects/nope/classifiers", admin, nil).wantError(http.StatusNotFound)
	// Nothing was recorded: no change happened.
	if after := e.do("GET", "/api/audit-logs?limit=1000", admin, nil).want(http.StatusOK).obj()["total"]; after != before {
		t.Fatalf("audit entries %v → %v", before, after)
	}
}

// TestBonsaiOnlyTableCoversConsole: every route of the fixture is mounted
// by the table (none falls through to the catch-all's 404 or 405), so a
// resource added to the console's client shows up here.
func TestBonsaiOnlyTableCoversConsole(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	for _, rt := range consoleRoutes(t) {
		path := strings.NewReplacer("{projectId}", "p", "{id}", "x", "{categoryId}", "x", "{jobId}", "x").Replace(rt[1])
		r := e.do(rt[0], path, admin, nil)
		if r.code == http.StatusMethodNotAllowed || strings.Contains(string(r.body), "no route") {
			t.Errorf("%s %s is not mounted: %d %s", rt[0], rt[1], r.code, r.body)
		}
	}
}
