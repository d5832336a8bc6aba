package prompt

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York without a zoneinfo directory
)

func render(t *testing.T, src string, d *Data) string {
	t.Helper()
	tpl, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	out, err := tpl.Render(d)
	if err != nil {
		t.Fatalf("Render(%q): %v", src, err)
	}
	return out
}

var sample = &Data{
	Agent:       "You're Ann, a <friendly> agent & helper.",
	UserInput:   "where is my order?",
	UserProfile: Profile("whatsapp:+15551234567", "whatsapp", "Zoë"),
	Vars:        map[string]any{"sizes": []any{"S", "M"}, "order": map[string]any{"id": "A1"}},
	Consts:      map[string]any{"companyName": "Acme & Co"},
	Now:         time.Date(2026, 2, 27, 13, 30, 0, 0, time.UTC),
}

// Bonsai's variables render, and nothing is HTML-escaped.
func TestVariables(t *testing.T) {
	cases := map[string]string{
		"{{agent}}":              "You're Ann, a <friendly> agent & helper.",
		"{{{agent}}}":            "You're Ann, a <friendly> agent & helper.",
		"{{consts.companyName}}": "Acme & Co",
		"{{userProfile.address}} {{userProfile.channel}}":   "whatsapp:+15551234567 whatsapp",
		"{{userProfile.name}}":                              "Zoë",
		"{{vars.order.id}} {{vars.sizes.length}}":           "A1 2",
		"{{userInput}}":                                     "where is my order?",
		"{{time.date}} {{time.time}} {{time.timezone}}":     "2026-02-27 13:30:00 UTC",
		"{{time.dayOfWeek}} {{time.nextMonday}}":            "Friday 2026-03-02",
		"{{time.nextFriday}} {{time.offset}}":               "2026-02-27 +00:00",
		"{{project.timezone}}":                              "",
		"{{#each vars.sizes}}[{{this}}]{{/each}}":           "[S][M]",
		"{{nope.deep}}":                                     "",
		"{{~consts.companyName~}} | {{{userProfile.name}}}": "Acme & Co| Zoë",
		"{{consts}} {{vars.order}}":                         `{"companyName":"Acme & Co"} {"id":"A1"}`,
		"{{#each consts}}{{@key}}={{this}}{{/each}}":        "companyName=Acme & Co",
		"{{#with vars.order}}{{id}}{{/with}}":               "A1",
	}
	for src, want := range cases {
		if got := render(t, src, sample); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	if got := render(t, "{{time.anchor}}", sample); !strings.HasPrefix(got, "Today is Friday, 27 February 2026 (UTC, UTC+00:00). This week (Mon–Sun): 23 Feb–1 Mar. Next week: 2 Mar–8 Mar. Next Mon: 2 Mar, Tue: 3 Mar") {
		t.Errorf("anchor = %q", got)
	}
}

// The time is rendered in the location given.
func TestTimeLocation(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	d := *sample
	d.Location = loc
	if got := render(t, "{{time.time}} {{time.offset}} {{project.timezone}}", &d); got != "08:30:00 -05:00 America/New_York" {
		t.Errorf("got %q", got)
	}
}

// Bonsai's helpers, as blocks and as values.
func TestHelpers(t *testing.T) {
	cases := map[string]string{
		`{{get vars "order.id"}}`:                                          "A1",
		`{{get vars "order.missing.x"}}`:                                   "",
		`{{#exists vars.order}}yes{{/exists}}`:                             "yes",
		`{{#exists vars.nope}}yes{{else}}no{{/exists}}`:                    "no",
		`{{#if (exists vars.nope)}}yes{{else}}no{{/if}}`:                   "no",
		`{{#if (exists vars.order)}}yes{{else}}no{{/if}}`:                  "yes",
		`{{#hasItems vars.sizes}}{{join vars.sizes ", "}}{{/hasItems}}`:    "S, M",
		`{{#hasItems vars.none}}x{{else}}empty{{/hasItems}}`:               "empty",
		`{{#contains vars.sizes "M"}}has M{{/contains}}`:                   "has M",
		`{{#if (contains vars.sizes "XL")}}XL{{else}}no XL{{/if}}`:         "no XL",
		`Hello {{default userProfile.nick "valued customer"}}`:             "Hello valued customer",
		`Hello {{default userProfile.name "valued customer"}}`:             "Hello Zoë",
		`{{json vars.sizes}}`:                                              `["S","M"]`,
		`{{{json consts}}}`:                                                `{"companyName":"Acme & Co"}`,
		`{{lookup consts "companyName"}}`:                                  "Acme & Co",
		`{{log "x"}}ok`:                                                    "ok",
		`{{join vars.sizes}} {{join vars.nope}}|`:                          "S, M |",
		`{{json vars.nope}}|{{json vars.order true}}`:                      "|{\n  \"id\": \"A1\"\n}",
		`{{#eq vars.order.id "A1"}}A1{{else}}other{{/eq}}`:                 "A1",
		`{{#if (eq vars.sizes.length 2)}}two{{/if}}`:                       "two",
		`{{#if (ne userProfile.channel "sms")}}not sms{{/if}}`:             "not sms",
		`{{#gt vars.sizes.length 1}}many{{/gt}}{{#lt 1 2}}<{{/lt}}`:        "many<",
		`{{#if (gte time.timestamp 0)}}ok{{/if}}{{#lte "b" "a"}}x{{/lte}}`: "ok",
		`{{#if (and vars.order vars.sizes userInput)}}all{{/if}}`:          "all",
		`{{#or vars.nope userInput}}some{{/or}}`:                           "some",
		`{{#not vars.nope}}none{{/not}}{{#if (not vars.order)}}x{{/if}}`:   "none",
		`{{#exists userProfile.empty}}x{{else}}missing{{/exists}}`:         "missing",
		`{{default vars.zero "fallback"}}`:                                 "fallback",
	}
	for src, want := range cases {
		if got := render(t, src, sample); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
}

// UsesAgent tells whether the prompt places the agent's prompt itself.
func TestUsesAgent(t *testing.T) {
	for src, want := range map[string]bool{
		"{{agent}}\nBe brief.":                 true,
		"{{#if agent}}{{agent}}{{/if}}":        true,
		"{{{agent}}}":                          true,
		"Be brief.":                            false,
		"{{vars.agent}} {{userProfile.agent}}": false,
		"agent":                                false,
	} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if tpl.UsesAgent != want {
			t.Errorf("%q: UsesAgent = %v, want %v", src, tpl.UsesAgent, want)
		}
	}
}

// A prompt that does not parse, or calls what does not exist, is a
// ParseError with its position.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		src          string
		line, column int
		reason       string
	}{
		{"Hello {{name", 1, 7, "Unclosed expression"},
		{"a\nb {{#if x}}c", 2, 13, "Expecting"},
		{"a\nb {{#if x}}{{/each}}", 2, 15, "doesn't match"},
		{"x\n\n  {{> part}}", 3, 3, "partials"},
		{"{{shout vars.x}}", 1, 3, `unknown helper "shout"`},
		{"{{#if}}x{{/if}}", 1, 4, `helper "if" takes 1`},
		{`{{join}}`, 1, 3, `helper "join" takes 1 to 2`},
		{`{{#and a b c}}x{{/and}}`, 1, 4, `helper "and" takes 2`},
		{`{{ifGt 1 2}}`, 1, 3, `unknown helper "ifGt"`},
		{"é{{#each", 1, 2, "Unclosed expression"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: err = %v, want a ParseError", c.src, err)
			continue
		}
		if pe.Line != c.line || pe.Column != c.column || !strings.Contains(pe.Reason, c.reason) {
			t.Errorf("%q: %+v, want line %d column %d reason containing %q", c.src, pe, c.line, c.column, c.reason)
		}
	}
}

