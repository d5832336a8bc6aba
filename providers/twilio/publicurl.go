package twilio

import (
	"net/http"
	"strings"
)

// PublicURL reconstructs the URL Twilio posted r to, which is the URL its
// X-Twilio-Signature covers.
//
// When publicBaseURL (PUBLIC_BASE_URL: scheme://host[:port][/prefix]) is set
// it wins: the result is publicBaseURL without its trailing slash followed by
// the request URI, unless the request URI already starts with the base's
// path prefix (a proxy that forwards the prefix), in which case the prefix is
// not repeated. Otherwise scheme and host come from the request (TLS or not,
// and the Host header), overridden by the first value of X-Forwarded-Proto
// and X-Forwarded-Host when trustProxy is set.
//
// The request URI (path and query) is kept byte for byte as received: it is
// r.RequestURI when the server recorded one in origin form, else
// r.URL.RequestURI().
func PublicURL(r *http.Request, publicBaseURL string, trustProxy bool) string {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	if publicBaseURL != "" {
		base := strings.TrimRight(publicBaseURL, "/")
		if prefix := basePath(base); prefix != "" && hasPathPrefix(uri, prefix) {
			base = base[:len(base)-len(prefix)]
		}
		return base + uri
	}

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if trustProxy {
		if p := strings.ToLower(firstHeaderValue(r.Header, "X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstHeaderValue(r.Header, "X-Forwarded-Host"); plainHost(h) {
			host = h
		}
	}
	return scheme + "://" + host + uri
}

// plainHost reports whether h is a plain host[:port] (a DNS name, an IPv4
// address or a bracketed IPv6 address): forwarded values with anything
// else (/, ?, #, @, spaces) are ignored rather than spliced into the URL
// signatures and status callbacks are built from.
func plainHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// basePath returns the path of a scheme://host/path base URL ("" if none).
func basePath(base string) string {
	i := strings.Index(base, "://")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(base[i+3:], '/')
	if j < 0 {
		return ""
	}
	return base[i+3+j:]
}

// hasPathPrefix reports whether uri's path starts with the whole path
// segment(s) of prefix.
func hasPathPrefix(uri, prefix string) bool {
	if !strings.HasPrefix(uri, prefix) {
		return false
	}
	rest := uri[len(prefix):]
	return rest == "" || rest[0] == '/' || rest[0] == '?'
}

// firstHeaderValue returns the first comma-separated value of the first
// header line with name, trimmed of spaces.
func firstHeaderValue(h http.Header, name string) string {
	v := h.Get(name)
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}
