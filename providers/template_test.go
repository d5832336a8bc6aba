package providers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/store"
)

func TestParseReplyTemplate(t *testing.T) {
	ok := []string{
		"",
		"plain text",
		"You said: {{.Text}} (turn {{.Turn}}, from {{.From}}, {{.ConversationID}})",
		"{{if eq .Turn 1}}Welcome!{{else}}Again: {{.Text}}{{end}}",
		"{{with .Text}}{{.}}{{end}}",
		"{{printf \"%.5s\" .Text | len}}",
		"{{$x := .Text}}{{$x}}",
	}
	for _, s := range ok {
		if _, err := ParseReplyTemplate(s); err != nil {
			t.Errorf("ParseReplyTemplate(%q): %v", s, err)
		}
	}
	bad := []struct{ tmpl, want string }{
		{"{{.Name}}", "unknown field .Name"},
		{"{{if .Turn}}{{else}}{{.Nope}}{{end}}", "unknown field .Nope"}, // a branch the sample does not take
		{"{{if false}}{{$.Missing}}{{end}}", "unknown field .Missing"},
		{"{{.Text.Length}}", "can't evaluate field Length"},
		{"{{.Text", "invalid template"},
		{"{{nosuchfunc .Text}}", "invalid template"},
		{`{{define "x"}}a{{end}}{{template "x"}}`, "{{define}}"},
		{`{{template "x"}}`, "{{template"},
		{"{{range 3}}ha{{end}}", "{{range}} is not available"},
		{"{{range 1000000000}}{{end}}", "{{range}} is not available"},
		{"{{$n := 1000000000}}{{range $n}}{{end}}", "{{range}} is not available"},
		{`{{printf "%0999999d" 1}}`, "at most 999"},
		{`{{printf .Text}}`, "literal format"},
		{`{{html (html .Text)}}`, "html is not available"},
		{"{{print " + strings.Repeat(".Text ", 17) + "}}", "arguments"},
		{strings.Repeat("x", MaxReplyTemplateOutput+1), "longer than"},
		{strings.Repeat(`{{printf "`+strings.Repeat("%999s", 14)+`"`+strings.Repeat(" 1", 14)+`}}`, 3), "reply longer than"},
		{"{{index .Text 1000}}", "fails on sample data"},
		// Intermediate values are capped too: each level multiplies by 14
		// without writing anything (a 61 MB string from one SMS, before).
		{strings.Repeat("x", 0) + `{{$a := printf "` + strings.Repeat("%s", 14) + `"` + strings.Repeat(" .Text", 14) + `}}` +
			`{{$b := printf "` + strings.Repeat("%s", 14) + `"` + strings.Repeat(" $a", 14) + `}}` +
			`{{$c := printf "` + strings.Repeat("%s", 14) + `"` + strings.Repeat(" $b", 14) + `}}{{len $c}}`, "reply longer than"},
	}
	for _, b := range bad {
		_, err := ParseReplyTemplate(b.tmpl)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseReplyTemplate(%q) = %v, want an error with %q", b.tmpl, err, b.want)
		}
	}
}

// TestScriptedConfigValidatesTemplatesOnSave: a template that would fail
// on every turn is refused when the provider is saved, naming its field.
func TestScriptedConfigValidatesTemplatesOnSave(t *testing.T) {
	cases := []struct{ cfg, field string }{
		{`{"rules":[{"match":"^hi","reply":"Hi {{.Name}}"}]}`, "config.rules[0].reply"},
		{`{"rules":[{"match":"^hi","reply":"ok"},{"match":"x","reply":"{{.Text.Foo}}"}]}`, "config.rules[1].reply"},
		{`{"defaultReply":"{{.Sender}}"}`, "config.defaultReply"},
	}
	for _, c := range cases {
		_, err := ValidateConfig(store.APITypeScripted, json.RawMessage(c.cfg))
		var se *store.Error
		if store.ErrorCode(err) != store.EINVALID || !errors.As(err, &se) || se.Details.(map[string]string)["field"] != c.field {
			t.Errorf("%s: %v, want EINVALID on %s", c.cfg, err, c.field)
		}
	}
	if _, err := ValidateConfig(store.APITypeScripted, json.RawMessage(`{"rules":[{"match":"^hi","reply":"Hi {{.From}}"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`)); err != nil {
		t.Fatal(err)
	}
}
