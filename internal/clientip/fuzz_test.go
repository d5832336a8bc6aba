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
		if !strings.Contains(xff, strings.TrimPrefix(a.String(), "::ffff:")) && !strings.Contains(remote, a.String()) {
			// An unmapped IPv4 address is written differently from its
			// mapped form; accept it when its mapped form appears.
			if m := netip.AddrFrom16(a.As16()).String(); !strings.Contains(strings.ToLower(xff+remote), strings.ToLower(m)) {
				t.Fatalf("IP = %q appears neither in X-Forwarded-For %q nor in the peer %q", got, xff, remote)
			}
		}
	})
}
