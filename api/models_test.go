package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProviderModels: GET /api/providers/{id}/models answers Bonsai's
// {"models": [...]}: live from the vendor's models endpoint (here a fake
// of Anthropic's, which must see the provider's key), the scripted
// provider's own model, a 400 for a channel provider, a 404 for an
// unknown id, a 502 carrying the vendor's message (never the key) when the
// vendor refuses, and provider:read is required.
func TestProviderModels(t *testing.T) {
	const key = "sk-ant-models-0123456789"
	var status atomic.Int32
	status.Store(200)
	var lastAuth atomic.Value
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		lastAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		if s := int(status.Load()); s != 200 {
			w.WriteHeader(s)
			w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid key ` + key + `"}}`))
			return
		}
		w.Write([]byte(`{"data":[{"id":"claude-test-1","type":"model","display_name":"Claude Test","created_at":"2026-01-01T00:00:00Z"}],"has_more":false}`))
	}))
	t.Cleanup(vendor.Close)

	e := newEnv(t)
	admin := e.setup()
	anthropic := e.do("POST", "/api/providers", admin, map[string]any{
		"name": "claude", "providerType": "llm", "apiType": "anthropic",
		"config": map[string]any{"apiKey": key, "baseUrl": vendor.URL},
	}).want(http.StatusCreated).str("id")

	var body struct {
		Models []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"models"`
	}
	r := e.do("GET", "/api/providers/"+anthropic+"/models", admin, nil).want(http.StatusOK)
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Models) != 1 || body.Models[0].ID != "claude-test-1" || body.Models[0].DisplayName != "Claude Test" {
		t.Fatalf("models = %s", r.body)
	}
	if got, _ := lastAuth.Load().(string); got != "Bearer "+key {
		t.Fatalf("vendor saw Authorization %q, want the provider's key", got)
	}

	r = e.do("GET", "/api/providers/"+e.scripted(admin)+"/models", admin, nil).want(http.StatusOK)
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Models) != 1 || body.Models[0].ID != "scripted" {
		t.Fatalf("scripted models = %s", r.body)
	}

	r = e.do("GET", "/api/providers/"+e.twilio(admin)+"/models", admin, nil).want(http.StatusBadRequest)
	if !strings.Contains(string(r.body), "not an LLM provider") {
		t.Fatalf("channel provider: %s", r.body)
	}
	e.do("GET", "/api/providers/prov_missing/models", admin, nil).want(http.StatusNotFound)
	e.do("GET", "/api/providers/"+anthropic+"/models", "", nil).want(http.StatusUnauthorized)
	support := e.operator(admin, "sam", "support")
	e.do("GET", "/api/providers/"+anthropic+"/models", support, nil).want(http.StatusForbidden)
	viewer := e.operator(admin, "vic", "viewer")
	e.do("GET", "/api/providers/"+anthropic+"/models", viewer, nil).want(http.StatusOK)

	status.Store(401)
	r = e.do("GET", "/api/providers/"+anthropic+"/models", admin, nil).want(http.StatusBadGateway)
	if s := string(r.body); !strings.Contains(s, "HTTP 401") || !strings.Contains(s, "invalid key") || strings.Contains(s, key) {
		t.Fatalf("vendor refusal: %s; want the vendor's status and message without the key", s)
	}
}
