// Package replyfmt turns the Markdown that LLMs answer in into text that
// reads well on the channel it is sent over: plain text for SMS, where
// "**Total:**" would arrive as asterisks, and WhatsApp's own formatting
// (*bold*, _italic_, ~strike~, ```mono```) for WhatsApp.
//
// The Markdown is parsed by goldmark (CommonMark plus GitHub's tables,
// strikethrough, task lists and bare links) and its tree rendered here. Text
// without any Markdown punctuation is returned unchanged without parsing, so
// a plain answer costs a scan and no allocation.
package replyfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Mode is how a stage's replies are formatted (the stage's
// metadata.replyFormat).
type Mode string

// The modes a stage may choose.
const (
	// ModeAuto formats for the recipient's channel: WhatsApp formatting
	// for "whatsapp:" addresses, plain text for everything else. It is the
	// default because SMS cannot show Markdown and WhatsApp has its own.
	ModeAuto Mode = "auto"
	// ModePlain sends plain text on every channel.
	ModePlain Mode = "plain"
	// ModeWhatsApp sends WhatsApp formatting on every channel.
	ModeWhatsApp Mode = "whatsapp"
	// ModeNone sends the text as the LLM wrote it, for prompts that already
	// produce channel-ready text.
	ModeNone Mode = "none"
)

// Modes lists the valid modes, in the order error messages name them.
var Modes = []Mode{ModeAuto, ModePlain, ModeWhatsApp, ModeNone}

// ParseMode checks a stage's replyFormat; "" is ModeAuto. The error says
// which values are accepted, for the API's 400.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeAuto, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("must be one of %q, %q, %q or %q, got %q", ModeAuto, ModePlain, ModeWhatsApp, ModeNone, s)
}

// MetadataField is where a stage keeps its mode: metadata.replyFormat,
// next to the other per-stage reply options (metadata.mediaReply).
const MetadataField = "metadata.replyFormat"

// FromMetadata reads metadata.replyFormat from a stage's metadata: ModeAuto
// when absent or null, an error (for the API's 400 naming MetadataField)
// when it is not one of Modes. The API and the engine both read it here, so
// they agree on what a stage means.
func FromMetadata(metadata json.RawMessage) (Mode, error) {
	if len(metadata) == 0 {
		return ModeAuto, nil
	}
	var md struct {
		ReplyFormat json.RawMessage `json:"replyFormat"`
	}
	if err := json.Unmarshal(metadata, &md); err != nil || len(md.ReplyFormat) == 0 || string(md.ReplyFormat) == "null" {
		return ModeAuto, nil
	}
	var s string
	if err := json.Unmarshal(md.ReplyFormat, &s); err != nil {
		return "", fmt.Errorf("must be a string, one of %q, %q, %q or %q", ModeAuto, ModePlain, ModeWhatsApp, ModeNone)
	}
	return ParseMode(s)
}

// Format formats md for a recipient: whatsApp says the recipient is on
// WhatsApp (it decides ModeAuto). An unknown mode is treated as ModeAuto.
func Format(mode Mode, whatsApp bool, md string) string {
	switch mode {
	case ModeNone:
		return md
	case ModePlain:
		return Plain(md)
	case ModeWhatsApp:
		return WhatsApp(md)
	}
	if whatsApp {
		return WhatsApp(md)
	}
	return Plain(md)
}

// Plain renders Markdown as plain text for SMS: headings as plain lines,
// emphasis, strikethrough and code markers dropped, links as "text (url)"
// (the bare URL when the text is the URL), lists as "- " and "1. " lines,
// tables flattened to one line per row, images as their URL. Only GSM-7
// characters are added, so formatting never forces a UCS-2 (70-character)
// encoding.
func Plain(md string) string { return convert(md, false) }

// WhatsApp renders Markdown with WhatsApp's formatting: bold as *x*, italic
// as _x_, strikethrough as ~x~, inline and block code as ```x```, headings
// in bold, quotes as "> ", lists kept, links as "text (url)".
func WhatsApp(md string) string { return convert(md, true) }

// convert renders md, or returns it trimmed when it holds no Markdown.
// A rendering more than maxGrowth times longer than md (which needs
// pathological input, such as one reference link used many times) is
// replaced by md itself: the reply must stay bounded.
func convert(md string, whatsApp bool) string {
	if !hasMarkup(md) {
		return strings.TrimSpace(md)
	}
	out := render(md, whatsApp)
	if len(out) > Bound(len(md)) {
		return strings.TrimSpace(md)
	}
	return out
}

// Bound is the longest output Plain and WhatsApp produce for an input of n
// bytes: links gain " (" and ")", tables ": " and ", ", and WhatsApp code
// gains backticks, so twice the input plus a little is enough for any
// answer an LLM writes.
func Bound(n int) int { return 2*n + 16 }

// markup marks the bytes that can start Markdown syntax whose rendering
// differs from the text itself. List markers ("- ", "1. "), thematic
// breaks and setext underlines are not in it: plain text keeps them as they
// are, which is how Plain renders them too. Neither is "!", common in
// replies: an image ("![") is seen by its "[".
var markup = func() (t [256]bool) {
	for _, c := range []byte("*_~`#[]<>|\\&\t\r") {
		t[c] = true
	}
	return t
}()

// hasMarkup reports whether s may contain Markdown that rendering would
// change. It is conservative: false means s is returned as is. Lines
// indented by four spaces would be a code block; they count as markup too.
func hasMarkup(s string) bool {
	for i := 0; i < len(s); i++ {
		if markup[s[i]] {
			return true
		}
		if (i == 0 || s[i-1] == '\n') && strings.HasPrefix(s[i:], "    ") {
			return true
		}
	}
	return false
}

// md is the shared parser. goldmark parsers are safe for concurrent use:
// each Parse has its own context.
var md = goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser()

// render parses src and renders its tree; the result has no leading or
// trailing white space and no trailing spaces on its lines.
func render(src string, whatsApp bool) string {
	source := []byte(src)
	doc := md.Parse(text.NewReader(source), parser.WithContext(parser.NewContext()))
	r := &renderer{src: source, wa: whatsApp, out: make([]byte, 0, len(source)+len(source)/8)}
	r.blocks(doc)
	return string(bytes.TrimSpace(r.out))
}
