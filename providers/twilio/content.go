package twilio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
)

// Template is a Twilio Content template send: the template's SID and the
// values of its placeholders. On WhatsApp it is the only message Twilio
// delivers to someone who has not written in 24 hours (63016).
type Template struct {
	ContentSID string `json:"contentSid"`
	// ContentVariables is a JSON object of placeholder values
	// ({"1":"Ada"}), compact, or "" for none: Twilio's ContentVariables
	// parameter as is.
	ContentVariables string `json:"contentVariables,omitempty"`
}

// Bounds of a template's variables.
const (
	MaxContentVariables      = 100
	MaxContentVariablesBytes = 16 << 10
)

// contentSIDRE is Twilio's pattern of a Content SID.
var contentSIDRE = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

// ValidContentSID reports whether s is a Content SID: "HX" and 32 hex
// digits.
func ValidContentSID(s string) bool { return contentSIDRE.MatchString(s) }

// TemplateMetadataField is where a stage names its WhatsApp template:
// metadata.whatsappTemplate = {"contentSid": "HX…", "contentVariables":
// {"1": "…"}} (the variables may also be given as a string holding the
// JSON object, as Twilio takes them).
const TemplateMetadataField = "metadata.whatsappTemplate"

// TemplateFromMetadata reads metadata.whatsappTemplate from a stage's
// metadata: nil when absent or null, an error (for the API's 400 naming
// TemplateMetadataField) when it is not a valid template. The API and the
// engine both read it here, so they agree on what a stage means.
func TemplateFromMetadata(metadata json.RawMessage) (*Template, error) {
	if len(metadata) == 0 {
		return nil, nil
	}
	var md struct {
		T json.RawMessage `json:"whatsappTemplate"`
	}
	if err := json.Unmarshal(metadata, &md); err != nil || len(md.T) == 0 || string(md.T) == "null" {
		return nil, nil
	}
	var raw struct {
		ContentSID       *string         `json:"contentSid"`
		ContentVariables json.RawMessage `json:"contentVariables"`
	}
	dec := json.NewDecoder(bytes.NewReader(md.T))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`must be an object {"contentSid": "HX…", "contentVariables": {…}} with only those keys: %v`, err)
	}
	if raw.ContentSID == nil || !ValidContentSID(*raw.ContentSID) {
		return nil, fmt.Errorf(`contentSid must be a Content template SID ("HX" and 32 hex digits)`)
	}
	vars, err := ParseContentVariables(raw.ContentVariables)
	if err != nil {
		return nil, err
	}
	return &Template{ContentSID: *raw.ContentSID, ContentVariables: vars}, nil
}

// ParseContentVariables checks a template's variables, given as a JSON
// object or as a JSON string holding one, and returns them compact ("" for
// none: absent, null or {}). Values must be strings; at most
// MaxContentVariables of them, MaxContentVariablesBytes in all.
func ParseContentVariables(v json.RawMessage) (string, error) {
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("contentVariables: %v", err)
		}
		v = json.RawMessage(s)
	}
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		return "", fmt.Errorf(`contentVariables must be a JSON object of strings, such as {"1": "Ada"}`)
	}
	if len(m) > MaxContentVariables {
		return "", fmt.Errorf("contentVariables may have at most %d entries, got %d", MaxContentVariables, len(m))
	}
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if len(b) > MaxContentVariablesBytes {
		return "", fmt.Errorf("contentVariables may be at most %d bytes, got %d", MaxContentVariablesBytes, len(b))
	}
	return string(b), nil
}
