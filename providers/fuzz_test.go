package providers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"switchboard/store"
)

// FuzzValidateConfig validates arbitrary config JSON for every apiType.
// It never panics; an accepted config re-validates to itself (the
// normalised form is a fixed point) and is a JSON object; a refused one
// is an EINVALID FieldError naming "apiType" or a "config…" field.
func FuzzValidateConfig(f *testing.F) {
	seeds := []string{
		`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"abc123","fromNumber":"+15550001000"}`,
		`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"abc123","fromNumber":"whatsapp:+15550001000","apiBaseUrl":"http://127.0.0.1:1"}`,
		`{"apiKey":"sk-x","baseUrl":"https://api.openai.com/v1","organizationId":""}`,
		`{"baseUrl":"http://localhost:11434","apiKey":null}`,
		`{"rules":[{"match":"(?i)^hi","reply":"Hello {{.From}}"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`,
		`{"rules":[null]}`, `{"rules":[{"match":"(","reply":"x"}]}`, `{"defaultReply":"{{"}`, `{"rules":{}}`,
		`{"apiKey":"k","extra":1,"other":2}`, `null`, ``, `[]`, `"x"`, `{"apiKey":"k","apiKey":"j"}`,
		`{"baseUrl":"javascript:alert(1)"}`, `{"baseUrl":"http://"}`, `{"apiKey":" "}`, "{\"apiKey\":\"\xff\"}",
	}
	for _, s := range seeds {
		for _, at := range APITypes() {
			f.Add(at, []byte(s))
		}
	}
	f.Add("bogus", []byte(`{}`))
	f.Add("", []byte(`{}`))
	f.Fuzz(func(t *testing.T, apiType string, raw []byte) {
		out, err := ValidateConfig(apiType, raw)
		if err != nil {
			if store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("%s %q: %v is not EINVALID", apiType, raw, err)
			}
			d, _ := store.ErrorDetails(err).(map[string]string)
			if field := d["field"]; field != "apiType" && field != "config" && !strings.HasPrefix(field, "config.") {
				t.Fatalf("%s %q: error %v names field %q", apiType, raw, err, field)
			}
			if _, known := ProviderTypeOf(apiType); known == (d["field"] == "apiType") {
				t.Fatalf("%s: apiType error %v for a known type, or none for an unknown one", apiType, err)
			}
			return
		}
		if len(out) == 0 || out[0] != '{' || !json.Valid(out) {
			t.Fatalf("%s %q: normalised to %q", apiType, raw, out)
		}
		again, err := ValidateConfig(apiType, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("%s: %q normalises to %q, which re-validates to %q, %v", apiType, raw, out, again, err)
		}
	})
}
