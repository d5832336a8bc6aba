package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/store"
)

// FuzzDecodeBody feeds arbitrary request bodies to the JSON body decoder
// with the API's real body types. It never panics; a refused body is
// always a client error (EINVALID, a 400) with a message, and a field
// error names a field; an accepted body is a well-formed JSON object.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Echo","providerType":"llm","apiType":"scripted","config":{"defaultReply":"R{{.Turn}}"}}`,
		`{"version":1,"name":"x","agentId":null,"llmSettings":{"temperature":0.5},"metadata":{"a":[1,2]}}`,
		`{"version":"1"}`, `{"agentId":5}`, `{"tags":"x"}`, `[1,2]`, `"str"`, `null`, ``, `   {`, `{"a":1}garbage`,
		`{"allowedChannels":null,"allowedFeatures":["a"]}`, `{"allowedChannels":[1]}`, "{\"name\":\"\xff\"}",
		`{"version":1e400}`, `{"version":-9223372036854775809}`, `{"config":{"a":` + strings.Repeat("[", 200) + `}}`,
		`{"id":"a","id":"b"}`, "\ufeff{}", `{"name":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var provider struct {
			ID      string          `json:"id"`
			Name    string          `json:"name"`
			APIType string          `json:"apiType"`
			Config  json.RawMessage `json:"config"`
			Tags    []string        `json:"tags"`
		}
		var stage stageBody
		var key apiKeyBody
		var version versionBody
		for _, dst := range []any{&provider, &stage, &key, &version} {
			r := httptest.NewRequest(http.MethodPost, "/api/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			err := decodeBody(r, dst)
			if err == nil {
				trimmed := bytes.TrimSpace(body)
				if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
					t.Fatalf("accepted %q into %T", body, dst)
				}
				continue
			}
			if code := store.ErrorCode(err); code != store.EINVALID {
				t.Fatalf("%T: %q: code %q (%v), want %s", dst, body, code, err, store.EINVALID)
			}
			if err.Error() == "" {
				t.Fatalf("%T: %q: empty message", dst, body)
			}
			if d, ok := store.ErrorDetails(err).(map[string]string); ok && d["field"] == "" {
				t.Fatalf("%T: %q: field error without a field: %v", dst, body, err)
			}
		}
	})
}
