package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzIP: whatever the peer address and X-Forwarded-For header, IP never
// panics; without trusted proxies it is always the peer's host (a client
// cannot choose its identity); with trusted proxies it is the peer or an
// address that appears in the header, never a trusted proxy unless every
// hop was one, and never text that is not an IP address unless it is the
// peer's own.
func FuzzIP(f *testing.F) {
	f.Add("127.0.0.1:4711", "203.0.113.7", "")
	f.Add("127.0.0.1:4711", "203.0.113.7", "127.0.0.1")
	f.Add("10.0.0.2:80", "198.51.100.1, 10.0.0.1", "10.0.0.0/8")
	f.Add("[::1]:80", "[2001:db8::1]:4711, ::ffff:10.0.0.1", "::1,10.0.0.0/8")
	f.Add("10.0.0.2:80", "garbage, 10.0.0.3", "10.0.0.0/8")
	f.Add("not-an-address", "203.0.113.7", "0.0.0.0/0")
	f.Add("10.0.0.2:80", ",,, ,fe80::1%eth0", "10.0.0.0/8")
	f.Fuzz(func(t *testing.T, remote, xff, trusted string) {
		req := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		none, err := Parse("")
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := net.SplitHostPort(remote)
		if err != nil {
			want = remote
		}
		peer := none.IP(req)
		if peer != want {
			t.Fatalf("no trusted proxy: IP = %q, want the peer's host %q (X-Forwarded-For %q)", peer, want, xff)
		}
		r, err := Parse(trusted)
		if err != nil {
			return
		}
		got := r.IP(req)
		if got == peer {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("IP = %q is neither the peer %q nor an address", got, peer)
		}
		// It must be the peer or one of the header's entries, compared as
		// addresses (text differs: "::0.0.0.1" is ::1).
		seen := false
		if p, err := netip.ParseAddr(peer); err == nil && p.Unmap() == a {
			seen = true
		}
		for _, e := range strings.Split(xff, ",") {
			if h, ok := parseHop(strings.TrimSpace(e)); ok && h == a {
				seen = true
			}
		}
		if !seen {
			t.Fatalf("IP = %q appears neither in X-Forwarded-For %q nor as the peer %q", got, xff, remote)
		}
	})
}
