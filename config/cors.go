package config

import (
	"fmt"
	"net/url"
	"strings"
)

// parseOrigins reads CORS_ALLOWED_ORIGINS: "" (no cross-origin access),
// "*" (any origin), or comma-separated origins scheme://host[:port]. Each
// origin is returned in the form a browser sends in its Origin header
// (lower case, default port dropped), so that the API compares strings.
func parseOrigins(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, raw := range strings.Split(v, ",") {
		o := strings.TrimSpace(raw)
		switch {
		case o == "":
			return nil, fmt.Errorf("has an empty origin in %q (remove the extra comma)", v)
		case o == "*":
			if len(strings.Split(v, ",")) > 1 {
				return nil, fmt.Errorf("must hold * (any origin) alone, got %q", v)
			}
			return []string{"*"}, nil
		case strings.EqualFold(o, "null"):
			// Sandboxed frames and file:// pages send "Origin: null":
			// allowing it allows every such page at once.
			return nil, fmt.Errorf("must not list the origin null (sent by sandboxed frames and local files)")
		case strings.Contains(o, "*"):
			return nil, fmt.Errorf("must not use wildcard origins such as %q: list each origin, or set * alone for any origin", o)
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
			return nil, fmt.Errorf("must be origins scheme://host[:port] without path, such as https://console.example.com, got %q", o)
		}
		host := strings.ToLower(u.Hostname())
		port := u.Port()
		if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
			port = ""
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		canon := strings.ToLower(u.Scheme) + "://" + host
		if port != "" {
			canon += ":" + port
		}
		out = append(out, canon)
	}
	return out, nil
}
