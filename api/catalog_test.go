package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// bonsaiCatalogRequired is Bonsai's ProviderCatalog contract, written out
// from the console's generated data-contracts.ts (bonsai-console 18f91b1):
// the categories, and the keys each entry of a category must have with
// their JSON types. Bonsai's docs/api/provider-catalog.md draws an older
// shape ({"asr": {"providers": [...]}}) that its code no longer answers;
// the console reads the contract's.
var bonsaiCatalogRequired = map[string]map[string]string{
	"asr":        {"apiType": "string", "displayName": "string", "models": "array", "languages": "array"},
	"tts":        {"apiType": "string", "displayName": "string", "models": "array", "voices": "array", "languages": "array"},
	"llm":        {"apiType": "string", "displayName": "string", "models": "array"},
	"storage":    {"apiType": "string", "displayName": "string"},
	"moderation": {"apiType": "string", "displayName": "string", "models": "array"},
	"channel":    {"apiType": "string", "displayName": "string"},
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case nil:
		return "null"
	}
	return "?"
}

// TestProviderCatalog: GET /api/provider-catalog needs no token (as in
// Bonsai), has every category of Bonsai's contract as an array, each entry
// with the contract's required keys, and lists exactly the provider types
// Switchboard accepts, each with its config fields.
func TestProviderCatalog(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/provider-catalog", "", nil).want(http.StatusOK)
	var cat map[string][]map[string]any
	if err := json.Unmarshal(r.body, &cat); err != nil {
		t.Fatalf("catalog: %v: %s", err, r.body)
	}
	var categories []string
	for c := range cat {
		categories = append(categories, c)
	}
	sort.Strings(categories)
	if want := []string{"asr", "channel", "llm", "moderation", "storage", "tts"}; !reflect.DeepEqual(categories, want) {
		t.Fatalf("categories %v, want %v", categories, want)
	}
	got := map[string]string{} // apiType → category
	for c, entries := range cat {
		if entries == nil {
			t.Errorf("%s is null, want an array", c)
		}
		for _, entry := range entries {
			for k, typ := range bonsaiCatalogRequired[c] {
				if jt := jsonType(entry[k]); jt != typ {
					t.Errorf("%s entry %v: %s is %s, want %s", c, entry["apiType"], k, jt, typ)
				}
			}
			got[entry["apiType"].(string)] = c
		}
	}
	// Every LLM apiType of Bonsai's catalog, and scripted.
	want := map[string]string{"twilio_messaging": "channel", "scripted": "llm"}
	for _, t := range []string{"openai", "openai-legacy", "anthropic", "gemini", "groq", "mistral", "deepseek", "openrouter",
		"together-ai", "fireworks-ai", "perplexity", "cohere", "xai", "ollama"} {
		want[t] = "llm"
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("provider types %v, want %v", got, want)
	}

	// One entry in full: Twilio, as a form needs it.
	r = e.do("GET", "/api/provider-catalog/channel/twilio_messaging", "", nil).want(http.StatusOK)
	var twilio struct {
		APIType      string   `json:"apiType"`
		DisplayName  string   `json:"displayName"`
		Features     []string `json:"features"`
		ConfigFields []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Required bool   `json:"required"`
			Secret   bool   `json:"secret"`
		} `json:"configFields"`
	}
	if err := json.Unmarshal(r.body, &twilio); err != nil {
		t.Fatal(err)
	}
	type field struct {
		Name, Type       string
		Required, Secret bool
	}
	var fields []field
	for _, f := range twilio.ConfigFields {
		fields = append(fields, field{f.Name, f.Type, f.Required, f.Secret})
	}
	wantFields := []field{
		{"accountSid", "string", true, false},
		{"authToken", "string", true, true},
		{"fromNumber", "string", false, false}, // required unless messagingServiceSid is set
		{"apiBaseUrl", "url", false, false},
		{"messagingServiceSid", "string", false, false},
		{"apiKeySid", "string", false, false},
		{"apiKeySecret", "string", false, true},
	}
	if twilio.APIType != "twilio_messaging" || twilio.DisplayName != "Twilio Messaging" || len(twilio.Features) == 0 || !reflect.DeepEqual(fields, wantFields) {
		t.Fatalf("twilio entry: %s", r.body)
	}
	var ollama map[string]any
	if err := json.Unmarshal(e.do("GET", "/api/provider-catalog/llm/ollama", "", nil).want(http.StatusOK).body, &ollama); err != nil {
		t.Fatal(err)
	}
	if fs, _ := ollama["configFields"].([]any); len(fs) != 2 || fs[0].(map[string]any)["default"] != "http://127.0.0.1:11434" {
		t.Fatalf("ollama entry: %v", ollama)
	}
	// The config fields of the other shapes: {apiKey, organizationId?,
	// baseUrl?}, {apiKey, baseUrl?} with each vendor's default, and
	// OpenRouter's headers.
	for apiType, wantNames := range map[string][]string{
		"openai":     {"apiKey", "baseUrl", "organizationId"},
		"anthropic":  {"apiKey", "baseUrl"},
		"groq":       {"apiKey", "baseUrl"},
		"gemini":     {"apiKey", "baseUrl"},
		"openrouter": {"apiKey", "baseUrl", "httpReferer", "xTitle"},
	} {
		var entry struct {
			ConfigFields []struct {
				Name     string `json:"name"`
				Required bool   `json:"required"`
				Secret   bool   `json:"secret"`
				Default  string `json:"default"`
			} `json:"configFields"`
		}
		body := e.do("GET", "/api/provider-catalog/llm/"+apiType, "", nil).want(http.StatusOK).body
		if err := json.Unmarshal(body, &entry); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range entry.ConfigFields {
			names = append(names, f.Name)
			if (f.Name == "apiKey") != (f.Required && f.Secret) || f.Name == "baseUrl" && !strings.HasPrefix(f.Default, "https://") {
				t.Errorf("%s field %+v", apiType, f)
			}
		}
		if !reflect.DeepEqual(names, wantNames) {
			t.Errorf("%s config fields %v, want %v", apiType, names, wantNames)
		}
	}
}

