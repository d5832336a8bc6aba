package twilio

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	twclient "github.com/twilio/twilio-go/client"
)

// publishedParams is the parameter set of Twilio's published example.
func publishedParams() url.Values {
	return url.Values{
		"Body":       {"Hi"},
		"From":       {"+15005550006"},
		"MessageSid": {"SM123"},
		"NumMedia":   {"0"},
		"To":         {"+15005550001"},
	}
}

const publishedSig = "4Ql5Zjyf2p6sz0KerIUVYguY//o="

func TestSignaturePublishedVector(t *testing.T) {
	got := Signature("12345", "https://example.com/sms?x=1", publishedParams())
	if got != publishedSig {
		t.Fatalf("Signature = %q, want %q", got, publishedSig)
	}
}

func TestValidSignature(t *testing.T) {
	const token = "12345"
	base := "https://example.com/sms?x=1"
	params := publishedParams()
	withPort := Signature(token, "https://example.com:443/sms?x=1", params)
	httpNoPort := Signature(token, "http://example.com/sms", params)
	httpPort := Signature(token, "http://example.com:80/sms", params)
	odd := Signature(token, "https://example.com:8443/sms", params)
	longToken := strings.Repeat("k", 100)
	longSig := Signature(longToken, base, params)

	changed := publishedParams()
	changed.Set("Body", "Hi!")
	extra := publishedParams()
	extra.Set("Extra", "")

	tests := []struct {
		name   string
		token  string
		url    string
		params url.Values
		sig    string
		want   bool
	}{
		{"published", token, base, params, publishedSig, true},
		{"default port added by signer", token, base, params, withPort, true},
		{"default port removed by signer", token, "https://example.com:443/sms?x=1", params, publishedSig, true},
		{"http default port added", token, "http://example.com/sms", params, httpPort, true},
		{"http default port removed", token, "http://example.com:80/sms", params, httpNoPort, true},
		{"non-default port kept", token, "https://example.com:8443/sms", params, odd, true},
		{"non-default port not removed", token, "https://example.com:8443/sms", params, Signature(token, "https://example.com/sms", params), false},
		{"https port 80 is not default", token, base, params, Signature(token, "https://example.com:80/sms?x=1", params), false},
		{"wrong token", "54321", base, params, publishedSig, false},
		{"changed body", token, base, changed, publishedSig, false},
		{"extra empty param", token, base, extra, publishedSig, false},
		{"changed query", token, "https://example.com/sms?x=2", params, publishedSig, false},
		{"query order matters", token, "https://example.com/sms?a=1&b=2", params, Signature(token, "https://example.com/sms?b=2&a=1", params), false},
		{"escaping matters", token, "https://example.com/s%20ms", params, Signature(token, "https://example.com/s ms", params), false},
		{"empty signature", token, base, params, "", false},
		{"not base64", token, base, params, "!!!!!!!!!!!!!!!!!!!!!!!!!!!=", false},
		{"truncated", token, base, params, publishedSig[:27], false},
		{"long token", longToken, base, params, longSig, true},
		{"no params", token, base, nil, Signature(token, base, url.Values{}), true},
		{"userinfo host", token, "https://u:p@example.com/sms", params, Signature(token, "https://u:p@example.com:443/sms", params), true},
		{"ipv6 literal", token, "http://[::1]/sms", params, Signature(token, "http://[::1]:80/sms", params), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidSignature(tc.token, tc.url, tc.params, tc.sig); got != tc.want {
				t.Fatalf("ValidSignature = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSignatureRepeatedValuesSorted(t *testing.T) {
	a := url.Values{"MediaUrl": {"b", "a"}, "X": {"1"}}
	b := url.Values{"MediaUrl": {"a", "b"}, "X": {"1"}}
	if Signature("t", "https://h/", a) != Signature("t", "https://h/", b) {
		t.Fatal("signature depends on the order of repeated values")
	}
	// The caller's slice is not reordered.
	if a["MediaUrl"][0] != "b" {
		t.Fatal("Signature mutated params")
	}
	// Hand-computed payload: URL + MediaUrla + MediaUrlb + X1.
	if got, want := string(appendParams(nil, a)), "MediaUrlaMediaUrlbX1"; got != want {
		t.Fatalf("payload = %q, want %q", got, want)
	}
}

func TestAlternatePortURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/sms?x=1", "https://example.com:443/sms?x=1"},
		{"https://example.com:443/sms?x=1", "https://example.com/sms?x=1"},
		{"http://example.com", "http://example.com:80"},
		{"http://example.com:80?q=a:b", "http://example.com?q=a:b"},
		{"HTTPS://Example.com/a", "HTTPS://Example.com:443/a"},
		{"https://example.com:8443/a", ""},
		{"ftp://example.com/a", ""},
		{"https:///path", ""},
	}
	for _, tc := range tests {
		h, m, tl, ok := alternatePortURL(tc.in)
		got := ""
		if ok {
			got = h + m + tl
		}
		if got != tc.want {
			t.Errorf("alternatePortURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAgreesWithTwilioGo checks Signature against twilio-go's own
// RequestValidator on random inputs, in both directions of agreement.
func TestAgreesWithTwilioGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_ é☃"
		r := []rune(alphabet)
		var b strings.Builder
		for range 1 + rng.IntN(n) {
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	for i := range 200 {
		token := fmt.Sprintf("%032x", rng.Uint64())
		scheme := []string{"http", "https"}[rng.IntN(2)]
		u := fmt.Sprintf("%s://host%d.example.com/api/twilio/messaging/webhook?apiKey=%d&stageId=s%d", scheme, i, rng.Uint64(), rng.IntN(1000))
		params := map[string]string{}
		form := url.Values{}
		for range rng.IntN(12) {
			k, v := word(10), word(30)
			params[k] = v
			form.Set(k, v)
		}
		sig := Signature(token, u, form)
		v := twclient.NewRequestValidator(token)
		if !v.Validate(u, params, sig) {
			t.Fatalf("case %d: twilio-go rejects our signature for %q %v", i, u, form)
		}
		if v.Validate(u, params, Signature(token+"x", u, form)) {
			t.Fatalf("case %d: twilio-go accepts a signature made with another token", i)
		}
		if !ValidSignature(token, u, form, sig) {
			t.Fatalf("case %d: ValidSignature rejects Signature", i)
		}
		// A signature twilio-go accepts for the URL with the default port is
		// one we accept for the URL without it.
		portURL := strings.Replace(u, ".com/", map[string]string{"http": ".com:80/", "https": ".com:443/"}[scheme], 1)
		portSig := Signature(token, portURL, form)
		if !v.Validate(u, params, portSig) || !ValidSignature(token, u, form, portSig) {
			t.Fatalf("case %d: default-port signature not accepted by both", i)
		}
	}
}

func TestValidSignatureAllocs(t *testing.T) {
	params := publishedParams()
	allocs := testing.AllocsPerRun(100, func() {
		if !ValidSignature("12345", "https://example.com/sms?x=1", params, publishedSig) {
			t.Fatal("invalid")
		}
	})
	if allocs != 0 {
		t.Fatalf("ValidSignature allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkValidSignature(b *testing.B) {
	params := url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {"SM0123456789abcdef0123456789abcdef"},
		"NumMedia": {"0"}, "ToCity": {""}, "FromZip": {""}, "SmsSid": {"SM0123456789abcdef0123456789abcdef"},
		"FromState": {"CA"}, "SmsStatus": {"received"}, "FromCity": {""}, "Body": {"Hello, what are your opening hours tomorrow?"},
		"FromCountry": {"US"}, "To": {"+15005550001"}, "ToZip": {""}, "NumSegments": {"1"},
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"},
		"From": {"+15005550006"}, "ApiVersion": {"2010-04-01"},
	}
	u := "https://switchboard.example.com/api/twilio/messaging/webhook?apiKey=akey_live_0123456789abcdef0123456789abcdef0123456789abcdef&stageId=stag_0123456789abcdef01234567&channelProviderId=prov_0123456789abcdef01234567"
	const token = "0123456789abcdef0123456789abcdef"
	sig := Signature(token, u, params)
	b.ReportAllocs()
	for b.Loop() {
		if !ValidSignature(token, u, params, sig) {
			b.Fatal("invalid")
		}
	}
}
