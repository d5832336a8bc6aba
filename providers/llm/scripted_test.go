package llm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/store"
)

func scriptedProvider(config string) *store.Provider {
	return &store.Provider{
		Meta:         store.Meta{ID: "prov_test", Version: 1},
		ProviderType: store.ProviderTypeLLM,
		APIType:      store.APITypeScripted,
		Config:       json.RawMessage(config),
	}
}

func TestScriptedReplies(t *testing.T) {
	rules := `{"rules":[
		{"match":"(?i)^price","reply":"Prices start at $5, {{.From}}."},
		{"match":"hello","reply":"Hello #{{.Turn}} in {{.ConversationID}}"},
		{"match":"hel","reply":"never: the earlier rule wins"},
		{"match":"^shout (.*)$","reply":"{{.Text | printf \"%q\"}}!"},
		{"match":"^len","reply":"{{len .Text}} chars{{if gt .Turn 1}}, again{{end}}"}
	],"defaultReply":"R{{.Turn}}: {{.Text}}"}`
	tests := []struct {
		name   string
		config string
		req    Request
		want   string
	}{
		{"default of default", `{}`, Request{Text: "hi"}, "You said: hi"},
		{"null config", `null`, Request{Text: "hi"}, "You said: hi"},
		{"empty config", ``, Request{Text: "hi"}, "You said: hi"},
		{"design example", `{"defaultReply":"R{{.Turn}}: {{.Text}}"}`, Request{Text: "hi", Turn: 3}, "R3: hi"},
		{"constant default", `{"defaultReply":"Thanks!"}`, Request{Text: "x"}, "Thanks!"},
		{"empty default", `{"defaultReply":""}`, Request{Text: "x"}, ""},
		{"first rule", rules, Request{Text: "PRICE please", From: "+15550001111"}, "Prices start at $5, +15550001111."},
		{"rules in order", rules, Request{Text: "well hello", Turn: 2, ConversationID: "conv_1"}, "Hello #2 in conv_1"},
		{"no rule matches", rules, Request{Text: "bye", Turn: 7}, "R7: bye"},
		{"pipeline fallback", rules, Request{Text: "shout a\"b"}, `"shout a\"b"!`},
		{"if fallback turn 1", rules, Request{Text: "len", Turn: 1}, "3 chars"},
		{"if fallback turn 2", rules, Request{Text: "length", Turn: 2}, "6 chars, again"},
		{"rule without default", `{"rules":[{"match":"a","reply":"A"}]}`, Request{Text: "b"}, "You said: b"},
		{"all fields", `{"defaultReply":"{{.From}}|{{.ConversationID}}|{{.Turn}}|{{.Text}}"}`,
			Request{Text: "t", Turn: 12, From: "whatsapp:+1555", ConversationID: "conv_x"}, "whatsapp:+1555|conv_x|12|t"},
		{"trim markers", `{"defaultReply":"a  {{- .Text -}}  b"}`, Request{Text: "X"}, "aXb"},
		{"root field", `{"defaultReply":"{{with .From}}{{.}} {{$.Text}}{{end}}"}`, Request{Text: "t", From: "f"}, "f t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(scriptedProvider(tt.config), Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := c.Complete(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if got.Text != tt.want {
				t.Fatalf("reply = %q, want %q", got.Text, tt.want)
			}
		})
	}
}

func TestScriptedInvalidConfig(t *testing.T) {
	tests := []struct {
		name, config, field string
	}{
		{"bad regexp", `{"rules":[{"match":"a","reply":"x"},{"match":"(","reply":"x"}]}`, "config.rules[1].match"},
		{"unparsable rule reply", `{"rules":[{"match":"a","reply":"{{.Text"}]}`, "config.rules[0].reply"},
		{"unparsable default", `{"defaultReply":"{{if .Text}}"}`, "config.defaultReply"},
		{"unknown field", `{"defaultReply":"{{.Txt}}"}`, "config.defaultReply"},
		{"unknown field in pipeline", `{"defaultReply":"{{printf \"%s\" .Body}}"}`, "config.defaultReply"},
		{"unknown root field", `{"defaultReply":"{{with .Text}}{{$.Nope}}{{end}}"}`, "config.defaultReply"},
		{"unknown function", `{"defaultReply":"{{shout .Text}}"}`, "config.defaultReply"},
		{"wrong JSON type", `{"rules":"nope"}`, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(scriptedProvider(tt.config), Options{})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if code := store.ErrorCode(err); code != store.EINVALID {
				t.Fatalf("code = %q, want %q (%v)", code, store.EINVALID, err)
			}
			details, _ := store.ErrorDetails(err).(map[string]string)
			if details["field"] != tt.field {
				t.Fatalf("field = %q, want %q (%v)", details["field"], tt.field, err)
			}
		})
	}
}

func TestScriptedExecutionError(t *testing.T) {
	// index out of range is only detectable at execution time.
	c, err := New(scriptedProvider(`{"defaultReply":"{{index .Text 5}}"}`), Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, err := c.Complete(context.Background(), Request{Text: "abcdefg"}); err != nil || got.Text != "102" || got.FinishReason != FinishStop || got.Usage != (Usage{}) {
		t.Fatalf("Complete = %q, %v; want \"102\"", got.Text, err)
	}
	_, err = c.Complete(context.Background(), Request{Text: "ab"})
	if err == nil || !strings.HasPrefix(err.Error(), "llm: scripted:") {
		t.Fatalf("err = %v, want an llm: scripted error", err)
	}
}

func TestScriptedCanceledContext(t *testing.T) {
	c, err := New(scriptedProvider(`{}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Complete(ctx, Request{Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestScriptedFastPathAllocations(t *testing.T) {
	c, err := New(scriptedProvider(`{"defaultReply":"R{{.Turn}}: {{.Text}}"}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := Request{Text: "hello there", Turn: 42}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Complete(ctx, req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("allocs per Complete = %v, want <= 1", allocs)
	}
}

func BenchmarkScripted(b *testing.B) {
	cases := []struct{ name, config string }{
		{"default", `{}`},
		{"constant", `{"defaultReply":"Thanks, we got it."}`},
		{"rules", `{"rules":[{"match":"^price","reply":"From $5"},{"match":"(?i)help","reply":"How can I help?"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`},
		{"template", `{"defaultReply":"{{if gt .Turn 1}}Again: {{end}}{{.Text | printf \"%.20s\"}}"}`},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(scriptedProvider(bc.config), Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			req := Request{Text: "hello, is anyone there?", Turn: 3, From: "+15551234567", ConversationID: "conv_0123456789abcdef01234567"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Complete(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
