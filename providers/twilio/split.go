package twilio

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBodyLength is Twilio's limit on a message body (error 21617 above it).
const MaxBodyLength = 1600

// Encodings reported by Segments.
const (
	EncodingGSM7 = "GSM-7"
	EncodingUCS2 = "UCS-2"
)

// Split cuts body into parts of at most max characters each, in order,
// preferring to cut between paragraphs ("\n\n"), then after a sentence (".",
// "!" or "?" followed by white space), then between words, and only when a
// part has no such boundary, at a character boundary. max <= 0 means
// MaxBodyLength; max 1 is treated as 2.
//
// A cut never falls inside a URL or a number: a word cut is not taken at a
// space that joins the groups of a number ("+1 555 123 4567", "1 234 567")
// while an earlier space will do, and a character cut inside a URL or a run
// of digits that starts within the part is moved to its start. Only a URL or
// number longer than a whole part is cut.
//
// Characters are counted in UTF-16 code units, as the SMS layer does: a
// character outside the Basic Multilingual Plane (most emoji) counts two.
// That count is never below the number of Unicode code points, so a part
// within max by this count is within max however Twilio counts. A rune, and
// so a UTF-16 surrogate pair, is never cut.
//
// The white space at a cut is dropped; joining the parts with it restores
// body. A body within max is returned whole; an empty body yields no parts.
// Paragraph and sentence cuts are taken only in the second half of a part,
// so that parts are not needlessly short.
func Split(body string, max int) []string {
	if max <= 0 {
		max = MaxBodyLength
	}
	if max < 2 {
		max = 2
	}
	if body == "" {
		return nil
	}
	var parts []string
	rest := body
	for rest != "" {
		end, fits := prefixWithin(rest, max)
		if fits {
			parts = append(parts, rest)
			break
		}
		cut, next := chooseCut(rest, end)
		part := strings.TrimRightFunc(rest[:cut], unicode.IsSpace)
		if part != "" {
			parts = append(parts, part)
		}
		rest = strings.TrimLeftFunc(rest[next:], unicode.IsSpace)
	}
	return parts
}

// prefixWithin returns the byte length of the longest prefix of s that is at
// most max UTF-16 code units long (at least one rune), and whether that is
// all of s.
func prefixWithin(s string, max int) (int, bool) {
	units := 0
	for i, r := range s {
		n := utf16Len(r)
		if units+n > max {
			if i == 0 {
				_, size := utf8.DecodeRuneInString(s)
				return size, size == len(s)
			}
			return i, false
		}
		units += n
	}
	return len(s), true
}

// chooseCut picks where to cut rest, whose first end bytes fit in a part:
// the part is rest[:cut] (cut <= end) and the remaining text starts at next.
// A boundary may sit right at end (the character after the part is white
// space).
func chooseCut(rest string, end int) (cut, next int) {
	half := end / 2
	// look extends the window by one character so a boundary at end is seen.
	look := rest[:end]
	if end < len(rest) {
		_, size := utf8.DecodeRuneInString(rest[end:])
		look = rest[:end+size]
	}
	if i := lastParagraphBreak(look, end); i >= half && i > 0 {
		return i, i + 1
	}
	if i := lastSentenceEnd(look, end); i >= half && i > 0 {
		return i, i
	}
	// The last white space starting at or before end, but not at the start,
	// that does not join the groups of a number ("+1 555 123 4567"); if
	// every one does, the last white space all the same.
	word, wordNext := -1, -1
	for i := len(look); i > 0; {
		r, size := utf8.DecodeLastRuneInString(look[:i])
		i -= size
		if i <= end && unicode.IsSpace(r) {
			if i == 0 {
				break
			}
			if !joinsNumber(rest, i, i+size) {
				return i, i + size
			}
			if word < 0 {
				word, wordNext = i, i+size
			}
		}
	}
	if word > 0 {
		return word, wordNext
	}
	// No white space: do not cut a URL or a number that starts inside the
	// part; cut before it.
	if s := tokenStart(rest, end); s > 0 {
		return s, s
	}
	return end, end
}

// joinsNumber reports whether the single white space rest[i:next] sits
// between two groups of one number: a phone number ("+1 555 123 4567",
// "(555) 123 4567"), digits grouped by spaces ("1 234 567,89", an IBAN or
// order number in groups). Cutting there would send half a number in each
// part.
func joinsNumber(rest string, i, next int) bool {
	if rest[i] != ' ' || next >= len(rest) || i == 0 {
		return false
	}
	left := rest[strings.LastIndexFunc(rest[:i], unicode.IsSpace)+1 : i]
	right := rest[next:]
	if j := strings.IndexFunc(right, unicode.IsSpace); j >= 0 {
		right = right[:j]
	}
	left = strings.TrimLeft(left, "+($€£#")
	right = strings.TrimRight(right, ".,;:!?")
	if left == "" || right == "" {
		return false
	}
	last := left[len(left)-1]
	if !isDigit(last) && last != ')' || !isDigit(right[0]) && right[0] != '(' {
		return false
	}
	return numeric(left) && numeric(right)
}

