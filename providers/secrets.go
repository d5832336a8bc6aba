package providers

import (
	"encoding/json"
	"slices"
	"strings"

	"switchboard/store"
)

// secretKeys are the config keys (of any apiType) whose values are secrets:
// the API never shows them in full.
var secretKeys = []string{"authToken", "apiKey", "apiKeySecret"}

// secretOwners are, per secret key, the fields naming the credential the
// secret belongs to: an API key secret is only kept while its key SID is
// (it travels as the Basic-auth password of that user name).
var secretOwners = map[string][]string{"apiKeySecret": {"apiKeySid"}}

// maskPrefix starts every masked secret. It is not valid in a real Twilio
// token or API key, so a masked value sent back can be recognised.
const maskPrefix = "••••"

// MaskSecret returns the display form of a secret: "••••" followed by its
// last four characters when it is long enough (12+ characters) that they
// give nothing useful away, else "••••" alone. "" stays "".
func MaskSecret(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) < 12 {
		return maskPrefix
	}
	return maskPrefix + string(r[len(r)-4:])
}

// MaskConfig returns a copy of a provider config with every secret value
// (authToken, apiKey, apiKeySecret) replaced by MaskSecret of it. A config that is not a
// JSON object is returned unchanged.
func MaskConfig(raw json.RawMessage) json.RawMessage {
	m, ok := objectMap(raw)
	if !ok {
		return raw
	}
	changed := false
	for _, k := range secretKeys {
		var s string
		if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil && s != "" {
			m[k], _ = json.Marshal(MaskSecret(s))
			changed = true
		}
	}
	if !changed {
		return raw
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// RestoreSecrets lets a client send back a config it read (with masked
// secrets): every secret in next whose value is exactly the mask of the
// same secret in prev is replaced by prev's real value. A value that looks
// masked but does not match prev is rejected, so a mask is never stored as
// a secret. Fields are named "config.<key>" in errors.
//
// A stored secret never follows a changed destination: when a mask would
// be restored while a field that decides where the secret is sent
// (apiBaseUrl, baseUrl, accountSid; see destinationFields) differs from
// prev, the update is refused and the secret must be sent again. Otherwise
// an operator allowed to edit providers, but not to read their secrets,
// could point the stored token at a host of their own and receive it with
// the next request.
func RestoreSecrets(next, prev json.RawMessage) (json.RawMessage, error) {
	m, ok := objectMap(next)
	if !ok {
		return next, nil
	}
	old, _ := objectMap(prev)
	changed := false
	for _, k := range secretKeys {
		var s string
		v, ok := m[k]
		if !ok || json.Unmarshal(v, &s) != nil || !strings.HasPrefix(s, maskPrefix) {
			continue
		}
		var was string
		if ov, ok := old[k]; ok && json.Unmarshal(ov, &was) == nil && was != "" && MaskSecret(was) == s {
			for _, d := range destinationFields {
				if !sameDestination(d, m, old) {
					return nil, store.FieldError("config."+k, "must be sent again when config.%s changes: a stored secret is never sent to a new destination", d)
				}
			}
			for _, d := range secretOwners[k] {
				if !sameDestination(d, m, old) {
					return nil, store.FieldError("config."+k, "must be sent again when config.%s changes: a stored secret belongs to its key", d)
				}
			}
			m[k] = ov
			changed = true
			continue
		}
		return nil, store.FieldError("config."+k, "is a masked value that does not match the stored secret; send the real secret")
	}
	if !changed {
		return next, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, store.FieldError("config", "must be a JSON object")
	}
	return out, nil
}

func objectMap(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// switchboardOnlyKeys are the config keys Switchboard adds to Bonsai's
// provider configs, per apiType. Bonsai's console rebuilds a config from
// the keys it knows when it saves a provider, so it never sends these.
var switchboardOnlyKeys = map[string][]string{
	store.APITypeTwilioMessaging: {"apiBaseUrl", "apiKeySid", "apiKeySecret"},
	store.APITypeGemini:          {"baseUrl"},
}

// KeepUnsentKeys returns next with every Switchboard-only key of apiType
// that next lacks altogether (not sent as null or "") taken from prev, the
// stored config: a client that does not know a key keeps its value. A key
// sent empty is removed as usual. A secret is kept as its mask, for
// RestoreSecrets to restore under the destination rule. Nothing changes when next is not a JSON
// object or prev is nil (a new provider, or another apiType).
func KeepUnsentKeys(apiType string, next, prev json.RawMessage) json.RawMessage {
	m, ok := objectMap(next)
	if !ok {
		return next
	}
	old, ok := objectMap(prev)
	if !ok {
		return next
	}
	changed := false
	for _, k := range switchboardOnlyKeys[apiType] {
		if _, sent := m[k]; sent {
			continue
		}
		if v, had := old[k]; had {
			if slices.Contains(secretKeys, k) {
				// Kept as its mask, so that RestoreSecrets applies the
				// destination rule to it like to a secret sent back.
				var s string
				if json.Unmarshal(v, &s) == nil && s != "" {
					v, _ = json.Marshal(MaskSecret(s))
				}
			}
			m[k] = v
			changed = true
		}
	}
	if !changed {
		return next
	}
	out, err := json.Marshal(m)
	if err != nil {
		return next
	}
	return out
}
