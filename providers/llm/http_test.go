package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/store"
)

// recorded is one request received by a fake endpoint.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
}

// fakeEndpoint is an httptest server that records requests and answers
// with status and body (or runs handler when set).
type fakeEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

func newFakeEndpoint(t *testing.T, status int, body string) *fakeEndpoint {
	t.Helper()
	f := &fakeEndpoint{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		if err := json.Unmarshal(raw, &rec.Body); err != nil {
			t.Errorf("request body is not JSON: %v: %s", err, raw)
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEndpoint) only(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("endpoint got %d requests, want 1", len(f.requests))
	}
	return f.requests[0]
}

func llmProvider(apiType string, config any) *store.Provider {
	raw, _ := json.Marshal(config)
	return &store.Provider{
		Meta:         store.Meta{ID: "prov_" + apiType, Version: 1},
		ProviderType: store.ProviderTypeLLM,
		APIType:      apiType,
		Config:       raw,
	}
}

func ptr[T any](v T) *T { return &v }

// turnRequest is a typical turn: system prompt, history, new user text.
func turnRequest() Request {
	return Request{
		Model: "gpt-test",
		Messages: []Message{
			{Role: RoleSystem, Content: "You are a helpful shop assistant."},
			{Role: RoleUser, Content: "hi"},
			{Role: RoleAssistant, Content: "Hello! How can I help?"},
			{Role: RoleUser, Content: "what are your hours?"},
		},
		Temperature: ptr(0.25),
		MaxTokens:   ptr(128),
		Text:        "what are your hours?",
	}
}

func assertMessages(t *testing.T, got any, want []Message) {
	t.Helper()
	list, ok := got.([]any)
	if !ok || len(list) != len(want) {
		t.Fatalf("messages = %#v, want %d messages", got, len(want))
	}
	for i, w := range want {
		m, _ := list[i].(map[string]any)
		if m["role"] != w.Role || m["content"] != w.Content || len(m) != 2 {
			t.Fatalf("messages[%d] = %v, want %+v", i, m, w)
		}
	}
}

func TestOpenAIRequestAndReply(t *testing.T) {
	const key = "sk-test-0123456789"
	f := newFakeEndpoint(t, 200, `{"id":"chatcmpl-1","object":"chat.completion","choices":[
		{"index":0,"message":{"role":"assistant","content":"We open at 9."},"finish_reason":"stop"},
		{"index":1,"message":{"role":"assistant","content":"second choice"},"finish_reason":"stop"}]}`)
	for _, base := range []string{f.URL + "/v1", f.URL + "/v1/"} {
		f.requests = nil
		c, err := New(llmProvider(store.APITypeOpenAILegacy, map[string]string{
			"apiKey": key, "baseUrl": base, "organizationId": "org-42",
		}), Options{HTTPClient: f.Client()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		got, err := c.Complete(context.Background(), turnRequest())
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if got.Text != "We open at 9." {
			t.Fatalf("reply = %q", got.Text)
		}
		r := f.only(t)
		if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" {
			t.Fatalf("request = %s %s, want POST /v1/chat/completions", r.Method, r.Path)
		}
		if h := r.Header.Get("Authorization"); h != "Bearer "+key {
			t.Fatalf("Authorization = %q", h)
		}
		if h := r.Header.Get("OpenAI-Organization"); h != "org-42" {
			t.Fatalf("OpenAI-Organization = %q", h)
		}
		if h := r.Header.Get("Content-Type"); h != "application/json" {
			t.Fatalf("Content-Type = %q", h)
		}
		b := r.Body
		if b["model"] != "gpt-test" || b["temperature"] != 0.25 || b["max_tokens"] != float64(128) {
			t.Fatalf("body = %v", b)
		}
		if len(b) != 4 {
			t.Fatalf("body has unexpected fields: %v", b)
		}
		assertMessages(t, b["messages"], turnRequest().Messages)
	}
}

func TestOpenAIOmitsUnsetOptions(t *testing.T) {
	f := newFakeEndpoint(t, 200, `{"choices":[{"message":{"content":"ok"}}]}`)
	c, err := New(llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "k", "baseUrl": f.URL}), Options{HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	req := turnRequest()
	req.Temperature, req.MaxTokens = nil, nil
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Path != "/chat/completions" {
		t.Fatalf("path = %q", r.Path)
	}
	if _, ok := r.Body["temperature"]; ok {
		t.Fatalf("temperature sent: %v", r.Body)
	}
	if _, ok := r.Body["max_tokens"]; ok {
		t.Fatalf("max_tokens sent: %v", r.Body)
	}
	if _, ok := r.Header["Openai-Organization"]; ok {
		t.Fatal("OpenAI-Organization sent without organizationId")
	}
}

func TestOllamaRequestAndReply(t *testing.T) {
	f := newFakeEndpoint(t, 200, `{"model":"llama3","created_at":"2024-01-01T00:00:00Z",
		"message":{"role":"assistant","content":"Nine to five."},"done":true,"done_reason":"stop"}`)
	for _, tt := range []struct {
		name, key string
	}{{"no key", ""}, {"with key", "ollama-secret"}} {
		t.Run(tt.name, func(t *testing.T) {
			f.requests = nil
			c, err := New(llmProvider(store.APITypeOllama, map[string]string{"baseUrl": f.URL + "/", "apiKey": tt.key}), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := c.Complete(context.Background(), turnRequest())
			if err != nil || got.Text != "Nine to five." {
				t.Fatalf("Complete = %q, %v", got.Text, err)
			}
			r := f.only(t)
			if r.Method != http.MethodPost || r.Path != "/api/chat" {
				t.Fatalf("request = %s %s", r.Method, r.Path)
			}
			wantAuth := ""
			if tt.key != "" {
				wantAuth = "Bearer " + tt.key
			}
			if h := r.Header.Get("Authorization"); h != wantAuth {
				t.Fatalf("Authorization = %q, want %q", h, wantAuth)
			}
			b := r.Body
			if b["model"] != "gpt-test" || b["stream"] != false {
				t.Fatalf("body = %v", b)
			}
			opts, _ := b["options"].(map[string]any)
			if opts["temperature"] != 0.25 || opts["num_predict"] != float64(128) || opts["num_ctx"] != float64(2048) || len(opts) != 3 {
				t.Fatalf("options = %v", b["options"])
			}
			assertMessages(t, b["messages"], turnRequest().Messages)
		})
	}
}

func TestOllamaOmitsUnsetOptions(t *testing.T) {
	f := newFakeEndpoint(t, 200, `{"message":{"role":"assistant","content":"ok"},"done":true}`)
	c, err := New(llmProvider(store.APITypeOllama, map[string]string{"baseUrl": f.URL}), Options{HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	req := turnRequest()
	req.Temperature, req.MaxTokens = nil, nil
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// Only the context window is set (ollama_ctx_test.go): the model's
	// own temperature and answer length stay.
	opts, _ := f.only(t).Body["options"].(map[string]any)
	if len(opts) != 1 || opts["num_ctx"] != float64(2048) {
		t.Fatalf("options %v sent with neither temperature nor max tokens; want only num_ctx", opts)
	}
}

func TestHTTPErrors(t *testing.T) {
	const key = "sk-very-secret-key"
	huge := `{"choices":[{"message":{"content":"` + strings.Repeat("x", 5<<20) + `"}}]}`
	tests := []struct {
		name     string
		apiType  string
		status   int
		body     string
		contains []string
		status0  int // StatusError code expected, 0 for none
		empty    bool
	}{
		{"openai 401 with echoed key", store.APITypeOpenAILegacy, 401,
			`{"error":{"message":"Incorrect API key provided: sk-very-secret-key.","type":"invalid_request_error","code":"invalid_api_key"}}`,
			[]string{"HTTP 401", "Incorrect API key provided: [redacted]."}, 401, false},
		{"openai 429", store.APITypeOpenAILegacy, 429, `{"error":{"message":"Rate limit reached"}}`,
			[]string{"openai-legacy", "HTTP 429", "Rate limit reached"}, 429, false},
		{"openai 500 plain text", store.APITypeOpenAILegacy, 500, "upstream exploded",
			[]string{"HTTP 500", "upstream exploded"}, 500, false},
		{"openai long error truncated", store.APITypeOpenAILegacy, 400, `{"error":{"message":"` + strings.Repeat("e", 5000) + `"}}`,
			[]string{"HTTP 400", "…"}, 400, false},
		{"openai empty choices", store.APITypeOpenAILegacy, 200, `{"choices":[]}`, []string{"no choices"}, 0, false},
		{"openai null content", store.APITypeOpenAILegacy, 200, `{"choices":[{"message":{"content":null},"finish_reason":"tool_calls"}]}`,
			[]string{"tool_calls"}, 0, true},
		{"openai invalid JSON", store.APITypeOpenAILegacy, 200, `{"choices":[`, []string{"openai-legacy", "parsing response json"}, 0, false},
		{"openai huge response", store.APITypeOpenAILegacy, 200, huge, []string{"larger than 4194304 bytes"}, 0, false},
		{"ollama 404 model", store.APITypeOllama, 404, `{"error":"model \"llama9\" not found, try pulling it first"}`,
			[]string{"ollama", "HTTP 404", `model "llama9" not found`}, 404, false},
		{"ollama invalid JSON", store.APITypeOllama, 200, `not json`, []string{"decode response"}, 0, false},
		{"ollama no message", store.APITypeOllama, 200, `{"done":true}`, []string{"no message"}, 0, false},
		{"ollama empty content", store.APITypeOllama, 200, `{"message":{"role":"assistant","content":""},"done":true,"done_reason":"length"}`,
			[]string{"length"}, 0, true},
		{"ollama huge response", store.APITypeOllama, 200, huge, []string{"larger than"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEndpoint(t, tt.status, tt.body)
			c, err := New(llmProvider(tt.apiType, map[string]string{"apiKey": key, "baseUrl": f.URL}), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatal(err)
			}
			// A deadline shorter than the first backoff: a 429 or 5xx
			// is answered at once, not retried (retry_test.go retries).
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			got, err := c.Complete(ctx, turnRequest())
			if err == nil {
				t.Fatalf("Complete = %q, want an error", got.Text)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "llm: ") {
				t.Fatalf("error %q lacks the package prefix", msg)
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Fatalf("error %q does not contain %q", msg, s)
				}
			}
			if strings.Contains(msg, key) {
				t.Fatalf("error %q leaks the API key", msg)
			}
			if len(msg) > 400 {
				t.Fatalf("error is %d bytes long, want it truncated", len(msg))
			}
			var se *StatusError
			if errors.As(err, &se) != (tt.status0 != 0) || (se != nil && se.StatusCode != tt.status0) {
				t.Fatalf("StatusError = %+v, want status %d", se, tt.status0)
			}
			if errors.Is(err, ErrEmptyReply) != tt.empty {
				t.Fatalf("errors.Is(err, ErrEmptyReply) = %v, want %v", !tt.empty, tt.empty)
			}
		})
	}
}

func TestStatusErrorTemporary(t *testing.T) {
	for code, want := range map[int]bool{400: false, 401: false, 404: false, 408: true, 429: true, 500: true, 503: true} {
		if got := (&StatusError{StatusCode: code}).Temporary(); got != want {
			t.Errorf("Temporary(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestTimeoutFromContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	for _, apiType := range []string{store.APITypeOpenAILegacy, store.APITypeOllama} {
		t.Run(apiType, func(t *testing.T) {
			c, err := New(llmProvider(apiType, map[string]string{"apiKey": "k", "baseUrl": srv.URL}), Options{HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = c.Complete(ctx, turnRequest())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if !strings.HasPrefix(err.Error(), "llm: "+apiType) {
				t.Fatalf("err = %q, want the llm prefix and api type", err)
			}
		})
	}
}

// TestTimeoutWhileReadingBody covers a server that sends headers and then
// stalls: the deadline must still surface as context.DeadlineExceeded.
func TestTimeoutWhileReadingBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, `{"choices":[`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c, err := New(llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "k", "baseUrl": srv.URL}), Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Complete(ctx, turnRequest()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(llmProvider(store.APITypeOllama, map[string]string{"apiKey": "secret-xyz", "baseUrl": url}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Complete(context.Background(), turnRequest())
	if err == nil || !strings.HasPrefix(err.Error(), "llm: ollama: send request") || strings.Contains(err.Error(), "secret-xyz") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name  string
		p     *store.Provider
		field string
	}{
		{"channel provider", &store.Provider{ProviderType: store.ProviderTypeChannel, APIType: store.APITypeTwilioMessaging}, "providerType"},
		{"unknown apiType", &store.Provider{ProviderType: store.ProviderTypeLLM, APIType: "bard"}, "apiType"},
		{"openai relative baseUrl", llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "k", "baseUrl": "api.example.com/v1"}), "config.baseUrl"},
		{"openai ftp baseUrl", llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": "k", "baseUrl": "ftp://example.com"}), "config.baseUrl"},
		{"ollama baseUrl with query", llmProvider(store.APITypeOllama, map[string]string{"baseUrl": "http://h:1/?x=1"}), "config.baseUrl"},
		{"ollama bad JSON", &store.Provider{ProviderType: store.ProviderTypeLLM, APIType: store.APITypeOllama, Config: json.RawMessage(`{"baseUrl":7}`)}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.p, Options{})
			if store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			details, _ := store.ErrorDetails(err).(map[string]string)
			if details["field"] != tt.field {
				t.Fatalf("field = %q, want %q", details["field"], tt.field)
			}
		})
	}
	if _, err := New(nil, Options{}); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("New(nil) err = %v", err)
	}
}

func TestDefaultBaseURLs(t *testing.T) {
	ol, err := New(&store.Provider{APIType: store.APITypeOllama}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ol.(*ollamaClient).ep.url; got != "http://127.0.0.1:11434/api/chat" {
		t.Fatalf("ollama url = %q", got)
	}
	ol2, err := New(&store.Provider{APIType: store.APITypeOllama}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ol.(*ollamaClient).ep.client.Transport.(*llmTransport).base != ol2.(*ollamaClient).ep.client.Transport.(*llmTransport).base {
		t.Fatal("clients built without options do not share the default HTTP client")
	}
	lt, ok := ol.(*ollamaClient).ep.client.Transport.(*llmTransport)
	if !ok {
		t.Fatalf("default client transport = %T, want the retrying llmTransport", ol.(*ollamaClient).ep.client.Transport)
	}
	tr, ok := lt.base.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != 64 || tr.TLSHandshakeTimeout == 0 {
		t.Fatalf("default transport = %+v", tr)
	}
}
