package twilio

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPublicURL(t *testing.T) {
	const target = "/api/twilio/messaging/webhook?apiKey=a%2Bb&stageId=s1&channelProviderId=p1"
	tests := []struct {
		name       string
		host       string
		tls        bool
		headers    map[string]string
		base       string
		trustProxy bool
		want       string
	}{
		{name: "plain http", host: "sb.local:3000", want: "http://sb.local:3000" + target},
		{name: "tls", host: "sb.example.com", tls: true, want: "https://sb.example.com" + target},
		{name: "forwarded trusted", host: "10.0.0.5:3000", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sb.example.com"},
			want:    "https://sb.example.com" + target},
		{name: "forwarded list takes first", host: "10.0.0.5:3000", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Proto": "HTTPS, http", "X-Forwarded-Host": " sb.example.com , proxy.internal"},
			want:    "https://sb.example.com" + target},
		{name: "forwarded ignored when untrusted", host: "10.0.0.5:3000",
			headers: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.com"},
			want:    "http://10.0.0.5:3000" + target},
		{name: "only proto forwarded", host: "sb.example.com", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Proto": "https"},
			want:    "https://sb.example.com" + target},
		{name: "forwarded host that is no plain host ignored", host: "sb.example.com", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Host": "evil.example/x?y#"},
			want:    "http://sb.example.com" + target},
		{name: "forwarded host with userinfo ignored", host: "sb.example.com", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Host": "user@evil.example"},
			want:    "http://sb.example.com" + target},
		{name: "forwarded proto that is no http(s) ignored", host: "sb.example.com", tls: true, trustProxy: true,
			headers: map[string]string{"X-Forwarded-Proto": "javascript"},
			want:    "https://sb.example.com" + target},
		{name: "forwarded IPv6 host", host: "10.0.0.5:3000", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Host": "[2001:db8::1]:8443"},
			want:    "http://[2001:db8::1]:8443" + target},
		{name: "public base wins", host: "10.0.0.5:3000", base: "https://sb.example.com", trustProxy: true,
			headers: map[string]string{"X-Forwarded-Host": "other.example.com"},
			want:    "https://sb.example.com" + target},
		{name: "public base trailing slash", host: "x", base: "https://sb.example.com/", want: "https://sb.example.com" + target},
		{name: "public base with stripped prefix", host: "x", base: "https://example.com/switchboard", want: "https://example.com/switchboard" + target},
		{name: "public base with forwarded prefix", host: "x", base: "https://example.com/api", want: "https://example.com" + target},
		{name: "public base prefix is whole segment", host: "x", base: "https://example.com/ap", want: "https://example.com/ap" + target},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://"+tc.host+target, nil)
			r.Host = tc.host
			if !tc.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := PublicURL(r, tc.base, tc.trustProxy); got != tc.want {
				t.Fatalf("PublicURL = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPublicURLKeepsRawRequestURI checks that an oddly escaped request line
// survives byte for byte, as the signature requires.
func TestPublicURLKeepsRawRequestURI(t *testing.T) {
	raw := "POST /api/twilio/messaging/webhook?apiKey=%7e%41&x=a+b&empty=&x=2 HTTP/1.1\r\nHost: sb.example.com\r\nContent-Length: 0\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	want := "http://sb.example.com/api/twilio/messaging/webhook?apiKey=%7e%41&x=a+b&empty=&x=2"
	if got := PublicURL(r, "", true); got != want {
		t.Fatalf("PublicURL = %q, want %q", got, want)
	}
	// A request built by a client (no RequestURI) falls back to the URL.
	c, _ := http.NewRequest(http.MethodPost, "https://sb.example.com/p?q=%2F", nil)
	if got, want := PublicURL(c, "", false), "http://sb.example.com/p?q=%2F"; got != want {
		t.Fatalf("PublicURL(client request) = %q, want %q", got, want)
	}
}
