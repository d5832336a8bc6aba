package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"switchboard/store"
)

// AllowlistSetting is the setting that restricts provider destinations; its
// name appears in the errors a refused destination produces.
const AllowlistSetting = "PROVIDER_URL_ALLOWLIST"

// alwaysRefused are the addresses a provider URL may never reach unless an
// allow-list entry names them explicitly: the link-local ranges, where
// cloud metadata services (169.254.169.254) hand out instance credentials
// to whoever asks, AWS's IPv6 metadata address and Alibaba Cloud's, which
// is not link-local. Addresses are compared after canonical.
var alwaysRefused = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"),
}

// IPv6 ranges whose last 32 bits are an IPv4 address a connection may end
// up at: NAT64's well-known prefix (RFC 6052; a NAT64 gateway translates
// 64:ff9b::a9fe:a9fe to 169.254.169.254) and the deprecated
// IPv4-compatible addresses (::a9fe:a9fe). IPv4-mapped addresses
// (::ffff:a9fe:a9fe) are unmapped by netip.Addr.Unmap.
var (
	nat64Prefix    = netip.MustParsePrefix("64:ff9b::/96")
	v4CompatPrefix = netip.MustParsePrefix("::/96")
)

// canonical returns the address a connection to a reaches, for comparing
// with the refused set and allow-list entries: without zone (a zoned
// address is in no netip.Prefix, so fe80::1%eth0 would escape the
// link-local check) and with an IPv4 address embedded in an IPv4-mapped,
// NAT64 or IPv4-compatible IPv6 address unwrapped (:: and ::1 stay as
// they are).
func canonical(a netip.Addr) netip.Addr {
	a = a.WithZone("").Unmap()
	if a.Is6() && (nat64Prefix.Contains(a) || v4CompatPrefix.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback()) {
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return a
}

// canonicalPrefix is canonical for an allow-list CIDR entry: a prefix of
// at least /96 inside an IPv4-mapped or NAT64 range becomes the IPv4
// prefix it covers, so that it matches the canonical addresses it means.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if p.Bits() >= 96 && (a.Is4In6() || nat64Prefix.Contains(a)) {
		return netip.PrefixFrom(canonical(a), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// DestinationPolicy decides which hosts may receive a provider's requests,
// and so its secret (Twilio Basic auth, LLM bearer key). A provider's base
// URL is API input: an operator allowed to edit providers must not be able
// to point a stored credential, or the server itself, at an arbitrary
// host.
//
// The zero policy (no allow-list, the default) allows any http(s) host,
// loopback and private networks included, so that the phone emulator and
// local model servers (Ollama, vLLM) work out of the box, but never a
// link-local or cloud metadata address (alwaysRefused). A non-empty
// allow-list (PROVIDER_URL_ALLOWLIST) allows only the hosts it matches. A
// nil *DestinationPolicy is the zero policy. Policies are immutable and
// safe for concurrent use.
type DestinationPolicy struct {
	entries []destEntry
	trusted []netip.Addr // IP hosts of operator-configured URLs (TWILIO_API_BASE_URL)
}

// destEntry is one allow-list pattern. Exactly one of host, suffix and
// prefix is set; port "" matches any port.
type destEntry struct {
	host   string       // exact host name or IP literal, lower case
	suffix string       // "*.example.com" as ".example.com"
	prefix netip.Prefix // CIDR, or a single IP as a /32 or /128
	port   string
}

// ParseAllowlist parses PROVIDER_URL_ALLOWLIST: comma-separated patterns,
// each a host name (api.openai.com), a wildcard domain (*.example.com, which
// matches its subdomains but not example.com itself), an IP address, or a
// CIDR block (10.0.0.0/8, fd00::/8), optionally with :port (127.0.0.1:3001,
// [::1]:11434, *.example.com:8443). Empty is the default policy.
func ParseAllowlist(s string) (*DestinationPolicy, error) {
	p := &DestinationPolicy{}
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		e, err := parseEntry(raw)
		if err != nil {
			return nil, err
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

func parseEntry(raw string) (destEntry, error) {
	s := strings.ToLower(raw)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return destEntry{prefix: canonicalPrefix(pfx)}, nil
	}
	var e destEntry
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return e, fmt.Errorf("%q: bad port", raw)
		}
		host, e.port = h, port
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = canonical(a)
		e.prefix = netip.PrefixFrom(a, a.BitLen())
		return e, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		if !validHostName(rest) {
			return e, fmt.Errorf("%q: not a host name, *.domain, IP address or CIDR block", raw)
		}
		e.suffix = "." + strings.TrimSuffix(rest, ".")
		return e, nil
	}
	if !validHostName(host) {
		return e, fmt.Errorf("%q: not a host name, *.domain, IP address or CIDR block", raw)
	}
	e.host = strings.TrimSuffix(host, ".")
	return e, nil
}

func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// Restricted reports whether an allow-list is set.
func (p *DestinationPolicy) Restricted() bool { return p != nil && len(p.entries) > 0 }

// Trust returns a copy of p that also allows the host of rawURL at dial
// time. It is for URLs the operator configured (TWILIO_API_BASE_URL), which
// are not API input; an unparsable URL or a host name adds nothing.
func (p *DestinationPolicy) Trust(rawURL string) *DestinationPolicy {
	q := &DestinationPolicy{}
	if p != nil {
		q.entries = p.entries
		q.trusted = append(q.trusted, p.trusted...)
	}
	if u, err := url.Parse(rawURL); err == nil {
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			q.trusted = append(q.trusted, canonical(a))
		}
	}
	return q
}

