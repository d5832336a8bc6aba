package twilio

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// units counts UTF-16 code units, the measure Split bounds.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

// squeeze removes all white space, the part of the text Split may drop.
// Bytes that are not valid UTF-8 are kept as they are, so that squeezing
// parts one by one and joining them equals squeezing the whole.
func squeeze(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !(size > 1 || r != utf8.RuneError) || !unicode.IsSpace(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// squeezeParts squeezes each part and joins them.
func squeezeParts(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(squeeze(p))
	}
	return b.String()
}

func TestSplit(t *testing.T) {
	para := strings.Repeat("word ", 100) // 500 chars
	tests := []struct {
		name string
		body string
		max  int
		want []string
	}{
		{name: "empty", body: "", max: 10, want: nil},
		{name: "fits", body: "hello world", max: 11, want: []string{"hello world"}},
		{name: "default max fits", body: strings.Repeat("a", 1600), max: 0, want: []string{strings.Repeat("a", 1600)}},
		{name: "paragraph", body: "aaaa bbbb.\n\ncccc dddd", max: 15, want: []string{"aaaa bbbb.", "cccc dddd"}},
		{name: "sentence before word", body: "Hi there friend. How are you today", max: 20, want: []string{"Hi there friend.", "How are you today"}},
		{name: "sentence at the limit", body: "Hi there friend. How", max: 16, want: []string{"Hi there friend.", "How"}},
		{name: "early sentence ignored", body: "Hi. There friend how are you", max: 20, want: []string{"Hi. There friend how", "are you"}},
		{name: "sentence with !", body: "Hello world! Again and again", max: 20, want: []string{"Hello world!", "Again and again"}},
		{name: "no sentence without space", body: "version 1.2.3 is out now ok", max: 16, want: []string{"version 1.2.3 is", "out now ok"}},
		{name: "word", body: "one two three four five", max: 10, want: []string{"one two", "three four", "five"}},
		{name: "hard", body: "abcdefghij", max: 4, want: []string{"abcd", "efgh", "ij"}},
		{name: "hard multibyte", body: "ééééé", max: 2, want: []string{"éé", "éé", "é"}},
		{name: "emoji count two", body: "😀😀😀", max: 3, want: []string{"😀", "😀", "😀"}},
		{name: "emoji pairs", body: "😀😀😀", max: 4, want: []string{"😀😀", "😀"}},
		{name: "max one is two", body: "😀a", max: 1, want: []string{"😀", "a"}},
		{name: "early paragraph ignored", body: "a\n\nbbbbbbbb cccccccc dd", max: 20, want: []string{"a\n\nbbbbbbbb cccccccc", "dd"}},
		{name: "whitespace only tail", body: "aaaa bbbb      ", max: 6, want: []string{"aaaa", "bbbb"}},
		{name: "crlf paragraph", body: "aaaa bbbb\r\n\r\ncccc", max: 12, want: []string{"aaaa bbbb", "cccc"}},
		{name: "three paragraphs", body: para + "\n\n" + para + "\n\n" + para, max: 1200, want: []string{para + "\n\n" + strings.TrimSpace(para), para}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.body, tc.max)
			if len(got) != len(tc.want) {
				t.Fatalf("Split = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("part %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestSplitLongReply(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 5000; i++ {
		b.WriteString("This is sentence number ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(". ")
		if i%9 == 8 {
			b.WriteString("\n\n")
		}
	}
	body := b.String()
	parts := Split(body, 0)
	if len(parts) < 4 {
		t.Fatalf("got %d parts, want at least 4", len(parts))
	}
	for i, p := range parts {
		if units(p) > MaxBodyLength {
			t.Fatalf("part %d has %d characters", i, units(p))
		}
		if i < len(parts)-1 && !strings.HasSuffix(p, ".") {
			t.Fatalf("part %d does not end at a sentence: %q", i, p[len(p)-10:])
		}
	}
	if squeezeParts(parts) != squeeze(body) {
		t.Fatal("parts do not reconstruct the body")
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		encoding string
		segments int
	}{
		{"empty", "", EncodingGSM7, 1},
		{"short", "Hello", EncodingGSM7, 1},
		{"160 gsm", strings.Repeat("a", 160), EncodingGSM7, 1},
		{"161 gsm", strings.Repeat("a", 161), EncodingGSM7, 2},
		{"306 gsm", strings.Repeat("a", 306), EncodingGSM7, 2},
		{"307 gsm", strings.Repeat("a", 307), EncodingGSM7, 3},
		{"gsm accents", "Ça va? àéèìòù ÄÖÑÜ ß €", EncodingGSM7, 1},
		{"extension counts two", strings.Repeat("€", 80), EncodingGSM7, 1},
		{"extension overflows", strings.Repeat("€", 81), EncodingGSM7, 2},
		{"escape not split", strings.Repeat("a", 152) + "{" + strings.Repeat("a", 10), EncodingGSM7, 2},
		{"escape pushed", strings.Repeat("a", 152) + "{" + strings.Repeat("a", 152), EncodingGSM7, 3},
		{"ucs2 70", strings.Repeat("ж", 70), EncodingUCS2, 1},
		{"ucs2 71", strings.Repeat("ж", 71), EncodingUCS2, 2},
		{"ucs2 134", strings.Repeat("ж", 134), EncodingUCS2, 2},
		{"ucs2 135", strings.Repeat("ж", 135), EncodingUCS2, 3},
		{"emoji is two units", strings.Repeat("😀", 35), EncodingUCS2, 1},
		{"emoji 36", strings.Repeat("😀", 36), EncodingUCS2, 2},
		{"pair in one segment", strings.Repeat("a", 66) + "😀" + "a", EncodingUCS2, 1},
		{"pair not split", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 66), EncodingUCS2, 3},
		{"one non-gsm char", strings.Repeat("a", 100) + "ç", EncodingUCS2, 2},
		{"curly quote", "it’s", EncodingUCS2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, n := Segments(tc.body)
			if enc != tc.encoding || n != tc.segments {
				t.Fatalf("Segments = %s/%d, want %s/%d", enc, n, tc.encoding, tc.segments)
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello there. How are you?\n\nFine thanks! "+strings.Repeat("word ", 50), 40)
	f.Add(strings.Repeat("😀ab ", 30), 7)
	f.Add("a\n\n\n\nb", 2)
	f.Add(strings.Repeat("x", 100), 1)
	f.Add("\xff\xfe invalid utf8 \xc3", 3)
	f.Add("", 5)
	f.Fuzz(func(t *testing.T, body string, max int) {
		if max > 5000 || max < -5 {
			return
		}
		parts := Split(body, max)
		limit := max
		if limit <= 0 {
			limit = MaxBodyLength
		}
		limit = maxInt(limit, 2)
		if body == "" && parts != nil {
			t.Fatalf("empty body gave parts %q", parts)
		}
		for i, p := range parts {
			if p == "" {
				t.Fatalf("part %d is empty", i)
			}
			if u := units(p); u > limit && utf8.RuneCountInString(p) > 1 {
				t.Fatalf("part %d has %d units, limit %d: %q", i, u, limit, p)
			}
			if utf8.ValidString(body) && !utf8.ValidString(p) {
				t.Fatalf("part %d is not valid UTF-8: %q", i, p)
			}
		}
		if squeezeParts(parts) != squeeze(body) {
			t.Fatalf("parts %q do not reconstruct %q", parts, body)
		}
		// Parts appear in body in order.
		rest := body
		for i, p := range parts {
			j := strings.Index(rest, p)
			if j < 0 {
				t.Fatalf("part %d %q not found in order", i, p)
			}
			if strings.TrimSpace(rest[:j]) != "" && squeeze(rest[:j]) != "" {
				t.Fatalf("text skipped before part %d: %q", i, rest[:j])
			}
			rest = rest[j+len(p):]
		}
		if squeeze(rest) != "" {
			t.Fatalf("text left after the last part: %q", rest)
		}
		// A cut between two digits (no white space dropped) happens only
		// when the number fills the whole part.
		joined := strings.Join(parts, "")
		if len(parts) > 1 && squeeze(joined) == joined && joined == body {
			for i := 0; i+1 < len(parts); i++ {
				p, q := parts[i], parts[i+1]
				if isDigit(p[len(p)-1]) && isDigit(q[0]) && strings.TrimLeft(p, "+0123456789.,-/") != "" {
					t.Fatalf("part %d %q ends inside the number that starts part %d %q", i, p, i+1, q)
				}
			}
		}
		if units(body) <= limit && body != "" && (len(parts) != 1 || parts[0] != body) {
			t.Fatalf("a body within the limit was changed: %q", parts)
		}
	})
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestSplitKeepsURLsAndNumbers: a long reply whose natural cut falls inside
// a link or a number is cut before it instead.
func TestSplitKeepsURLsAndNumbers(t *testing.T) {
	filler := strings.Repeat("word ", 10) // 50 chars
	tests := []struct {
		name string
		body string
		max  int
		want []string
	}{
		{
			name: "phone number with spaces",
			body: filler + "call +1 555 123 4567 today",
			max:  62, // the word cut would fall after "+1 555"
			want: []string{strings.TrimSpace(filler) + " call", "+1 555 123 4567 today"},
		},
		{
			name: "phone number with area code in parentheses",
			body: filler + "call (555) 123 4567 now",
			max:  64,
			want: []string{strings.TrimSpace(filler) + " call", "(555) 123 4567 now"},
		},
		{
			name: "grouped amount",
			body: filler + "total 1 234 567,89 EUR",
			max:  62,
			want: []string{strings.TrimSpace(filler) + " total", "1 234 567,89 EUR"},
		},
		{
			name: "order number in groups",
			body: filler + "order 4821 3390 1177.",
			max:  64,
			want: []string{strings.TrimSpace(filler) + " order", "4821 3390 1177."},
		},
		{
			name: "numbers in a sentence are still cut between words",
			body: "I have 3 dogs and 2 cats at home",
			max:  10,
			want: []string{"I have 3", "dogs and 2", "cats at", "home"},
		},
		{
			name: "only number groups: the last space all the same",
			body: "1 2 3 4 5 6 7 8 9",
			max:  6,
			want: []string{"1 2 3", "4 5 6", "7 8 9"},
		},
		{
			name: "URL in a text without spaces",
			body: strings.Repeat("x", 30) + "https://example.com/orders/48213",
			max:  40,
			want: []string{strings.Repeat("x", 30), "https://example.com/orders/48213"},
		},
		{
			name: "www URL in a text without spaces",
			body: strings.Repeat("x", 30) + "(www.example.com/orders/48213)",
			max:  40,
			want: []string{strings.Repeat("x", 30) + "(", "www.example.com/orders/48213)"},
		},
		{
			name: "decimal number in a text without spaces",
			body: strings.Repeat("x", 30) + "=1,234,567.89",
			max:  36,
			want: []string{strings.Repeat("x", 30) + "=", "1,234,567.89"},
		},
		{
			name: "international number in a text without spaces",
			body: strings.Repeat("x", 30) + ":+15551234567",
			max:  36,
			want: []string{strings.Repeat("x", 30) + ":", "+15551234567"},
		},
		{
			name: "URL longer than a part is cut",
			body: "https://example.com/" + strings.Repeat("a", 30),
			max:  20,
			want: []string{"https://example.com/", strings.Repeat("a", 20), strings.Repeat("a", 10)},
		},
		{
			name: "URL in parentheses stays whole",
			body: filler + "see our page (https://example.com/pricing) for details",
			max:  80,
			want: []string{strings.TrimSpace(filler) + " see our page", "(https://example.com/pricing) for details"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.body, tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("Split =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}
