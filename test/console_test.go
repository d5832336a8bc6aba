package test

import (
	"debug/buildinfo"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"switchboard/test/twiliosim"
)

// TestConsoleSystemRoutes: the real binary answers what Bonsai's console
// reads before and besides login — GET /version with the version
// `switchboard version` prints and the commit the binary was built from,
// the provider catalog listing every provider type, no token needed for
// either — and a Bonsai-only list of a real project is an empty page.
func TestConsoleSystemRoutes(t *testing.T) {
	s := startServer(t, "", nil)

	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantVersion := strings.TrimPrefix(strings.TrimSpace(string(out)), "switchboard ")
	var wantCommit any // null unless the build recorded a commit
	if info, err := buildinfo.ReadFile(binary); err == nil {
		var rev, dirty string
		for _, st := range info.Settings {
			if st.Key == "vcs.revision" {
				rev = st.Value
			}
			if st.Key == "vcs.modified" && st.Value == "true" {
				dirty = "-dirty"
			}
		}
		if len(rev) >= 7 {
			wantCommit = rev[:7] + dirty
		}
	}
	var v map[string]any
	s.mustAPI("GET", "/version", "", nil, &v, http.StatusOK)
	if v["version"] != wantVersion || v["gitCommit"] != wantCommit {
		t.Fatalf("/version = %v, want version %q and gitCommit %v", v, wantVersion, wantCommit)
	}

	var cat map[string][]struct {
		APIType string `json:"apiType"`
	}
	s.mustAPI("GET", "/api/provider-catalog", "", nil, &cat, http.StatusOK)
	var types []string
	for _, c := range []string{"channel", "llm"} {
		for _, e := range cat[c] {
			types = append(types, c+":"+e.APIType)
		}
	}
	if got := strings.Join(types, " "); got != "channel:twilio_messaging llm:anthropic llm:cohere llm:deepseek llm:fireworks-ai llm:gemini llm:groq llm:mistral llm:ollama llm:openai llm:openai-legacy llm:openrouter llm:perplexity llm:scripted llm:together-ai llm:xai" {
		t.Fatalf("catalog types %s", got)
	}

	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, s, sim, lineOptions{})
	var page json.RawMessage
	s.mustAPI("GET", "/api/projects/"+l.ProjectID+"/classifiers", l.token, nil, &page, http.StatusOK)
	if string(page) != `{"items":[],"total":0,"offset":0,"limit":100}` {
		t.Fatalf("classifiers = %s", page)
	}
}
