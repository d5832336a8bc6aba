package replyfmt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// plainClass maps arbitrary bytes to text without Markdown: words of
// letters, digits and everyday punctuation, single spaces, lines that start
// with a letter and end without a space, at most one blank line in a row.
func plainClass(b string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,?!'\"()$%@/:;-= "
	var s []byte
	lineStart, spaces, newlines := true, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c%16 == 0 {
			if newlines < 2 && !lineStart || newlines == 1 {
				s = []byte(strings.TrimRight(string(s), " "))
				s = append(s, '\n')
				newlines++
			}
			lineStart, spaces = true, 0
			continue
		}
		c = alphabet[int(c)%len(alphabet)]
		if lineStart && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			continue
		}
		if c == ' ' {
			if spaces > 0 {
				continue
			}
			spaces++
		} else {
			spaces = 0
		}
		s = append(s, c)
		lineStart, newlines = false, 0
	}
	return string(s)
}

// FuzzConvert: the converter never panics, stays within Bound, keeps
// UTF-8 valid, and leaves text without Markdown as it is, both through the
// shortcut and through the parser.
func FuzzConvert(f *testing.F) {
	for _, tc := range answers {
		f.Add(tc.md)
	}
	f.Add("[a][r] [a][r] [a][r]\n\n[r]: https://example.com/very/long")
	f.Add("- - - - - a\nb\nc\nd")
	f.Add("|a|b|c|d|\n|-|-|-|-|\nx\ny\nz")
	f.Add("> - `x`\n>   ```\n>   y\n>   ```")
	f.Fuzz(func(t *testing.T, in string) {
		for _, wa := range []bool{false, true} {
			out := convert(in, wa)
			if len(out) > Bound(len(in)) {
				t.Fatalf("len(out) = %d > Bound(%d) for %q", len(out), len(in), in)
			}
			if utf8.ValidString(in) && !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 %q from %q", out, in)
			}
			if out != strings.TrimSpace(out) {
				t.Fatalf("untrimmed output %q from %q", out, in)
			}
		}
		p := strings.TrimSpace(plainClass(in))
		if hasMarkup(p) {
			t.Fatalf("plainClass made markup: %q", p)
		}
		if got := Plain(p); got != p {
			t.Fatalf("Plain(%q) = %q", p, got)
		}
		for _, wa := range []bool{false, true} {
			if got := render(p, wa); got != p {
				t.Fatalf("render(%q, %v) = %q: the parser changes text the shortcut keeps", p, wa, got)
			}
		}
	})
}