// numeric reports whether s is made of digits and the separators numbers
// are written with, and holds a digit.
func numeric(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digit = true
		case strings.IndexByte(".,-/()", c) >= 0:
		default:
			return false
		}
	}
	return digit
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tokenStart returns where the URL or number that a cut at end would
// split starts, or -1 when end is not inside one. A URL starts with a
// "https://", "http://" or "www." and runs to white space; a number is a run
// of digits and the separators between them.
func tokenStart(rest string, end int) int {
	if end <= 0 || end >= len(rest) {
		return -1
	}
	base := strings.LastIndexFunc(rest[:end], unicode.IsSpace) + 1 // a URL runs to white space
	for _, mark := range [...]string{"https://", "http://", "www."} {
		if j := strings.LastIndex(rest[base:end], mark); j >= 0 {
			return base + j
		}
	}
	// A separator belongs to a number only between two digits.
	numByte := func(k int) bool {
		c := rest[k]
		return isDigit(c) || strings.IndexByte(".,-/", c) >= 0 && k > 0 && k+1 < len(rest) && isDigit(rest[k-1]) && isDigit(rest[k+1])
	}
	if !numByte(end-1) || !numByte(end) {
		return -1
	}
	s := end - 1
	for s > 0 && numByte(s-1) {
		s--
	}
	if s > 0 && rest[s-1] == '+' {
		s--
	}
	return s
}

// lastParagraphBreak returns the index of the last "\n\n" (or "\n\r\n") in
// s that starts at or before limit, or -1.
func lastParagraphBreak(s string, limit int) int {
	best := -1
	for _, sep := range [...]string{"\n\n", "\n\r\n"} {
		t := s
		for {
			i := strings.LastIndex(t, sep)
			if i < 0 {
				break
			}
			if i <= limit {
				best = max(best, i)
				break
			}
			t = t[:i]
		}
	}
	return best
}

// lastSentenceEnd returns the index just after the last '.', '!' or '?'
// that is followed by white space in s, if that index is at most limit, or
// -1.
func lastSentenceEnd(s string, limit int) int {
	for i := min(len(s)-2, limit-1); i >= 0; i-- {
		switch s[i] {
		case '.', '!', '?':
			r, _ := utf8.DecodeRuneInString(s[i+1:])
			if unicode.IsSpace(r) {
				return i + 1
			}
		}
	}
	return -1
}

// utf16Len is the number of UTF-16 code units that encode r.
func utf16Len(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// gsm7Basic is the GSM 03.38 default alphabet (without the escape code).
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension is the GSM 03.38 extension table: each costs two septets
// (escape + code).
const gsm7Extension = "\f^{}\\[~]|€"

// gsm7Cost maps a rune to its septet cost: 1 (basic), 2 (extension), 0 (not
// GSM-7).
var gsm7Cost = func() map[rune]uint8 {
	m := make(map[rune]uint8, 140)
	for _, r := range gsm7Basic {
		m[r] = 1
	}
	for _, r := range gsm7Extension {
		m[r] = 2
	}
	return m
}()

// gsm7ASCII caches gsm7Cost for ASCII, the common case.
var gsm7ASCII = func() (t [128]uint8) {
	for r := range rune(128) {
		t[r] = gsm7Cost[r]
	}
	return t
}()

// Segments returns the encoding an SMS carrier would use for body and the
// number of SMS segments it takes: GSM-7 (160 septets in one segment, 153
// per segment when concatenated, extension-table characters taking two
// septets that are never split across segments) when every character is in
// the GSM-7 alphabet, else UCS-2 (70 UTF-16 code units in one segment, 67 per
// segment when concatenated, surrogate pairs never split). An empty body is
// one GSM-7 segment. Twilio may re-encode ("smart encoding"); this is the
// plain count.
func Segments(body string) (encoding string, segments int) {
	septets, gsm := 0, true
	for _, r := range body {
		var c uint8
		if r < 128 {
			c = gsm7ASCII[r]
		} else {
			c = gsm7Cost[r]
		}
		if c == 0 {
			gsm = false
			break
		}
		septets += int(c)
	}
	if gsm {
		if septets <= 160 {
			return EncodingGSM7, 1
		}
		return EncodingGSM7, packSegments(body, 153, func(r rune) int {
			if r < 128 {
				return int(gsm7ASCII[r])
			}
			return int(gsm7Cost[r])
		})
	}
	units := 0
	for _, r := range body {
		units += utf16Len(r)
	}
	if units <= 70 {
		return EncodingUCS2, 1
	}
	return EncodingUCS2, packSegments(body, 67, utf16Len)
}

// packSegments counts the segments of size per needed for body when no
// character's units are split between segments.
func packSegments(body string, per int, cost func(rune) int) int {
	segments, used := 1, 0
	for _, r := range body {
		c := cost(r)
		if used+c > per {
			segments++
			used = 0
		}
		used += c
	}
	return segments
}
