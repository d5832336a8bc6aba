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

	"switchboard/store"
)

// vendorFake is an httptest server speaking one vendor's wire format: it
// records every request and answers from routes ("METHOD /path").
type vendorFake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	routes   map[string]fakeAnswer
}

// fakeAnswer is one canned answer; a list of them is served in order, the
// last repeating.
type fakeAnswer struct {
	status int
	body   string
	header map[string]string
}

func newVendorFake(t *testing.T, routes map[string]fakeAnswer) *vendorFake {
	t.Helper()
	f := &vendorFake{routes: routes}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &rec.Body); err != nil {
				t.Errorf("request body is not JSON: %v: %s", err, raw)
			}
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		a, ok := f.routes[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *vendorFake) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no request reached the fake")
	}
	return f.requests[len(f.requests)-1]
}

func (f *vendorFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// vendorCase is one apiType's wire format, as its fake serves it.
type vendorCase struct {
	apiType string
	// base is the path of the configured baseUrl; reqPath the chat (or
	// messages, generate) path and modelsPath the models path the client
	// must use under the fake.
	base, chatPath, modelsPath string
	extraConfig                map[string]string
	ok, unauthorized, models   string
	// checkAuth checks the request's credentials for key.
	checkAuth func(t *testing.T, h http.Header, key string)
	// checkBody checks the request's body for turnRequest().
	checkBody func(t *testing.T, b map[string]any)
	wantModel string // first model id listed
	wantError string // the vendor's message of the 401
}

const fakeKey = "sk-fake-key-0123456789"

func bearer(t *testing.T, h http.Header, key string) {
	t.Helper()
	if got := h.Get("Authorization"); got != "Bearer "+key {
		t.Errorf("Authorization = %q, want Bearer key", got)
	}
}

// chatBody checks a Chat Completions body for turnRequest(), with the max
// tokens field maxField.
func chatBody(maxField string) func(t *testing.T, b map[string]any) {
	return func(t *testing.T, b map[string]any) {
		t.Helper()
		if b["model"] != "gpt-test" || b["temperature"] != 0.25 || b[maxField] != float64(128) {
			t.Errorf("body = %v, want model, temperature and %s", b, maxField)
		}
		assertMessages(t, b["messages"], turnRequest().Messages)
	}
}

const (
	chatOK     = `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"We open at 9."},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}`
	chat401    = `{"error":{"message":"Incorrect API key provided: sk-fake-key-0123456789","type":"invalid_request_error","code":"invalid_api_key"}}`
	chatModels = `{"object":"list","data":[{"id":"model-a","object":"model","created":1,"owned_by":"vendor"},{"id":"model-b","object":"model","created":2,"owned_by":"vendor"}]}`
)

func chatCase(apiType, base, maxField string) vendorCase {
	return vendorCase{apiType: apiType, base: base, chatPath: base + "/chat/completions", modelsPath: base + "/models",
		ok: chatOK, unauthorized: chat401, models: chatModels, checkAuth: bearer, checkBody: chatBody(maxField),
		wantModel: "model-a", wantError: "Incorrect API key provided: [redacted]"}
}

func vendorCases() []vendorCase {
	cases := []vendorCase{
		chatCase(store.APITypeOpenAILegacy, "/v1", "max_tokens"),
		chatCase(store.APITypeGroq, "/openai/v1", "max_tokens"),
		chatCase(store.APITypeDeepSeek, "/v1", "max_tokens"),
		chatCase(store.APITypeTogetherAI, "/v1", "max_tokens"),
		chatCase(store.APITypeFireworksAI, "/inference/v1", "max_tokens"),
		chatCase(store.APITypeCohere, "/compatibility/v1", "max_tokens"),
		chatCase(store.APITypeXAI, "/v1", "max_tokens"),
	}
	// Mistral: a baseUrl without a path (the server URL of Mistral's own
	// SDK, as Bonsai stores it) gets /v1.
	mistral := chatCase(store.APITypeMistral, "", "max_tokens")
	mistral.chatPath, mistral.modelsPath = "/v1/chat/completions", "/v1/models"
	// OpenRouter: its ranking headers are sent.
	openrouter := chatCase(store.APITypeOpenRouter, "/api/v1", "max_tokens")
	openrouter.extraConfig = map[string]string{"httpReferer": "https://shop.example.com", "xTitle": "Shop bot"}
	openrouter.checkAuth = func(t *testing.T, h http.Header, key string) {
		bearer(t, h, key)
		if h.Get("HTTP-Referer") != "https://shop.example.com" || h.Get("X-Title") != "Shop bot" {
			t.Errorf("OpenRouter headers = %q, %q", h.Get("HTTP-Referer"), h.Get("X-Title"))
		}
	}
	// Perplexity has no models endpoint: its list is static.
	perplexity := chatCase(store.APITypePerplexity, "", "max_tokens")
	perplexity.modelsPath, perplexity.wantModel = "", "sonar-pro"
	// openai: the Responses API.
	openaiResp := vendorCase{apiType: store.APITypeOpenAI, base: "/v1", chatPath: "/v1/responses", modelsPath: "/v1/models",
		ok: `{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-test",
			"output":[{"type":"reasoning","id":"rs_1","summary":[]},{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"We open at 9.","annotations":[]}]}],
			"usage":{"input_tokens":10,"output_tokens":4,"total_tokens":14}}`,
		unauthorized: chat401, models: chatModels, wantModel: "model-a", wantError: "Incorrect API key provided: [redacted]",
		extraConfig: map[string]string{"organizationId": "org-42"},
		checkAuth: func(t *testing.T, h http.Header, key string) {
			bearer(t, h, key)
			if h.Get("OpenAI-Organization") != "org-42" {
				t.Errorf("OpenAI-Organization = %q", h.Get("OpenAI-Organization"))
			}
		},
		checkBody: func(t *testing.T, b map[string]any) {
			if b["model"] != "gpt-test" || b["temperature"] != 0.25 || b["max_output_tokens"] != float64(128) || b["store"] != false {
				t.Errorf("body = %v", b)
			}
			input, _ := b["input"].([]any)
			want := turnRequest().Messages
			if len(input) != len(want) {
				t.Fatalf("input = %v", b["input"])
			}
			for i, w := range want {
				m, _ := input[i].(map[string]any)
				if m["role"] != w.Role || m["content"] != w.Content {
					t.Errorf("input[%d] = %v, want %+v", i, m, w)
				}
			}
		}}
	anthropicCase := vendorCase{apiType: store.APITypeAnthropic, base: "", chatPath: "/v1/messages", modelsPath: "/v1/models",
		ok: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":"We open "},{"type":"text","text":"at 9."}],
			"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":4}}`,
		unauthorized: `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_1"}`,
		models:       `{"data":[{"id":"claude-test-1","type":"model","display_name":"Claude Test","created_at":"2026-01-01T00:00:00Z"}],"has_more":false,"first_id":"claude-test-1","last_id":"claude-test-1"}`,
		wantModel:    "claude-test-1", wantError: "invalid x-api-key",
		checkAuth: func(t *testing.T, h http.Header, key string) {
			bearer(t, h, key)
			if v := h.Get("Anthropic-Version"); len(v) != len("2006-01-02") {
				t.Errorf("anthropic-version = %q, want the SDK's API version date", v)
			}
		},
		checkBody: func(t *testing.T, b map[string]any) {
			if b["model"] != "gpt-test" || b["max_tokens"] != float64(128) {
				t.Errorf("body = %v", b)
			}
			if _, ok := b["temperature"]; ok {
				t.Errorf("temperature sent to anthropic (its API version refuses it): %v", b)
			}
			sys, _ := b["system"].([]any)
			if len(sys) != 1 || sys[0].(map[string]any)["text"] != "You are a helpful shop assistant." {
				t.Errorf("system = %v", b["system"])
			}
			msgs, _ := b["messages"].([]any)
			if len(msgs) != 3 {
				t.Fatalf("messages = %v", b["messages"])
			}
			for i, w := range turnRequest().Messages[1:] {
				m := msgs[i].(map[string]any)
				content, _ := m["content"].([]any)
				if m["role"] != w.Role || len(content) != 1 || content[0].(map[string]any)["text"] != w.Content {
					t.Errorf("messages[%d] = %v, want %+v", i, m, w)
				}
			}
		}}
	geminiCase := vendorCase{apiType: store.APITypeGemini, base: "", chatPath: "/v1beta/models/gpt-test:generateContent", modelsPath: "/v1beta/models",
		ok: `{"candidates":[{"content":{"role":"model","parts":[{"text":"thinking…","thought":true},{"text":"We open at 9."}]},"finishReason":"STOP"}],
			"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4}}`,
		unauthorized: `{"error":{"code":401,"message":"API key not valid. Please pass a valid API key.","status":"UNAUTHENTICATED"}}`,
		models:       `{"models":[{"name":"models/embedding-001","displayName":"Embedding","supportedGenerationMethods":["embedContent"]},{"name":"models/gemini-test","displayName":"Gemini Test","inputTokenLimit":1048576,"supportedGenerationMethods":["generateContent","countTokens"]}]}`,
		wantModel:    "gemini-test", wantError: "API key not valid",
		checkAuth: func(t *testing.T, h http.Header, key string) {
			if h.Get("X-Goog-Api-Key") != key || h.Get("Authorization") != "" {
				t.Errorf("x-goog-api-key = %q, Authorization = %q", h.Get("X-Goog-Api-Key"), h.Get("Authorization"))
			}
		},
		checkBody: func(t *testing.T, b map[string]any) {
			gc, _ := b["generationConfig"].(map[string]any)
			if gc["temperature"] != 0.25 || gc["maxOutputTokens"] != float64(128) {
				t.Errorf("generationConfig = %v", b["generationConfig"])
			}
			si, _ := b["systemInstruction"].(map[string]any)
			parts, _ := si["parts"].([]any)
			if len(parts) != 1 || parts[0].(map[string]any)["text"] != "You are a helpful shop assistant." {
				t.Errorf("systemInstruction = %v", b["systemInstruction"])
			}
			contents, _ := b["contents"].([]any)
			roles := map[string]string{RoleUser: "user", RoleAssistant: "model"}
			if len(contents) != 3 {
				t.Fatalf("contents = %v", b["contents"])
			}
			for i, w := range turnRequest().Messages[1:] {
				c := contents[i].(map[string]any)
				parts, _ := c["parts"].([]any)
				if c["role"] != roles[w.Role] || len(parts) != 1 || parts[0].(map[string]any)["text"] != w.Content {
					t.Errorf("contents[%d] = %v, want %+v", i, c, w)
				}
			}
		}}
	ollamaCase := vendorCase{apiType: store.APITypeOllama, base: "", chatPath: "/api/chat", modelsPath: "/api/tags",
		ok:           `{"model":"gpt-test","message":{"role":"assistant","content":"We open at 9."},"done":true,"done_reason":"stop","prompt_eval_count":10,"eval_count":4}`,
		unauthorized: `{"error":"unauthorized"}`,
		models:       `{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":1}]}`,
		wantModel:    "llama3.2:latest", wantError: "unauthorized", checkAuth: bearer,
		checkBody: func(t *testing.T, b map[string]any) {
			opts, _ := b["options"].(map[string]any)
			if b["model"] != "gpt-test" || opts["temperature"] != 0.25 || opts["num_predict"] != float64(128) {
				t.Errorf("body = %v", b)
			}
			assertMessages(t, b["messages"], turnRequest().Messages)
		}}
	return append(cases, mistral, openrouter, perplexity, openaiResp, anthropicCase, geminiCase, ollamaCase)
}

