package twilio

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"switchboard/store"
)

// referenceSignature is Twilio's documented algorithm written the obvious
// way (crypto/hmac, sorted names, each name's values sorted), to check the
// allocation-free implementation against.
func referenceSignature(authToken, rawURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(rawURL))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FuzzSignature checks signature canonicalisation over arbitrary URLs and
// form bodies: Signature agrees with the reference algorithm, the
// signature it computes verifies, and an arbitrary X-Twilio-Signature is
// accepted only when it is the signature of the URL as given or of the URL
// with its default port added or removed.
func FuzzSignature(f *testing.F) {
	f.Add("12345678901234567890123456789012", "https://sms.example.com/api/twilio/messaging/webhook?apiKey=k&stageId=s&channelProviderId=p",
		"MessageSid=SM1&From=%2B15551234567&To=%2B15550001000&Body=hi", "")
	f.Add("tok", "https://example.com:443/x?a=1", "b=2&a=1&a=0&a=", "0123456789012345678901234567")
	f.Add("tok", "http://example.com/x", "Body=%F0%9F%98%80&Body=%E2%82%AC", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=")
	f.Add(strings.Repeat("k", 100), "http://[::1]:80/?q#frag", "a=1;b=2", "")
	f.Add("", "", "", "")
	f.Add("tok", "HTTPS://user:pw@Example.COM/path", strings.Repeat("MediaUrl0=http%3A%2F%2Fx&", 40), "")
	f.Fuzz(func(t *testing.T, token, rawURL, body, signature string) {
		params, _ := url.ParseQuery(body) // partial values are still signed
		sig := Signature(token, rawURL, params)
		if ref := referenceSignature(token, rawURL, params); sig != ref {
			t.Fatalf("Signature %s, reference %s", sig, ref)
		}
		if !ValidSignature(token, rawURL, params, sig) {
			t.Fatal("the computed signature does not verify")
		}
		head, mid, tail, hasAlt := alternatePortURL(rawURL)
		alt := head + mid + tail
		if hasAlt {
			if alt == rawURL {
				t.Fatalf("alternate URL of %q is itself", rawURL)
			}
			if !ValidSignature(token, rawURL, params, referenceSignature(token, alt, params)) {
				t.Fatalf("the signature over %q (default port toggled) is refused for %q", alt, rawURL)
			}
		}
		if ValidSignature(token, rawURL, params, signature) {
			if signature != sig && (!hasAlt || signature != referenceSignature(token, alt, params)) {
				t.Fatalf("accepted %q, which signs neither %q nor its default-port twin", signature, rawURL)
			}
		}
		// A change to any parameter changes the signature.
		if len(params) > 0 {
			changed := url.Values{}
			for k, vs := range params {
				changed[k] = append([]string(nil), vs...)
			}
			changed["Body"] = append(changed["Body"], "x")
			if ValidSignature(token, rawURL, changed, sig) {
				t.Fatal("a signature survives an added parameter value")
			}
		}
	})
}

// FuzzPublicURL reconstructs the public URL of requests as the HTTP
// server parses them off the wire: it never panics, PUBLIC_BASE_URL wins
// over the request and its headers, forwarding headers count only when
// trusted, and the result without a proxy parses as an absolute URL.
func FuzzPublicURL(f *testing.F) {
	f.Add("/api/twilio/messaging/webhook?apiKey=k&stageId=s", "sms.example.com", "https", "proxy.example.com", "", false, false)
	f.Add("/sb/api/twilio/messaging/webhook?x=1", "internal:3000", "", "", "https://sms.example.com/sb", true, false)
	f.Add("/x", "example.com:443", "HTTP, https", "a.example.com, b.example.com", "", true, true)
	f.Add("/a%2Fb?c=%zz", "[::1]:3000", "", "", "http://h/", false, true)
	f.Add("//double/slash", "h", "javascript", "evil.example/path?", "https://sms.example.com", true, false)
	f.Fuzz(func(t *testing.T, uri, host, xfProto, xfHost, publicBase string, trustProxy, isTLS bool) {
		raw := "POST " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n"
		if xfProto != "" {
			raw += "X-Forwarded-Proto: " + xfProto + "\r\n"
		}
		if xfHost != "" {
			raw += "X-Forwarded-Host: " + xfHost + "\r\n"
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil || !strings.HasPrefix(r.URL.Path, "/") {
			return // the server would have answered 400, or routed it elsewhere
		}
		if isTLS {
			r.TLS = &tls.ConnectionState{}
		}
		if base, err := url.Parse(publicBase); err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" {
			publicBase = "" // config refuses it (PUBLIC_BASE_URL)
		}
		got := PublicURL(r, publicBase, trustProxy)

		// Headers never matter when not trusted, nor when a base is set.
		bare := r.Clone(r.Context())
		bare.Header = http.Header{}
		if !trustProxy || publicBase != "" {
			if plain := PublicURL(bare, publicBase, trustProxy); plain != got {
				t.Fatalf("forwarding headers changed the URL: %q vs %q", got, plain)
			}
		}
		if !strings.HasSuffix(got, r.RequestURI) && !strings.HasSuffix(got, r.URL.RequestURI()) {
			t.Fatalf("%q does not end with the request URI %q", got, r.RequestURI)
		}
		if publicBase != "" {
			if !strings.HasPrefix(got, publicBase) && !strings.HasPrefix(got, strings.TrimRight(publicBase, "/")) {
				t.Fatalf("PUBLIC_BASE_URL %q lost: %q", publicBase, got)
			}
			return
		}
		if !trustProxy {
			scheme := "http://"
			if isTLS {
				scheme = "https://"
			}
			if !strings.HasPrefix(got, scheme+r.Host) {
				t.Fatalf("%q does not start with %s and the Host %q", got, scheme, r.Host)
			}
			// The HTTP server lets a Host header carry '#', '/', '?', '|'
			// and more; such a URL is only ever hashed (its signature
			// simply fails). A DNS name or IP address parses back.
			if !hostRe.MatchString(r.Host) {
				return
			}
			u, err := url.Parse(got)
			if err != nil || u.Host != r.Host || u.Scheme+"://" != scheme {
				t.Fatalf("%q (Host %q) does not parse back to its host: %v", got, r.Host, err)
			}
		}
	})
}

// hostRe matches a DNS name or IP address with an optional port.
var hostRe = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]*)?$`)

// maskedRe is everything MaskNumber may print: an optional whatsapp:
// prefix and either nothing or four to five leading and four trailing
// digits of a plain number.
var maskedRe = regexp.MustCompile(`^(?i:whatsapp:)?(…|\+?[0-9]{4,5}…[0-9]{4})$`)

// FuzzAddress checks address parsing and masking: a parsed address prints
// back to a string that parses to the same address, only E.164 numbers
// are accepted, and a mask never reveals more than the country code area
// and the last four digits, leaving at least three digits hidden.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"+15551234567", "whatsapp:+15551234567", "WhatsApp:+447700900123", "12345", "whatsapp:",
		"whatsapp:whatsapp:+15551234567", "+1555123\r\n4567", "+1555\x001234567", "{{.}}", "+1234567890123456", "+0123", "+12",
		"15551234567890", "whatsapp:+1", "…", "+1555…4567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err == nil {
			if !isE164(a.Number) || (a.Channel != ChannelSMS && a.Channel != ChannelWhatsApp) {
				t.Fatalf("ParseAddress(%q) = %+v", s, a)
			}
			again, err := ParseAddress(a.String())
			if err != nil || again != a {
				t.Fatalf("ParseAddress(%q) = %+v prints %q, which parses to %+v, %v", s, a, a.String(), again, err)
			}
			if !strings.EqualFold(a.String(), s) {
				t.Fatalf("ParseAddress(%q) prints as %q", s, a.String())
			}
		} else if !strings.Contains(err.Error(), "E.164") {
			t.Fatalf("ParseAddress(%q): unclear error %v", s, err)
		}

		m := MaskNumber(s)
		if !maskedRe.MatchString(m) {
			t.Fatalf("MaskNumber(%q) = %q reveals more than the masked parts", s, m)
		}
		if shown := countDigits(m); shown > 0 && countDigits(s)-shown < 3 {
			t.Fatalf("MaskNumber(%q) = %q hides fewer than 3 of its digits", s, m)
		}
		// Masking is final: masking a mask reveals nothing.
		if mm := MaskNumber(m); strings.ContainsAny(mm, "0123456789") {
			t.Fatalf("MaskNumber(%q) = %q reveals digits", m, mm)
		}
	})
}

// FuzzParseInbound: the webhook's From/To check accepts only the
// documented forms (From E.164 or whatsapp:+E.164; To that, a short code
// or empty; one channel), normalises them idempotently (the whatsapp:
// prefix in lower case, nothing else changed), and refuses everything
// else with an error that never echoes the value.
func FuzzParseInbound(f *testing.F) {
	for _, p := range [][2]string{{"+15551234567", "+15557654321"}, {"WhatsApp:+15551234567", "whatsapp:+15557654321"},
		{"+15551234567", "12345"}, {"12345", "+15551234567"}, {"whatsapp:+15551234567", "+15557654321"},
		{"+1555\r\n1234567", ""}, {"{{.}}", "{{.}}"}, {"whatsapp:whatsapp:+1555", ""}, {"+15551234567", "123456789"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, from, to string) {
		fa, ta, err := ParseInbound(from, to)
		if err != nil {
			// One of the fixed messages: they never echo the value.
			if err != errInboundFrom && err != errInboundTo && err != errInboundChannel || store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("ParseInbound(%q, %q): unexpected error %v", from, to, err)
			}
			return
		}
		if !isE164(fa.Number) || !strings.EqualFold(fa.String(), from) {
			t.Fatalf("ParseInbound(%q, %q): From = %+v", from, to, fa)
		}
		if to == "" {
			if ta != (Address{}) {
				t.Fatalf("ParseInbound(%q, \"\"): To = %+v", from, ta)
			}
		} else if !strings.EqualFold(ta.String(), to) || ta.Channel != fa.Channel || !(isE164(ta.Number) || isShortCode(ta.Number) && ta.Channel == ChannelSMS) {
			t.Fatalf("ParseInbound(%q, %q): To = %+v", from, to, ta)
		}
		fa2, ta2, err := ParseInbound(fa.String(), ta.String())
		if err != nil || fa2 != fa || (to != "" && ta2 != ta) {
			t.Fatalf("ParseInbound(%q, %q) normalised to (%q, %q), which parses to %+v %+v %v", from, to, fa, ta, fa2, ta2, err)
		}
		if strings.ContainsAny(fa.String()+ta.String(), "\r\n\x00{}") {
			t.Fatalf("ParseInbound(%q, %q) kept a control or template character", from, to)
		}
	})
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}
