package llm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/store"
)

// Templates whose cost is not bounded by the template and the message are
// refused when the provider is built (each of these ran for minutes or
// allocated gigabytes before).
func TestScriptedRefusesUnboundedTemplates(t *testing.T) {
	for _, tmpl := range []string{
		"{{range 1000000000}}{{end}}",
		"{{range .Turn}}x{{end}}",
		`{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{block "b" .}}x{{end}}`,
		`{{printf "%0999999d" 1}}`,
		`{{printf "%.9999f" 1.0}}`,
		`{{printf "%*d" 999999 1}}`,
		`{{printf .Text}}`,
		`{{html (html (html (html .Text)))}}`,
		`{{.Text | js}}`,
		`{{urlquery .Text}}`,
		"{{print " + strings.Repeat(".Text ", 17) + "}}",
		strings.Repeat("x", MaxScriptedReplyBytes+1),
	} {
		cfg, _ := json.Marshal(map[string]string{"defaultReply": tmpl})
		_, err := New(scriptedProvider(string(cfg)), Options{})
		d, _ := store.ErrorDetails(err).(map[string]string)
		if err == nil || d["field"] != "config.defaultReply" || !strings.Contains(err.Error(), "invalid template") {
			t.Errorf("%.60q: got %v, want an invalid template error on config.defaultReply", tmpl, err)
		}
	}
	// Bounded uses stay available.
	for _, tmpl := range []string{`{{printf "%03d %-10s" .Turn .Text}}`, `{{if gt .Turn 1}}again{{else}}hi{{end}}`, `{{with .From}}{{.}}{{end}}`} {
		cfg, _ := json.Marshal(map[string]string{"defaultReply": tmpl})
		if _, err := New(scriptedProvider(string(cfg)), Options{}); err != nil {
			t.Errorf("%q refused: %v", tmpl, err)
		}
	}
}

// A reply is capped at MaxScriptedReplyBytes, on the fast path (plain
// fields) and through text/template alike; the turn fails instead.
func TestScriptedReplyIsCapped(t *testing.T) {
	long := strings.Repeat("a", MaxScriptedReplyBytes/2+1)
	for _, tmpl := range []string{"{{.Text}}{{.Text}}", "{{if true}}{{.Text}}{{.Text}}{{end}}"} {
		cfg, _ := json.Marshal(map[string]string{"defaultReply": tmpl})
		c, err := New(scriptedProvider(string(cfg)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Complete(context.Background(), Request{Text: long}); !errors.Is(err, errReplyTooLong) {
			t.Errorf("%q: %d bytes, %v; want errReplyTooLong", tmpl, len(got.Text), err)
		}
		if got, err := c.Complete(context.Background(), Request{Text: "ok"}); err != nil || got.Text != "okok" {
			t.Errorf("%q: %q, %v", tmpl, got.Text, err)
		}
	}
}
