package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []string{"", " ", "127.0.0.1", "10.0.0.0/8, 192.168.1.1", "::1", "fd00::/8,127.0.0.1", "::ffff:10.0.0.0/104", " 10.0.0.1 ,, 10.0.0.2 "}
	for _, s := range good {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	bad := map[string]string{
		"localhost":           `"localhost"`,
		"10.0.0.1, 10.0.0.x":  `"10.0.0.x"`,
		"10.0.0.0/33":         `"10.0.0.0/33"`,
		"10.0.0.1:80":         `"10.0.0.1:80"`,
		"fe80::1%eth0":        `"fe80::1%eth0"`,
		"*":                   `"*"`,
		"::ffff:10.0.0.0/8":   `"::ffff:10.0.0.0/8"`,
		"10.0.0.0/8/8":        `"10.0.0.0/8/8"`,
		"10.0.0.1 10.0.0.2":   `"10.0.0.1 10.0.0.2"`,
		"http://10.0.0.1/":    `"http://10.0.0.1/"`,
		"10.0.0.1\n10.0.0.2":  `"10.0.0.1\n10.0.0.2"`,
		"10.0.0.1,0.0.0.0/-1": `"0.0.0.0/-1"`,
	}
	for s, name := range bad {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Parse(%q): error %q does not name the entry %s", s, err, name)
		}
	}
}

func TestIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		peer    string
		xff     []string // X-Forwarded-For header lines, in order
		want    string
	}{
		// No trusted proxies (the default): the header is never read.
		{"default ignores header", "", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"default no header", "", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"default ipv6 peer", "", "[2001:db8::7]:5000", []string{"198.51.100.1"}, "2001:db8::7"},
		{"peer without port", "", "203.0.113.9", nil, "203.0.113.9"},
		// A peer that is not a trusted proxy cannot choose its identity.
		{"untrusted peer ignored", "127.0.0.1", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		// Behind a trusted proxy: the address it appended.
		{"trusted proxy", "127.0.0.1", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries left of it are ignored", "127.0.0.1", "127.0.0.1:5000", []string{"6.6.6.6, 7.7.7.7, 198.51.100.1"}, "198.51.100.1"},
		{"several header lines", "127.0.0.1", "127.0.0.1:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "127.0.0.1, 10.0.0.0/8", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3, 10.0.0.5"}, "198.51.100.1"},
		{"all trusted: the farthest", "127.0.0.1, 10.0.0.0/8", "127.0.0.1:5000", []string{"10.0.0.9, 10.0.0.5"}, "10.0.0.9"},
		{"no header: the proxy itself", "127.0.0.1", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"empty header", "127.0.0.1", "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"empty elements skipped", "127.0.0.1", "127.0.0.1:5000", []string{"198.51.100.1, ,"}, "198.51.100.1"},
		{"malformed: nearest trusted", "127.0.0.1", "127.0.0.1:5000", []string{"198.51.100.1, evil"}, "127.0.0.1"},
		{"malformed behind trusted hop", "127.0.0.1, 10.0.0.0/8", "127.0.0.1:5000", []string{"junk, 10.0.0.5"}, "10.0.0.5"},
		{"unknown token", "127.0.0.1", "127.0.0.1:5000", []string{"unknown"}, "127.0.0.1"},
		{"injection", "127.0.0.1", "127.0.0.1:5000", []string{"1.2.3.4\r\nX: y"}, "127.0.0.1"},
		{"zone refused", "127.0.0.1", "127.0.0.1:5000", []string{"fe80::1%eth0"}, "127.0.0.1"},
		{"entry with port", "127.0.0.1", "127.0.0.1:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"ipv6 entry with port", "127.0.0.1", "127.0.0.1:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"ipv4-mapped entry", "127.0.0.1", "127.0.0.1:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"peer outside the trusted prefix", "10.0.0.0/8", "127.0.0.1:5000", []string{"198.51.100.1"}, "127.0.0.1"},
		{"ipv4-mapped peer is trusted as ipv4", "127.0.0.1", "[::ffff:127.0.0.1]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"ipv6 proxy", "::1", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped prefix matches ipv4 peer", "::ffff:127.0.0.0/104", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"cidr proxy", "192.168.0.0/16", "192.168.4.4:5000", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
			req.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.IP(req); got != tt.want {
				t.Fatalf("IP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNilResolverTrustsNothing(t *testing.T) {
	var r *Resolver
	req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if r.Trusts() || r.IP(req) != "127.0.0.1" {
		t.Fatalf("nil resolver: trusts %v, IP %q", r.Trusts(), r.IP(req))
	}
}

// TrustsPeer answers for a connection's peer, IPv4-mapped or not; a nil or
// empty Resolver trusts nobody.
func TestTrustsPeer(t *testing.T) {
	r, err := Parse("127.0.0.1, 10.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::ffff:127.0.0.1": true, "10.9.8.7": true, "fd00::1": true,
		"127.0.0.2": false, "192.168.1.1": false, "::1": false, "2001:db8::1": false,
	} {
		if got := r.TrustsPeer(netip.MustParseAddr(addr)); got != want {
			t.Errorf("TrustsPeer(%s) = %v, want %v", addr, got, want)
		}
	}
	var none *Resolver
	empty, _ := Parse("")
	for _, r := range []*Resolver{none, empty} {
		if r.TrustsPeer(netip.MustParseAddr("127.0.0.1")) {
			t.Errorf("%v trusts 127.0.0.1", r)
		}
	}
}
