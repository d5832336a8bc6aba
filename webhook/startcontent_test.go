package webhook

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckContent: a start's template and media are checked as the
// stage's template and a reply's images are, and a template is the whole
// opening of a WhatsApp start.
func TestCheckContent(t *testing.T) {
	const sid = "HX0123456789abcdef0123456789abcdef"
	const wa, sms = "whatsapp:+15551230000", "+15551230000"
	for _, c := range []struct {
		name    string
		sid     string
		vars    string
		media   []string
		to      string
		opening bool
		err     string
	}{
		{"nothing", "", "", nil, sms, false, ""},
		{"template", sid, `{"1":"Ada"}`, nil, wa, false, ""},
		{"variables as a string", sid, `"{\"1\":\"Ada\"}"`, nil, wa, false, ""},
		{"media with a text", "", "", []string{"https://example.com/a.png"}, sms, true, ""},
		{"template on SMS", sid, "", nil, sms, false, "WhatsApp recipients only"},
		{"template and text", sid, "", nil, wa, true, "not both"},
		{"template and media", sid, "", []string{"https://example.com/a.png"}, wa, false, "not both"},
		{"variables alone", "", `{"1":"a"}`, nil, wa, false, "need a contentSid"},
		{"bad sid", "HX12", "", nil, wa, false, "contentSid must be"},
		{"variables not strings", sid, `{"1":1}`, nil, wa, false, "contentVariables"},
		{"media not http", "", "", []string{"data:image/png;base64,AAAA"}, sms, false, "mediaUrls[0]"},
		{"media with a space", "", "", []string{"https://example.com/a b.png"}, sms, false, "mediaUrls[0]"},
		{"media empty", "", "", []string{""}, sms, false, "mediaUrls[0] is empty"},
		{"eleven media", "", "", strings.Split(strings.Repeat("https://example.com/a.png,", 10)+"https://example.com/a.png", ","), sms, false, "mediaUrls: at most 10"},
	} {
		var vars json.RawMessage
		if c.vars != "" {
			vars = json.RawMessage(c.vars)
		}
		got, err := checkContent(c.sid, vars, c.media, c.to, c.opening)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.err == "" && c.sid != "" && (got.sid != c.sid || got.vars != `{"1":"Ada"}`):
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}