// The cache parses a stage's prompt once per version and is safe for
// concurrent renders.
func TestCache(t *testing.T) {
	var c Cache
	a, err := c.Get("stg_1", 1, "v1 {{userInput}}")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Get("stg_1", 1, "v1 {{userInput}}")
	if a != b {
		t.Error("the same version was parsed twice")
	}
	n, _ := c.Get("stg_1", 2, "v2 {{userInput}}")
	if n == a {
		t.Error("a new version kept the old template")
	}
	if _, err := c.Get("stg_2", 1, "{{#if x}}"); err == nil {
		t.Error("a bad prompt parsed")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			d := *sample
			d.UserInput = strings.Repeat("x", i)
			if out, err := n.Render(&d); err != nil || out != "v2 "+d.UserInput {
				t.Errorf("render %d: %q, %v", i, out, err)
			}
		})
	}
	wg.Wait()
}

// TestRenderSkipsWhatCannotBeSeen: a prompt without {{ renders as itself;
// one that cannot see time renders as it would with it; one that can
// (by name, or through the whole context) gets it.
func TestRenderSkipsWhatCannotBeSeen(t *testing.T) {
	if got := render(t, "Be brief. {not a tag}", sample); got != "Be brief. {not a tag}" {
		t.Fatalf("static prompt rendered %q", got)
	}
	tpl, err := Parse("Hi {{userProfile.address}}")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.needsTime {
		t.Fatal("a prompt that never names time builds it")
	}
	for _, src := range []string{"{{time.date}}", "{{#with time}}{{date}}{{/with}}", "{{json this}}", "{{#each vars}}{{../time.date}}{{/each}}", "{{@root.time.date}}"} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !tpl.needsTime {
			t.Errorf("%s can read time but does not get it", src)
		}
		if out := render(t, src, sample); src != "{{#each vars}}{{../time.date}}{{/each}}" && out == "" {
			t.Errorf("%s rendered empty", src)
		}
	}
}
