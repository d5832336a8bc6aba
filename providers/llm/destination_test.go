package llm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/providers"
	"switchboard/store"
)

// TestBaseURLRefusedByPolicy: a provider whose baseUrl the destination
// policy refuses (saved before PROVIDER_URL_ALLOWLIST was tightened, or a
// metadata address) gets no client, with an error naming the field and
// the setting, and its endpoint never sees a request.
func TestBaseURLRefusedByPolicy(t *testing.T) {
	f := newFakeEndpoint(t, 200, `{"choices":[{"message":{"content":"hi"}}]}`)
	pol, err := providers.ParseAllowlist("api.openai.com")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    *store.Provider
		opts Options
	}{
		{llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "sk-secret-1", "baseUrl": f.URL + "/v1"}), Options{Destinations: pol}},
		{llmProvider(store.APITypeOllama, map[string]string{"apiKey": "sk-secret-1", "baseUrl": f.URL}), Options{Destinations: pol}},
		{llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "sk-secret-1", "baseUrl": "http://169.254.169.254/v1"}), Options{}},
		{llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "sk-secret-1", "baseUrl": "http://user:pw@" + strings.TrimPrefix(f.URL, "http://")}), Options{}},
	}
	for _, c := range cases {
		_, err := New(c.p, c.opts)
		details, _ := store.ErrorDetails(err).(map[string]string)
		if store.ErrorCode(err) != store.EINVALID || details["field"] != "config.baseUrl" {
			t.Errorf("%s: err = %v, want EINVALID on config.baseUrl", c.p.Config, err)
		}
	}
	if _, err := New(cases[0].p, Options{}); err != nil {
		t.Fatalf("the default policy refuses a loopback endpoint: %v", err)
	}
	if _, err := NewCache(Options{Destinations: pol}).Get(cases[0].p); err == nil || !strings.Contains(err.Error(), providers.AllowlistSetting) {
		t.Fatalf("cache: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 0 {
		t.Fatalf("a refused endpoint received %d requests", len(f.requests))
	}
}

// TestRedirectToRefusedHostNotFollowed: an endpoint answering with a
// redirect to a metadata address does not make the client connect there.
func TestRedirectToRefusedHostNotFollowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	c, err := New(llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "sk-secret-2", "baseUrl": srv.URL}), Options{HTTPClient: NewHTTPClientFor(nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(context.Background(), turnRequest())
	if err == nil || !strings.Contains(err.Error(), "refusing redirect") || strings.Contains(err.Error(), "sk-secret-2") {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("endpoint hit %d times", hits.Load())
	}
}

// TestDialToLinkLocalRefused: the client's dialer refuses a link-local
// address even when the URL check is bypassed (as a DNS name resolving
// there would).
func TestDialToLinkLocalRefused(t *testing.T) {
	client := NewHTTPClientFor(nil)
	client.Transport.(*http.Transport).Proxy = nil // dial directly, whatever the environment says
	_, err := client.Get("http://169.254.169.254/latest/meta-data/")
	var refused *providers.DialRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v, want a DialRefusedError", err)
	}
}