func (vc vendorCase) provider(baseURL string) *store.Provider {
	cfg := map[string]string{"apiKey": fakeKey, "baseUrl": baseURL + vc.base}
	for k, v := range vc.extraConfig {
		cfg[k] = v
	}
	return llmProvider(vc.apiType, cfg)
}

// TestVendorWireFormats runs every network apiType against a fake of its
// vendor's wire format: the request path, credentials and body shape, the
// reply parsed from the vendor's answer, a 401's own message surfacing in
// a *StatusError without the key, and the models list.
func TestVendorWireFormats(t *testing.T) {
	seen := map[string]bool{}
	for _, vc := range vendorCases() {
		seen[vc.apiType] = true
		t.Run(vc.apiType, func(t *testing.T) {
			routes := map[string]fakeAnswer{"POST " + vc.chatPath: {status: 200, body: vc.ok}}
			if vc.modelsPath != "" {
				routes["GET "+vc.modelsPath] = fakeAnswer{status: 200, body: vc.models}
			}
			f := newVendorFake(t, routes)
			c, err := New(vc.provider(f.URL), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := c.Complete(context.Background(), turnRequest())
			if err != nil || got.Text != "We open at 9." {
				t.Fatalf("Complete = %q, %v", got.Text, err)
			}
			// Every vendor's answer says how it finished and what it cost.
			if got.FinishReason != FinishStop || got.Usage != (Usage{PromptTokens: 10, CompletionTokens: 4}) {
				t.Errorf("finish %q (%q), usage %+v; want stop, 10 prompt and 4 completion tokens", got.FinishReason, got.VendorReason, got.Usage)
			}
			r := f.last(t)
			if r.Method != http.MethodPost || r.Path != vc.chatPath {
				t.Fatalf("request %s %s, want POST %s", r.Method, r.Path, vc.chatPath)
			}
			vc.checkAuth(t, r.Header, fakeKey)
			vc.checkBody(t, r.Body)

			models, err := ListModels(context.Background(), c)
			if err != nil || len(models) == 0 || models[0].ID != vc.wantModel || models[0].DisplayName == "" {
				t.Fatalf("ListModels = %+v, %v; want %s first", models, err, vc.wantModel)
			}
			if vc.modelsPath != "" {
				if r := f.last(t); r.Method != http.MethodGet || r.Path != vc.modelsPath {
					t.Fatalf("models request %s %s, want GET %s", r.Method, r.Path, vc.modelsPath)
				}
				vc.checkAuth(t, f.last(t).Header, fakeKey)
			}

			f.mu.Lock()
			f.routes["POST "+vc.chatPath] = fakeAnswer{status: 401, body: vc.unauthorized}
			f.routes["GET "+vc.modelsPath] = fakeAnswer{status: 401, body: vc.unauthorized}
			f.mu.Unlock()
			for name, call := range map[string]func() error{
				"complete": func() error { _, err := c.Complete(context.Background(), turnRequest()); return err },
				"models":   func() error { _, err := ListModels(context.Background(), c); return err },
			} {
				if name == "models" && vc.modelsPath == "" {
					continue
				}
				before := f.count()
				err := call()
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != 401 || !strings.Contains(se.Message, vc.wantError) {
					t.Fatalf("%s after a 401: %v, want a StatusError 401 with %q", name, err, vc.wantError)
				}
				if !strings.HasPrefix(err.Error(), "llm: "+vc.apiType+": HTTP 401") || strings.Contains(err.Error(), fakeKey) {
					t.Fatalf("%s error %q: want the apiType and status, never the key", name, err)
				}
				if n := f.count() - before; n != 1 {
					t.Fatalf("%s: a 401 was sent %d times, want once (never retried)", name, n)
				}
			}
		})
	}
	for _, at := range []string{store.APITypeOpenAI, store.APITypeOpenAILegacy, store.APITypeAnthropic, store.APITypeGemini,
		store.APITypeGroq, store.APITypeMistral, store.APITypeDeepSeek, store.APITypeOpenRouter, store.APITypeTogetherAI,
		store.APITypeFireworksAI, store.APITypePerplexity, store.APITypeCohere, store.APITypeXAI, store.APITypeOllama} {
		if !seen[at] {
			t.Errorf("no wire-format case for %s", at)
		}
	}
}

// TestOpenAIMaxCompletionTokens: OpenAI's own API gets
// max_completion_tokens (its reasoning models refuse max_tokens); the
// client is pointed at the fake through the transport, keeping the
// default base URL.
func TestOpenAIMaxCompletionTokens(t *testing.T) {
	f := newVendorFake(t, map[string]fakeAnswer{"POST /v1/chat/completions": {status: 200, body: chatOK}})
	hc := &http.Client{Transport: rewriteHost{to: f.Listener.Addr().String(), base: f.Client().Transport}}
	c, err := New(llmProvider(store.APITypeOpenAILegacy, map[string]string{"apiKey": fakeKey}), Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Complete(context.Background(), turnRequest()); err != nil {
		t.Fatal(err)
	}
	b := f.last(t).Body
	if _, ok := b["max_tokens"]; ok || b["max_completion_tokens"] != float64(128) {
		t.Fatalf("body to api.openai.com = %v, want max_completion_tokens only", b)
	}
}

// rewriteHost sends every request to a test server, whatever its URL.
type rewriteHost struct {
	to   string
	base http.RoundTripper
}

func (r rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = "http", r.to
	return r.base.RoundTrip(req)
}

// TestVendorEmptyReplies: an answer without text is ErrEmptyReply naming
// the vendor's reason (a refusal, a filter, the token limit).
func TestVendorEmptyReplies(t *testing.T) {
	cases := []struct {
		apiType, path, body, reason string
	}{
		{store.APITypeOpenAILegacy, "/chat/completions", `{"choices":[{"message":{"role":"assistant","content":"","refusal":"I can't help with that."},"finish_reason":"stop"}]}`, "I can't help with that."},
		{store.APITypeOpenAI, "/responses", `{"id":"r","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[]}`, "max_output_tokens"},
		{store.APITypeAnthropic, "/v1/messages", `{"id":"m","type":"message","role":"assistant","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`, "refusal"},
		{store.APITypeGemini, "/v1beta/models/gpt-test:generateContent", `{"promptFeedback":{"blockReason":"SAFETY"}}`, "SAFETY"},
	}
	for _, tt := range cases {
		t.Run(tt.apiType, func(t *testing.T) {
			f := newVendorFake(t, map[string]fakeAnswer{"POST " + tt.path: {status: 200, body: tt.body}})
			c, err := New(llmProvider(tt.apiType, map[string]string{"apiKey": fakeKey, "baseUrl": f.URL}), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Complete(context.Background(), turnRequest())
			if !errors.Is(err, ErrEmptyReply) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want ErrEmptyReply naming %q", err, tt.reason)
			}
		})
	}
}

// TestVendorFinishReasons: a reply cut off by the token limit keeps its
// text and says so, in every vendor's words; a refusal or a filter is
// content_filter with the vendor's reason (and the refusal's text where
// the vendor gives one), even when it comes without text (ErrEmptyReply).
func TestVendorFinishReasons(t *testing.T) {
	const chatPath, respPath, msgPath, gemPath = "/chat/completions", "/responses", "/v1/messages", "/v1beta/models/gpt-test:generateContent"
	cases := []struct {
		name, apiType, path, body    string
		text, finish, vendor, refuse string
		usage                        Usage
	}{
		{"chat length", store.APITypeOpenAILegacy, chatPath,
			`{"choices":[{"message":{"role":"assistant","content":"We open"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":2}}`,
			"We open", FinishLength, "length", "", Usage{7, 2}},
		{"chat filter", store.APITypeGroq, chatPath,
			`{"choices":[{"message":{"role":"assistant","content":"We"},"finish_reason":"content_filter"}]}`,
			"We", FinishContentFilter, "content_filter", "", Usage{}},
		{"chat refusal", store.APITypeOpenAILegacy, chatPath,
			`{"choices":[{"message":{"role":"assistant","content":"","refusal":"I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":6}}`,
			"", FinishContentFilter, "stop", "I can't help with that.", Usage{5, 6}},
		{"responses length", store.APITypeOpenAI, respPath,
			`{"id":"r","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","id":"m","role":"assistant","status":"incomplete","content":[{"type":"output_text","text":"We open","annotations":[]}]}],"usage":{"input_tokens":8,"output_tokens":3}}`,
			"We open", FinishLength, "max_output_tokens", "", Usage{8, 3}},
		{"responses refusal", store.APITypeOpenAI, respPath,
			`{"id":"r","object":"response","status":"completed","output":[{"type":"message","id":"m","role":"assistant","status":"completed","content":[{"type":"refusal","refusal":"No."}]}],"usage":{"input_tokens":8,"output_tokens":1}}`,
			"", FinishContentFilter, "completed", "No.", Usage{8, 1}},
		{"anthropic max_tokens", store.APITypeAnthropic, msgPath,
			`{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"We open"}],"stop_reason":"max_tokens","usage":{"input_tokens":9,"output_tokens":2,"cache_read_input_tokens":3}}`,
			"We open", FinishLength, "max_tokens", "", Usage{12, 2}},
		{"anthropic refusal", store.APITypeAnthropic, msgPath,
			`{"id":"m","type":"message","role":"assistant","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`,
			"", FinishContentFilter, "refusal", "", Usage{1, 0}},
		{"gemini MAX_TOKENS", store.APITypeGemini, gemPath,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"We open"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":6,"candidatesTokenCount":2,"thoughtsTokenCount":5}}`,
			"We open", FinishLength, "MAX_TOKENS", "", Usage{6, 7}},
		{"gemini SAFETY", store.APITypeGemini, gemPath,
			`{"candidates":[{"content":{"role":"model","parts":[]},"finishReason":"SAFETY"}],"usageMetadata":{"promptTokenCount":6}}`,
			"", FinishContentFilter, "SAFETY", "", Usage{6, 0}},
		{"ollama length", store.APITypeOllama, "/api/chat",
			`{"model":"m","message":{"role":"assistant","content":"We open"},"done":true,"done_reason":"length","prompt_eval_count":11,"eval_count":2}`,
			"We open", FinishLength, "length", "", Usage{11, 2}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f := newVendorFake(t, map[string]fakeAnswer{"POST " + tt.path: {status: 200, body: tt.body}})
			c, err := New(llmProvider(tt.apiType, map[string]string{"apiKey": fakeKey, "baseUrl": f.URL}), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Complete(context.Background(), turnRequest())
			if (tt.text == "") != errors.Is(err, ErrEmptyReply) || (tt.text != "" && err != nil) {
				t.Fatalf("err = %v with text %q", err, got.Text)
			}
			if got.Text != tt.text || got.FinishReason != tt.finish || got.VendorReason != tt.vendor || got.Refusal != tt.refuse || got.Usage != tt.usage {
				t.Fatalf("got %+v, want text %q, finish %q (%q), refusal %q, usage %+v", got, tt.text, tt.finish, tt.vendor, tt.refuse, tt.usage)
			}
		})
	}
}

// TestSDKsIgnoreEnvironment: the vendors' environment variables (a key,
// an organization, a base URL, Vertex AI) never reach a provider's
// requests; only its own config does.
func TestSDKsIgnoreEnvironment(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://169.254.169.254/v1")
	t.Setenv("OPENAI_ORG_ID", "org-from-env")
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("ANTHROPIC_BASE_URL", "http://169.254.169.254")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", "http://169.254.169.254")
	for _, vc := range vendorCases() {
		if vc.apiType == store.APITypeOllama {
			continue
		}
		t.Run(vc.apiType, func(t *testing.T) {
			f := newVendorFake(t, map[string]fakeAnswer{"POST " + vc.chatPath: {status: 200, body: vc.ok}})
			c, err := New(vc.provider(f.URL), Options{HTTPClient: f.Client()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Complete(context.Background(), turnRequest()); err != nil {
				t.Fatal(err)
			}
			h := f.last(t).Header
			for k, v := range h {
				if s := strings.Join(v, ","); strings.Contains(s, "from-env") {
					t.Fatalf("header %s = %q came from the environment", k, s)
				}
			}
		})
	}
}
