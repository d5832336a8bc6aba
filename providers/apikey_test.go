package providers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/store"
)

const (
	testKeySID    = "SK0123456789abcdef0123456789abcdef"
	testKeySecret = "keysecret0123456789abcdefABCDEF01"
)

// keyCfg is a Twilio config with an API key (fields omitted when "").
func keyCfg(accountSID, base, keySID, keySecret string) string {
	m := map[string]string{"accountSid": accountSID, "authToken": testToken, "fromNumber": "+15551234567"}
	for k, v := range map[string]string{"apiBaseUrl": base, "apiKeySid": keySID, "apiKeySecret": keySecret} {
		if v != "" {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func wantFieldError(t *testing.T, err error, field, msg string) {
	t.Helper()
	var se *store.Error
	if store.ErrorCode(err) != store.EINVALID || !errors.As(err, &se) || se.Details.(map[string]string)["field"] != field || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v, want EINVALID on %s mentioning %q", err, field, msg)
	}
}

func TestTwilioAPIKeyValidation(t *testing.T) {
	c, err := ParseTwilio(json.RawMessage(keyCfg(testSID, "", testKeySID, testKeySecret)))
	if err != nil || c.APIKeySID != testKeySID || c.APIKeySecret != testKeySecret || c.AuthToken != testToken {
		t.Fatalf("valid key: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name, cfg, field, msg string
	}{
		{"secret without sid", keyCfg(testSID, "", "", testKeySecret), "config.apiKeySid", "required with config.apiKeySecret"},
		{"sid without secret", keyCfg(testSID, "", testKeySID, ""), "config.apiKeySecret", "required with config.apiKeySid"},
		{"sid of an account", keyCfg(testSID, "", testSID, testKeySecret), "config.apiKeySid", `"SK" followed by 32 hex digits`},
		{"sid short", keyCfg(testSID, "", "SK0123", testKeySecret), "config.apiKeySid", `"SK" followed by 32 hex digits`},
		{"secret with punctuation", keyCfg(testSID, "", testKeySID, "secret-with-dash"), "config.apiKeySecret", "letters and digits"},
		{"secret not a string", `{"accountSid":"` + testSID + `","authToken":"t","fromNumber":"+15551234567","apiKeySid":"` + testKeySID + `","apiKeySecret":42}`, "config.apiKeySecret", "must be a string"},
		{"auth token still required", `{"accountSid":"` + testSID + `","fromNumber":"+15551234567","apiKeySid":"` + testKeySID + `","apiKeySecret":"` + testKeySecret + `"}`, "config.authToken", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateConfig(store.APITypeTwilioMessaging, json.RawMessage(tc.cfg))
			wantFieldError(t, err, tc.field, tc.msg)
		})
	}
}

// TestAPIKeySecretMaskedAndRestored: the secret is masked like the auth
// token, restored from its mask, and never follows a changed apiBaseUrl,
// accountSid or apiKeySid.
func TestAPIKeySecretMaskedAndRestored(t *testing.T) {
	stored := json.RawMessage(keyCfg(testSID, "https://sim.example:8443", testKeySID, testKeySecret))
	masked := MaskConfig(stored)
	var shown map[string]string
	if err := json.Unmarshal(masked, &shown); err != nil || shown["apiKeySecret"] != MaskSecret(testKeySecret) ||
		shown["authToken"] != MaskSecret(testToken) || shown["apiKeySid"] != testKeySID {
		t.Fatalf("masked config %s", masked)
	}
	got, err := RestoreSecrets(masked, stored)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(got, &m); err != nil || m["apiKeySecret"] != testKeySecret || m["authToken"] != testToken {
		t.Fatalf("restored %s (%v)", got, err)
	}
	mask := MaskSecret(testKeySecret)
	for _, tc := range []struct{ name, next, field, msg string }{
		{"apiBaseUrl changed", keyCfg(testSID, "https://evil.example", testKeySID, mask), "config.apiKeySecret", "config.apiBaseUrl"},
		{"accountSid changed", keyCfg("AC"+strings.Repeat("f", 32), "https://sim.example:8443", testKeySID, mask), "config.apiKeySecret", "config.accountSid"},
		{"apiKeySid changed", keyCfg(testSID, "https://sim.example:8443", "SK"+strings.Repeat("f", 32), mask), "config.apiKeySecret", "config.apiKeySid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The auth token is sent in full: only the key's mask is at stake.
			_, err := RestoreSecrets(json.RawMessage(tc.next), stored)
			wantFieldError(t, err, tc.field, tc.msg)
		})
	}
	// A new secret with a new key SID is taken as sent.
	next := keyCfg(testSID, "https://sim.example:8443", "SK"+strings.Repeat("f", 32), "anothersecret0123456789")
	if got, err := RestoreSecrets(json.RawMessage(next), stored); err != nil || !strings.Contains(string(got), "anothersecret0123456789") {
		t.Fatalf("new key: %s, %v", got, err)
	}
}

// TestAPIKeyKeptWhenNotSent: a client that does not know the API key
// fields (Bonsai's console) keeps them; the kept secret is a mask that
// RestoreSecrets restores only while the destination is unchanged.
func TestAPIKeyKeptWhenNotSent(t *testing.T) {
	stored := json.RawMessage(keyCfg(testSID, "", testKeySID, testKeySecret))
	console := json.RawMessage(`{"accountSid":"` + testSID + `","authToken":"` + MaskSecret(testToken) + `","fromNumber":"+15551234567"}`)
	kept := KeepUnsentKeys(store.APITypeTwilioMessaging, console, stored)
	if strings.Contains(string(kept), testKeySecret) {
		t.Fatalf("kept the secret in clear before the destination check: %s", kept)
	}
	got, err := RestoreSecrets(kept, stored)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseTwilio(got)
	if err != nil || c.APIKeySID != testKeySID || c.APIKeySecret != testKeySecret {
		t.Fatalf("after a console save: %+v, %v", c, err)
	}
	moved := json.RawMessage(`{"accountSid":"AC` + strings.Repeat("f", 32) + `","authToken":"fedcba9876543210fedcba9876543210","fromNumber":"+15551234567"}`)
	_, err = RestoreSecrets(KeepUnsentKeys(store.APITypeTwilioMessaging, moved, stored), stored)
	wantFieldError(t, err, "config.apiKeySecret", "config.accountSid")
	// Sent empty: removed, as any key.
	cleared := json.RawMessage(`{"accountSid":"` + testSID + `","authToken":"` + testToken + `","fromNumber":"+15551234567","apiKeySid":"","apiKeySecret":""}`)
	out, err := ValidateConfig(store.APITypeTwilioMessaging, KeepUnsentKeys(store.APITypeTwilioMessaging, cleared, stored))
	if err != nil || strings.Contains(string(out), "apiKey") {
		t.Fatalf("cleared key: %s, %v", out, err)
	}
}
