package twilio

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTemplateFromMetadata(t *testing.T) {
	const sid = "HX0123456789abcdef0123456789ABCDEF"
	many := map[string]string{}
	for i := range MaxContentVariables + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	manyJSON, _ := json.Marshal(map[string]any{"whatsappTemplate": map[string]any{"contentSid": sid, "contentVariables": many}})
	cases := []struct {
		name, md string
		want     *Template
		err      string
	}{
		{"none", ``, nil, ""},
		{"absent", `{"replyFormat":"plain"}`, nil, ""},
		{"null", `{"whatsappTemplate":null}`, nil, ""},
		{"sid only", `{"whatsappTemplate":{"contentSid":"` + sid + `"}}`, &Template{ContentSID: sid}, ""},
		{"object variables", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":{"2":"b","1":"Ada"}}}`,
			&Template{ContentSID: sid, ContentVariables: `{"1":"Ada","2":"b"}`}, ""},
		{"string variables", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":"{\"1\": \"Ada\"}"}}`,
			&Template{ContentSID: sid, ContentVariables: `{"1":"Ada"}`}, ""},
		{"empty variables", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":{}}}`, &Template{ContentSID: sid}, ""},
		{"not an object", `{"whatsappTemplate":"HX1"}`, nil, "must be an object"},
		{"unknown key", `{"whatsappTemplate":{"contentSid":"` + sid + `","body":"x"}}`, nil, "only those keys"},
		{"missing sid", `{"whatsappTemplate":{"contentVariables":{}}}`, nil, "contentSid must be"},
		{"bad sid", `{"whatsappTemplate":{"contentSid":"HXnothex"}}`, nil, "contentSid must be"},
		{"message sid", `{"whatsappTemplate":{"contentSid":"SM0123456789abcdef0123456789abcdef"}}`, nil, "contentSid must be"},
		{"number value", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":{"1":2}}}`, nil, "object of strings"},
		{"array", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":["a"]}}`, nil, "object of strings"},
		{"bad string", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":"{nope"}}`, nil, "object of strings"},
		{"too many", string(manyJSON), nil, "at most 100 entries"},
		{"too long", `{"whatsappTemplate":{"contentSid":"` + sid + `","contentVariables":{"1":"` + strings.Repeat("x", MaxContentVariablesBytes) + `"}}}`, nil, "bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TemplateFromMetadata(json.RawMessage(tc.md))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