// TestProviderCatalogCategories: Bonsai's per-category routes answer
// {"providers": [...]}, the same entries as the full catalog; an unknown
// category or provider type is 404.
func TestProviderCatalogCategories(t *testing.T) {
	e := newEnv(t)
	var full map[string]json.RawMessage
	if err := json.Unmarshal(e.do("GET", "/api/provider-catalog", "", nil).want(http.StatusOK).body, &full); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"asr", "tts", "llm", "storage", "moderation", "channel"} {
		var page struct {
			Providers json.RawMessage `json:"providers"`
		}
		r := e.do("GET", "/api/provider-catalog/"+c, "", nil).want(http.StatusOK)
		if err := json.Unmarshal(r.body, &page); err != nil || string(page.Providers) != string(full[c]) {
			t.Errorf("%s: %s, want providers %s", c, r.body, full[c])
		}
	}
	e.do("GET", "/api/provider-catalog/video", "", nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/provider-catalog/llm/bard", "", nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/provider-catalog/llm/twilio_messaging", "", nil).wantError(http.StatusNotFound)
	e.do("POST", "/api/provider-catalog", "", map[string]any{}).wantError(http.StatusMethodNotAllowed)
}

// TestVersion: GET /version is Bonsai's (docs/api/version.md and the
// console's VersionResponse), public: version, restSchemaHash (12 hex
// digits), wsSchemaHash (a string) and gitCommit (a string, or null when
// unknown), nothing else.
func TestVersion(t *testing.T) {
	hex12 := regexp.MustCompile(`^[0-9a-f]{12}$`)
	for _, tt := range []struct {
		opts   Options
		commit any
	}{
		{Options{Version: "1.4.0", GitCommit: "abc1234"}, "abc1234"},
		{Options{}, nil},
	} {
		e := newEnvWith(t, tt.opts)
		var v map[string]any
		if err := json.Unmarshal(e.do("GET", "/version", "", nil).want(http.StatusOK).body, &v); err != nil {
			t.Fatal(err)
		}
		wantVersion := tt.opts.Version
		if wantVersion == "" {
			wantVersion = "dev"
		}
		if len(v) != 4 || v["version"] != wantVersion || v["gitCommit"] != tt.commit || jsonType(v["wsSchemaHash"]) != "string" {
			t.Fatalf("version = %v", v)
		}
		if h, _ := v["restSchemaHash"].(string); !hex12.MatchString(h) {
			t.Fatalf("restSchemaHash = %v", v["restSchemaHash"])
		}
		if _, present := v["gitCommit"]; !present {
			t.Fatal("gitCommit missing, want null")
		}
	}
	// The REST hash is the route table's: the same for every server.
	a := newEnv(t).do("GET", "/version", "", nil).obj()["restSchemaHash"]
	b := newEnv(t).do("GET", "/version", "", nil).obj()["restSchemaHash"]
	if a != b {
		t.Fatalf("restSchemaHash differs between servers: %v, %v", a, b)
	}
	newEnv(t).do("POST", "/version", "", nil).want(http.StatusMethodNotAllowed)
}
