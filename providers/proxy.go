package providers

import (
	"os"
	"strings"
)

// ProxyVariable names the environment variable that makes provider
// requests go through an HTTP proxy (the LLM client and the Twilio sender
// use http.ProxyFromEnvironment), or returns "" when none is set or
// NO_PROXY is "*". Through a proxy the connect-time check (CheckDial) sees
// only the proxy's address: the server warns at start-up so that this is
// not silent. Only the name is returned, never the value, which may carry
// the proxy's credentials.
func ProxyVariable() string {
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		if strings.TrimSpace(os.Getenv(k)) == "*" {
			return ""
		}
	}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if os.Getenv(k) != "" {
			return k
		}
	}
	return ""
}
