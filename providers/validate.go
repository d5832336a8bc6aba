package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"switchboard/store"
)

// apiTypes maps every known apiType to its providerType: the channel,
// scripted, and every network LLM vendor (llmVendors).
var apiTypes = func() map[string]string {
	m := map[string]string{
		store.APITypeTwilioMessaging: store.ProviderTypeChannel,
		store.APITypeScripted:        store.ProviderTypeLLM,
	}
	for t := range llmVendors {
		m[t] = store.ProviderTypeLLM
	}
	return m
}()

// ProviderTypeOf returns the providerType ("llm" or "channel") of an
// apiType, and false for an unknown apiType.
func ProviderTypeOf(apiType string) (string, bool) {
	t, ok := apiTypes[apiType]
	return t, ok
}

// APITypes returns the known apiTypes, sorted.
func APITypes() []string {
	out := make([]string, 0, len(apiTypes))
	for t := range apiTypes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ValidateConfig checks raw strictly against the schema of apiType and
// returns its normalised JSON (known keys only, canonical order, optional
// empty values dropped). Errors are store.FieldError values (EINVALID)
// naming the offending field as "config.<key>"; an unknown apiType is a
// FieldError on "apiType". An empty or null raw is treated as {}.
func ValidateConfig(apiType string, raw json.RawMessage) (json.RawMessage, error) {
	var v any
	var err error
	switch apiType {
	case store.APITypeTwilioMessaging:
		v, err = ParseTwilio(raw)
	case store.APITypeOpenAI, store.APITypeOpenAILegacy:
		v, err = ParseOpenAI(raw)
	case store.APITypeOllama:
		v, err = ParseOllama(raw)
	case store.APITypeScripted:
		v, err = ParseScripted(raw)
	default:
		if _, ok := llmVendors[apiType]; ok {
			v, err = ParseKeyConfig(apiType, raw)
			break
		}
		return nil, store.FieldError("apiType", "unknown apiType %q (want one of %s)", apiType, strings.Join(APITypes(), ", "))
	}
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("providers: encode config: %w", err)
	}
	return out, nil
}

var (
	alnumRe      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySIDRe  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	serviceSIDRe = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	fromNumberRe = regexp.MustCompile(`^(whatsapp:)?\+[1-9][0-9]{1,14}$`)
)

