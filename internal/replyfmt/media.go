package replyfmt

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Bounds of ExtractMedia.
const (
	// MaxMedia is how many media URLs one message carries: Twilio's limit
	// of MediaUrl values per message.
	MaxMedia = 10
	// MaxMediaURLLength bounds one media URL. Longer ones stay in the text
	// as links: a URL that long is more likely a data blob than an image.
	MaxMediaURLLength = 2048
)

// imageRE matches a Markdown image with an http(s) destination and an
// optional title: ![alt](https://host/x.png "title"). The destination may
// be in angle brackets, as CommonMark allows.
var imageRE = regexp.MustCompile(`!\[([^\]\n]*)\]\(\s*<?(https?://[^\s<>()]+)>?(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)`)

// ExtractMedia takes the images out of a reply so that they are sent as
// media (MMS, WhatsApp media) instead of as text: each Markdown image
// ![alt](https://…) with an absolute http or https URL of at most
// MaxMediaURLLength bytes becomes a media URL, in order, at most MaxMedia
// of them, and is removed from the text. Images inside code (between
// backticks or in a fenced block), with another scheme, beyond the bound
// or too long stay in the text, where Plain and WhatsApp render them as
// their URL. The text left is trimmed and loses the blank lines the images
// leave; it may be empty (a media-only message).
func ExtractMedia(md string) (string, []string) {
	if !strings.Contains(md, "![") {
		return md, nil
	}
	code := codeRanges(md)
	var media []string
	var b strings.Builder
	last := 0
	for _, m := range imageRE.FindAllStringSubmatchIndex(md, -1) {
		start, end := m[0], m[1]
		raw := md[m[4]:m[5]]
		if len(media) >= MaxMedia || inRanges(code, start) || len(raw) > MaxMediaURLLength || !validMediaURL(raw) {
			continue
		}
		media = append(media, raw)
		b.WriteString(md[last:start])
		if start > 0 && md[start-1] == ' ' && end < len(md) && md[end] == ' ' {
			end++ // "a ![x](u) b" leaves "a b"
		}
		last = end
	}
	if media == nil {
		return md, nil
	}
	b.WriteString(md[last:])
	return tidy(b.String()), media
}

// CheckMediaURLs checks media URLs given outright (a start request's
// mediaUrls) by the rules ExtractMedia applies to images: at most
// MaxMedia, each an absolute http(s) URL with a host and no credentials of
// at most MaxMediaURLLength bytes. The error names the offending entry.
func CheckMediaURLs(urls []string) error {
	if len(urls) > MaxMedia {
		return fmt.Errorf("at most %d media URLs (Twilio's limit per message), got %d", MaxMedia, len(urls))
	}
	for i, u := range urls {
		switch {
		case u == "":
			return fmt.Errorf("[%d] is empty", i)
		case len(u) > MaxMediaURLLength:
			return fmt.Errorf("[%d] is longer than %d bytes", i, MaxMediaURLLength)
		case strings.ContainsAny(u, " \t\r\n") || !validMediaURL(u):
			return fmt.Errorf("[%d] must be an absolute http or https URL with a host and no credentials", i)
		}
	}
	return nil
}

// validMediaURL reports whether s parses as an absolute http(s) URL with a
// host and no credentials: what Twilio can fetch.
func validMediaURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// codeRanges returns the byte ranges of fenced code blocks and inline code
// spans of md: a cheap scan, enough to leave images in code alone.
func codeRanges(md string) [][2]int {
	var out [][2]int
	inFence, fenceStart := false, 0
	pos := 0
	for _, line := range strings.SplitAfter(md, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
			if inFence {
				out = append(out, [2]int{fenceStart, pos + len(line)})
			} else {
				fenceStart = pos
			}
			inFence = !inFence
		case !inFence:
			open := -1
			for i := 0; i < len(line); i++ {
				if line[i] != '`' {
					continue
				}
				if open < 0 {
					open = i
				} else {
					out = append(out, [2]int{pos + open, pos + i + 1})
					open = -1
				}
			}
		}
		pos += len(line)
	}
	if inFence {
		out = append(out, [2]int{fenceStart, len(md)})
	}
	return out
}

func inRanges(rs [][2]int, i int) bool {
	for _, r := range rs {
		if i >= r[0] && i < r[1] {
			return true
		}
	}
	return false
}

// tidy trims trailing spaces off lines, collapses runs of blank lines to
// one and trims the text.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// MediaMetadataField is where a stage turns media extraction off:
// metadata.replyMedia = false sends a reply's images as links in the text
// (MMS costs more than SMS, and some stages should never attach).
const MediaMetadataField = "metadata.replyMedia"

// MediaFromMetadata reads metadata.replyMedia: true (extract images as
// media) when absent or null, an error (for the API's 400 naming
// MediaMetadataField) when it is not a boolean.
func MediaFromMetadata(metadata json.RawMessage) (bool, error) {
	if len(metadata) == 0 {
		return true, nil
	}
	var md struct {
		ReplyMedia json.RawMessage `json:"replyMedia"`
	}
	if err := json.Unmarshal(metadata, &md); err != nil || len(md.ReplyMedia) == 0 || string(md.ReplyMedia) == "null" {
		return true, nil
	}
	var on bool
	if err := json.Unmarshal(md.ReplyMedia, &on); err != nil {
		return false, fmt.Errorf("must be true or false")
	}
	return on, nil
}
