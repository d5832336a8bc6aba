// Package clientip decides which address a request comes from, for rate
// limits and logs.
//
// X-Forwarded-For is written by whoever sent the request, so by default it
// is ignored: the client is the connection's peer. Only when the peer is
// one of the operator's trusted proxies is the header read, from the right
// (the entry the nearest proxy appended) past any further trusted proxies,
// to the first address that is not a trusted proxy: that is the address
// the trusted chain actually saw. Entries left of it were written by the
// client and are never believed.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver returns a request's client address given the set of proxies the
// operator trusts. A nil or empty Resolver trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// Parse reads a comma-separated list of trusted proxy addresses and CIDR
// prefixes ("10.0.0.1, 192.168.0.0/16, fd00::/8"). Blank entries are
// skipped, so "" trusts nothing. The error names the first bad entry.
func Parse(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("clientip: %q is not an IP address or CIDR prefix", e)
			}
			if p.Addr().Is4In6() {
				// ::ffff:10.0.0.0/104 is written rarely; compare it as IPv4.
				if p.Bits() < 96 {
					return nil, fmt.Errorf("clientip: %q mixes IPv4-mapped and IPv6 addresses", e)
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("clientip: %q is not an IP address or CIDR prefix", e)
		}
		a = a.Unmap()
		r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return r, nil
}

// Trusts reports whether any proxy is trusted, i.e. whether
// X-Forwarded-For is ever read.
func (r *Resolver) Trusts() bool { return r != nil && len(r.trusted) > 0 }

// TrustsPeer reports whether a connection's peer a is one of the trusted
// proxies. What is counted per connection rather than per request (the
// per-address connection cap) exempts them: every client behind a proxy
// shares its address.
func (r *Resolver) TrustsPeer(a netip.Addr) bool { return r.Trusts() && r.trusts(a) }

// trusts reports whether a is one of the trusted proxies.
func (r *Resolver) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IP returns the address of the client that sent req: its connection's
// peer, unless the peer is a trusted proxy, in which case the rightmost
// X-Forwarded-For entry that is not itself a trusted proxy. A malformed
// entry ends the walk at the nearest trusted address (it cannot be told
// apart from a forgery). IPv4-mapped IPv6 addresses are written as IPv4.
func (r *Resolver) IP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	if !r.Trusts() {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !r.trusts(peer) {
		return host
	}
	nearest := peer.Unmap()
	xff := req.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		h := xff[i]
		for h != "" {
			var e string
			if j := strings.LastIndexByte(h, ','); j >= 0 {
				e, h = h[j+1:], h[:j]
			} else {
				e, h = h, ""
			}
			e = strings.TrimSpace(e)
			if e == "" {
				continue // "a, , b": empty elements are list syntax, not hops
			}
			a, ok := parseHop(e)
			if !ok {
				return nearest.String()
			}
			if !r.trusts(a) {
				return a.String()
			}
			nearest = a
		}
	}
	return nearest.String()
}

// parseHop parses one X-Forwarded-For entry: an address, or an address
// with a port ("203.0.113.7:4711", "[2001:db8::1]:4711"), as some proxies
// write it. IPv4-mapped IPv6 addresses are unmapped; zones are refused.
func parseHop(e string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(e)
	if err != nil {
		ap, err := netip.ParseAddrPort(e)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Block is the address block one client holds, which every per-client
// limit (webhook failures, login throttling, connections) counts together:
// an IPv4 address alone (IPv4-mapped IPv6 written as IPv4), an IPv6
// address by its /64, since one subscriber commonly holds a whole /64 and
// could otherwise rotate through it for fresh budgets. Zones are dropped.
func Block(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
