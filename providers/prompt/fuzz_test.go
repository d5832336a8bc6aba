package prompt

import (
	"errors"
	"testing"
)

// FuzzParse: any prompt either parses and renders, or is a ParseError
// with a position inside it; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"{{agent}}", "{{#if (exists vars.x)}}a{{else}}b{{/if}}", "{{#each time.calendar}}{{date}}{{/each}}",
		"{{x", "{{#a}}{{/b}}", "{{{json consts}}}", "{{> p}}", "{{!-- c --}}", "{{{{raw}}}}x{{{{/raw}}}}",
		"{{#with vars as |v|}}{{v}}{{/with}}", "{{lookup vars \"a\"}}", "{{~#hasItems x~}}{{/hasItems}}", "{{@root.agent}}",
		"{{../x}}", "{{#and a b}}y{{/and}}", "{{join vars.sizes \", \"}}", "{{default 1 2}}", "\\{{agent}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		tpl, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("%q: %v", src, err)
			}
			return
		}
		if _, err := tpl.Render(sample); err != nil {
			// A render error is reported, never a panic; those left are
			// data-dependent (a helper given a value it cannot take).
			t.Logf("%q: %v", src, err)
		}
	})
}
