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
	// The last white space starting at or before end, but not at the start.
	for i := len(look); i > 0; {
		r, size := utf8.DecodeLastRuneInString(look[:i])
		i -= size
		if i <= end && unicode.IsSpace(r) {
			if i > 0 {
				return i, i + size
			}
			break
		}
	}
	return end, end
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
