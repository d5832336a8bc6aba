package providers

import "testing"

// TestProxyVariable: the variable that routes provider requests through a
// proxy is named (so the server can warn that the connect-time check then
// sees the proxy only), and NO_PROXY=* turns it off.
func TestProxyVariable(t *testing.T) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	if v := ProxyVariable(); v != "" {
		t.Fatalf("no proxy set, got %q", v)
	}
	t.Setenv("http_proxy", "http://user:secret@proxy.internal:3128")
	if v := ProxyVariable(); v != "http_proxy" {
		t.Fatalf("got %q, want http_proxy", v)
	}
	t.Setenv("HTTPS_PROXY", "http://proxy.internal:3128")
	if v := ProxyVariable(); v != "HTTPS_PROXY" {
		t.Fatalf("got %q, want HTTPS_PROXY", v)
	}
	t.Setenv("NO_PROXY", "*")
	if v := ProxyVariable(); v != "" {
		t.Fatalf("NO_PROXY=* bypasses the proxy, got %q", v)
	}
}