// CheckURL checks a provider base URL: it must be an absolute http or https
// URL with a host, without user info, query or fragment, and its host must
// be allowed (see DestinationPolicy). The error says why, without naming
// the field.
func (p *DestinationPolicy) CheckURL(raw string) error {
	u, err := parseDestination(raw)
	if err != nil {
		return err
	}
	return p.checkHost(u)
}

// parseDestination is the syntax part of CheckURL, shared with config
// validation, which has no policy.
func parseDestination(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not carry a user name or password (send credentials in the provider's secret fields)")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("must not carry a query or fragment")
	}
	if port := u.Port(); port != "" && strings.Trim(port, "0123456789") != "" {
		return nil, fmt.Errorf("has an invalid port")
	}
	if err := checkHostSyntax(u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

// checkHostSyntax refuses a host that is not an IP address in standard
// notation but ends in a number, as the URL standard puts it: 2852039166,
// 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518, 10.0.0.1. (trailing
// dot). Browsers and inet_aton read these as IPv4 addresses, Go's own
// resolver as DNS names; which one a connection gets depends on the
// resolver in use, so a base URL may only use forms every reader agrees on.
func checkHostSyntax(host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	h := strings.TrimSuffix(host, ".")
	last := strings.ToLower(h[strings.LastIndexByte(h, '.')+1:])
	hex, isHex := strings.CutPrefix(last, "0x")
	if last != "" && (strings.Trim(last, "0123456789") == "" || isHex && strings.Trim(hex, "0123456789abcdef") == "") {
		return errHostSyntax
	}
	return nil
}

var errHostSyntax = errors.New("host must be a DNS name or a standard IP address")

func (p *DestinationPolicy) checkHost(u *url.URL) error {
	// An IP literal is parsed as written (a zone may end in a dot:
	// fe80::1%. is an address); only a DNS name loses its trailing dot.
	host := strings.ToLower(u.Hostname())
	addr, isIP := netip.ParseAddr(host)
	if isIP == nil {
		addr = canonical(addr)
	} else {
		if strings.Contains(host, ":") {
			return errHostSyntax // a bracketed host that is no address
		}
		host = strings.TrimSuffix(host, ".")
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	explicit := false
	if p != nil {
		for _, e := range p.entries {
			if e.port != "" && e.port != port {
				continue
			}
			switch {
			case e.host != "" && e.host == host,
				e.suffix != "" && strings.HasSuffix(host, e.suffix),
				e.prefix.IsValid() && isIP == nil && e.prefix.Contains(addr):
				explicit = true
			}
			if explicit {
				break
			}
		}
	}
	if isIP == nil && isRefused(addr) && !explicit {
		if written, _ := netip.ParseAddr(host); written.WithZone("") != addr {
			host += " (" + addr.String() + ")"
		}
		return fmt.Errorf("host %s is a link-local or cloud metadata address, refused unless listed in %s", host, AllowlistSetting)
	}
	if p.Restricted() && !explicit {
		return fmt.Errorf("host %s not allowed by %s", u.Host, AllowlistSetting)
	}
	return nil
}

// isRefused reports whether the canonical address a is in alwaysRefused.
func isRefused(a netip.Addr) bool {
	for _, pfx := range alwaysRefused {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// CheckDial checks an address about to be connected to ("ip:port", as a
// net.Dialer's Control function receives it): a link-local or cloud
// metadata address (alwaysRefused, after canonical) is refused unless an
// allow-list IP or CIDR entry covers it or it is a trusted
// operator-configured host. This runs after name resolution, so a host
// name that resolves (or is rebound) to a metadata address is refused too.
// Through an HTTP proxy the address dialled is the proxy's, and the
// proxy, not this check, decides where the request goes.
func (p *DestinationPolicy) CheckDial(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("providers: refusing to dial %q: %v", address, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil // not an IP: the dialer resolves names before Control
	}
	addr = canonical(addr)
	if !isRefused(addr) {
		return nil
	}
	if p != nil {
		for _, t := range p.trusted {
			if t == addr {
				return nil
			}
		}
		for _, e := range p.entries {
			if e.prefix.IsValid() && e.prefix.Contains(addr) && (e.port == "" || e.port == port) {
				return nil
			}
		}
	}
	return &DialRefusedError{Address: address}
}

// Control is a net.Dialer Control function that applies CheckDial.
func (p *DestinationPolicy) Control(network, address string, _ syscall.RawConn) error {
	return p.CheckDial(address)
}

// DialRefusedError is returned when a connection to a link-local or cloud
// metadata address was refused by the destination policy.
type DialRefusedError struct{ Address string }

// Error implements the error interface.
func (e *DialRefusedError) Error() string {
	return fmt.Sprintf("providers: connection to %s refused: link-local and cloud metadata addresses are not allowed unless listed in %s", e.Address, AllowlistSetting)
}

// destinationFields are the config fields that decide where a provider's
// secret is sent: the base URL (twilio_messaging apiBaseUrl, openai-legacy
// and ollama baseUrl) and, for Twilio, the account the token authenticates
// as (the Basic-auth user name travels with the token). The config keys of
// the apiTypes do not collide, so one list serves them all.
var destinationFields = []string{"apiBaseUrl", "baseUrl", "accountSid"}

// urlFields are the config fields holding a URL requests are sent to.
var urlFields = []string{"apiBaseUrl", "baseUrl"}

// CheckDestinations checks the URL fields of a validated provider config
// against the policy. The error is a store.FieldError naming the field,
// e.g. "config.baseUrl: host api.evil.test not allowed by
// PROVIDER_URL_ALLOWLIST".
func CheckDestinations(config json.RawMessage, p *DestinationPolicy) error {
	m, ok := objectMap(config)
	if !ok {
		return nil
	}
	for _, k := range urlFields {
		var s string
		if v, ok := m[k]; !ok || json.Unmarshal(v, &s) != nil || s == "" {
			continue
		}
		if err := p.CheckURL(s); err != nil {
			return store.FieldError("config."+k, "%v", err)
		}
	}
	return nil
}

// sameDestination reports whether the destination field key has the same
// value in two configs. URLs are compared after normalising the case of
// scheme and host and dropping trailing slashes; an absent or empty value
// (the default destination) differs from any explicit URL, even one equal
// to the default. Account SIDs compare case-insensitively.
func sameDestination(key string, a, b map[string]json.RawMessage) bool {
	var x, y string
	if v, ok := a[key]; ok {
		_ = json.Unmarshal(v, &x)
	}
	if v, ok := b[key]; ok {
		_ = json.Unmarshal(v, &y)
	}
	if key == "accountSid" || key == "apiKeySid" {
		return strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(y))
	}
	return normaliseURL(x) == normaliseURL(y)
}

func normaliseURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return strings.TrimRight(s, "/")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// CheckRedirect is an http.Client CheckRedirect function: a redirect is
// followed only to an http(s) URL whose host the policy allows, and at
// most 10 times. (The Authorization header is already dropped by net/http
// when a redirect leaves the host; this keeps the request body, a
// conversation, from following it.)
func (p *DestinationPolicy) CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	u := req.URL
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("refusing redirect to %s://%s", u.Scheme, u.Host)
	}
	if err := checkHostSyntax(u.Hostname()); err != nil {
		return fmt.Errorf("refusing redirect to %s: %w", u.Host, err)
	}
	if err := p.checkHost(u); err != nil {
		return fmt.Errorf("refusing redirect: %w", err)
	}
	return nil
}
