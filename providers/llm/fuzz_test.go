package llm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"switchboard/store"
)

// FuzzScriptedTemplate compiles arbitrary reply templates as a scripted
// provider's rule and default reply and renders them for arbitrary
// messages. Nothing panics; a refused template is an EINVALID FieldError
// on the field that holds it; a reply is at most MaxScriptedReplyBytes,
// or the turn fails with an "llm: scripted:" error.
func FuzzScriptedTemplate(f *testing.F) {
	for _, s := range []string{
		"R{{.Turn}}: {{.Text}}", "You said: {{.Text}}", "{{.From}} {{.ConversationID}}", "plain text", "",
		"{{if eq .Turn 1}}Welcome{{else}}Again{{end}}", "{{with .Text}}{{.}}{{end}}", "{{printf \"%05d|%-10s|%.3q\" .Turn .Text .From}}",
		"{{index .Text 0}}", "{{slice .Text 1 3}}", "{{len .Text}}", "{{.Nope}}", "{{$.Text}}{{$x := .Turn}}{{$x}}",
		"{{range 1000000000}}x{{end}}", "{{define \"a\"}}{{template \"a\" .}}{{end}}{{template \"a\" .}}", "{{block \"b\" .}}x{{end}}",
		"{{printf \"%0999999d\" 1}}", "{{printf .Text}}", "{{printf \"%*d\" 999999 1}}", "{{html (html (html .Text))}}",
		"{{.Text | js}}", "{{urlquery .Text}}", "{{print .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text .Text}}",
		"{{call .Text}}", "{{.Text.Len}}", "{{", "{{end}}", "{{/* c */}}", "{{- .Text -}}", "{{break}}", "{{.Text}}{{.Text}}{{.Text}}{{.Text}}",
	} {
		f.Add(s, "hello & <world> %d %s", 3)
	}
	f.Add("{{.Text}}", strings.Repeat("&", 5000), 1)
	f.Fuzz(func(t *testing.T, tmpl, text string, turn int) {
		cfg, _ := json.Marshal(map[string]any{
			"rules":        []map[string]string{{"match": "^rule", "reply": tmpl}},
			"defaultReply": tmpl,
		})
		c, err := New(&store.Provider{Meta: store.Meta{ID: "prov_fuzz", Version: 1}, ProviderType: store.ProviderTypeLLM,
			APIType: store.APITypeScripted, Config: cfg}, Options{})
		if err != nil {
			d, _ := store.ErrorDetails(err).(map[string]string)
			if store.ErrorCode(err) != store.EINVALID || (d["field"] != "config.rules[0].reply" && d["field"] != "config.defaultReply") {
				t.Fatalf("template %q refused with %v (field %q)", tmpl, err, d["field"])
			}
			return
		}
		for _, txt := range []string{text, "rule " + text} {
			got, err := c.Complete(context.Background(), Request{Text: txt, Turn: turn, From: "+15551234567", ConversationID: "conv_1"})
			if err != nil {
				if !strings.HasPrefix(err.Error(), "llm: scripted:") {
					t.Fatalf("template %q: error %v", tmpl, err)
				}
				continue
			}
			if len(got.Text) > MaxScriptedReplyBytes {
				t.Fatalf("template %q: %d-byte reply", tmpl, len(got.Text))
			}
		}
	})
}
