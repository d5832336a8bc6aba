package twiliosim_test

import (
	"net/url"
	"testing"

	"switchboard/test/twiliosim"
)

// TestAPIKeyAuth: an API key of the account authenticates in place of the
// auth token (user name the key SID, password its secret); a wrong secret,
// another account's key or a revoked key is refused with 401/20003.
func TestAPIKeyAuth(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	const keySID, secret = "SK0123456789abcdef0123456789abcdef", "keysecret0123456789abcdefABCDEF01"
	sim.AddAPIKey(sid, keySID, secret)
	sim.AddAccount("AC11111111111111111111111111111111", "othertoken")
	sim.AddAPIKey("AC11111111111111111111111111111111", "SK11111111111111111111111111111111", "othersecret")
	form := url.Values{"To": {to}, "From": {from}, "Body": {"hi"}}

	if code, body := post(t, sim, keySID, secret, form); code != 201 {
		t.Fatalf("API key: %d %v", code, body)
	}
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong secret", keySID, "nope"},
		{"another account's key", "SK11111111111111111111111111111111", "othersecret"},
		{"key SID with the auth token", keySID, token},
	} {
		if code, body := post(t, sim, tc.user, tc.pass, form); code != 401 || body["code"] != float64(20003) {
			t.Fatalf("%s: %d %v", tc.name, code, body)
		}
	}
	if code, _ := post(t, sim, sid, token, form); code != 201 {
		t.Fatalf("auth token alongside a key: %d", code)
	}
	sim.RemoveAPIKey(keySID)
	if code, _ := post(t, sim, keySID, secret, form); code != 401 {
		t.Fatalf("revoked key: %d", code)
	}
	if got := sim.AuthUsers(); len(got) != 2 || got[0] != keySID || got[1] != sid {
		t.Fatalf("auth users %v", got)
	}
}
