package sealed

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"switchboard/store"
)

// TestAPIKeySecretSealed: a Twilio API key secret is sealed at rest like
// the auth token and opened on read; the key SID stays readable.
func TestAPIKeySecretSealed(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	st, err := Wrap(raw, key)
	if err != nil {
		t.Fatal(err)
	}
	const withKey = `{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"topsecrettoken42","fromNumber":"+15551234567",` +
		`"apiKeySid":"SK0123456789abcdef0123456789abcdef","apiKeySecret":"keysecretvalue77"}`
	p := &store.Provider{Name: "tw", ProviderType: "channel", APIType: "twilio_messaging", Config: json.RawMessage(withKey)}
	if err := st.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	stored, err := raw.GetProvider(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(stored.Config, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m["apiKeySecret"], prefixV2+KeyID(key)+":") || m["apiKeySid"] != "SK0123456789abcdef0123456789abcdef" {
		t.Fatalf("stored config %s", stored.Config)
	}
	got, err := st.GetProvider(ctx, p.ID)
	if err != nil || !strings.Contains(string(got.Config), `"apiKeySecret":"keysecretvalue77"`) {
		t.Fatalf("opened %s, %v", got.Config, err)
	}
}