// ParseTwilio validates and decodes a twilio_messaging config.
func ParseTwilio(raw json.RawMessage) (*TwilioConfig, error) {
	o, err := newObject("config", raw)
	if err != nil {
		return nil, err
	}
	var c TwilioConfig
	if c.AccountSID, err = o.str("accountSid", true); err != nil {
		return nil, err
	}
	if !accountSIDRe.MatchString(c.AccountSID) {
		return nil, store.FieldError("config.accountSid", "must be \"AC\" followed by 32 hex digits")
	}
	if c.AuthToken, err = o.str("authToken", true); err != nil {
		return nil, err
	}
	// Twilio's tokens are hex; twilio-go refuses anything but letters and
	// digits (error 21224) before sending, so such a provider could never
	// send a reply.
	if !alnumRe.MatchString(c.AuthToken) {
		return nil, store.FieldError("config.authToken", "must be letters and digits (the Auth Token from the Twilio console)")
	}
	if c.MessagingServiceSID, err = o.str("messagingServiceSid", false); err != nil {
		return nil, err
	}
	if c.MessagingServiceSID != "" && !serviceSIDRe.MatchString(c.MessagingServiceSID) {
		return nil, store.FieldError("config.messagingServiceSid", "must be \"MG\" followed by 32 hex digits (the Messaging Service SID from the Twilio console)")
	}
	// With a Messaging Service, replies go out from the number texted or
	// a number the service picks: a fixed number is optional.
	if v, ok := o.m["fromNumber"]; c.MessagingServiceSID == "" && (!ok || isNull(v)) {
		return nil, store.FieldError("config.fromNumber", "required unless config.messagingServiceSid is set")
	}
	if c.FromNumber, err = o.str("fromNumber", c.MessagingServiceSID == ""); err != nil {
		return nil, err
	}
	if c.FromNumber != "" && !fromNumberRe.MatchString(c.FromNumber) {
		return nil, store.FieldError("config.fromNumber", "must be E.164 (+15551234567) or whatsapp:+E.164")
	}
	if c.APIBaseURL, err = o.url("apiBaseUrl"); err != nil {
		return nil, err
	}
	if c.APIKeySID, err = o.str("apiKeySid", false); err != nil {
		return nil, err
	}
	if c.APIKeySecret, err = o.str("apiKeySecret", false); err != nil {
		return nil, err
	}
	switch {
	case c.APIKeySID == "" && c.APIKeySecret != "":
		return nil, store.FieldError("config.apiKeySid", "required with config.apiKeySecret (an API key is its SID and its secret)")
	case c.APIKeySID != "" && c.APIKeySecret == "":
		return nil, store.FieldError("config.apiKeySecret", "required with config.apiKeySid (an API key is its SID and its secret)")
	case c.APIKeySID != "" && !apiKeySIDRe.MatchString(c.APIKeySID):
		return nil, store.FieldError("config.apiKeySid", "must be \"SK\" followed by 32 hex digits (the API key's SID from the Twilio console)")
	case c.APIKeySecret != "" && !alnumRe.MatchString(c.APIKeySecret):
		return nil, store.FieldError("config.apiKeySecret", "must be letters and digits (the API key's secret from the Twilio console)")
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseOpenAI validates and decodes an openai or openai-legacy config.
func ParseOpenAI(raw json.RawMessage) (*OpenAIConfig, error) {
	o, err := newObject("config", raw)
	if err != nil {
		return nil, err
	}
	var c OpenAIConfig
	if c.APIKey, err = o.str("apiKey", true); err != nil {
		return nil, err
	}
	if c.BaseURL, err = o.url("baseUrl"); err != nil {
		return nil, err
	}
	if c.OrganizationID, err = o.str("organizationId", false); err != nil {
		return nil, err
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseOllama validates and decodes an ollama config.
func ParseOllama(raw json.RawMessage) (*OllamaConfig, error) {
	o, err := newObject("config", raw)
	if err != nil {
		return nil, err
	}
	var c OllamaConfig
	if c.BaseURL, err = o.url("baseUrl"); err != nil {
		return nil, err
	}
	if c.APIKey, err = o.str("apiKey", false); err != nil {
		return nil, err
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseScripted validates and decodes a scripted config: every rule's match
// must compile as a Go regexp and every template must pass
// ParseReplyTemplate.
func ParseScripted(raw json.RawMessage) (*ScriptedConfig, error) {
	o, err := newObject("config", raw)
	if err != nil {
		return nil, err
	}
	var c ScriptedConfig
	if rules, ok := o.take("rules"); ok && !isNull(rules) {
		var items []json.RawMessage
		if err := json.Unmarshal(rules, &items); err != nil {
			return nil, store.FieldError("config.rules", "must be an array of {match, reply} objects")
		}
		for i, item := range items {
			prefix := fmt.Sprintf("config.rules[%d]", i)
			if isNull(item) {
				return nil, store.FieldError(prefix, "must be an object")
			}
			r, err := newObject(prefix, item)
			if err != nil {
				return nil, err
			}
			var rule ScriptedRule
			if rule.Match, err = r.str("match", false); err != nil {
				return nil, err
			}
			if _, err := regexp.Compile(rule.Match); err != nil {
				return nil, store.FieldError(prefix+".match", "invalid regexp: %v", err)
			}
			if rule.Reply, err = r.str("reply", true); err != nil {
				return nil, err
			}
			if err := parseTemplate(prefix+".reply", rule.Reply); err != nil {
				return nil, err
			}
			if err := r.done(); err != nil {
				return nil, err
			}
			c.Rules = append(c.Rules, rule)
		}
	}
	if d, ok := o.take("defaultReply"); ok && !isNull(d) {
		var s string
		if err := json.Unmarshal(d, &s); err != nil {
			return nil, store.FieldError("config.defaultReply", "must be a string")
		}
		if err := parseTemplate("config.defaultReply", s); err != nil {
			return nil, err
		}
		c.DefaultReply = &s
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseTemplate checks a reply template as ParseReplyTemplate does, so a
// template that would fail on every turn is refused when saved.
func parseTemplate(field, s string) error {
	if _, err := ParseReplyTemplate(s); err != nil {
		return store.FieldError(field, "%v", err)
	}
	return nil
}

// object is a JSON object being decoded strictly: every key must be taken
// by a schema rule before done, or it is reported as unknown.
type object struct {
	prefix string
	m      map[string]json.RawMessage
}

func newObject(prefix string, raw json.RawMessage) (*object, error) {
	o := &object{prefix: prefix, m: map[string]json.RawMessage{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return o, nil
	}
	if raw[0] != '{' {
		return nil, store.FieldError(prefix, "must be a JSON object")
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		return nil, store.FieldError(prefix, "must be a JSON object")
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// take removes key from the object and returns its raw value.
func (o *object) take(key string) (json.RawMessage, bool) {
	v, ok := o.m[key]
	delete(o.m, key)
	return v, ok
}

// str takes a string field. A missing or null optional field is "";
// a required field must be a non-empty string.
func (o *object) str(key string, required bool) (string, error) {
	field := o.prefix + "." + key
	v, ok := o.take(key)
	if !ok || isNull(v) {
		if required {
			return "", store.FieldError(field, "required")
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", store.FieldError(field, "must be a string")
	}
	if required && strings.TrimSpace(s) == "" {
		return "", store.FieldError(field, "must not be empty")
	}
	return s, nil
}

// url takes an optional absolute http(s) URL field without user info,
// query or fragment (parseDestination); which hosts are allowed is the
// DestinationPolicy's business.
func (o *object) url(key string) (string, error) {
	s, err := o.str(key, false)
	if err != nil || s == "" {
		return s, err
	}
	if _, err := parseDestination(s); err != nil {
		return "", store.FieldError(o.prefix+"."+key, "%v", err)
	}
	return s, nil
}

// done reports the keys no rule took as unknown.
func (o *object) done() error {
	if len(o.m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, o.prefix+"."+k)
	}
	sort.Strings(keys)
	if len(keys) == 1 {
		return store.FieldError(keys[0], "unknown field")
	}
	return store.FieldError(keys[0], "unknown fields: %s", strings.Join(keys, ", "))
}
