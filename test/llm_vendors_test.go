package test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/test/twiliosim"
)

// TestLLMVendorsEndToEnd runs real lines on the binary with LLM providers
// of the new apiTypes, each against a fake of its vendor: Anthropic's
// Messages API, whose first answer is a 429 with Retry-After: 1 (the turn
// must wait and retry within the stage's timeout, not send the error
// reply), Gemini's generateContent, and OpenAI's Responses API.
func TestLLMVendorsEndToEnd(t *testing.T) {
	type vendor struct {
		apiType, path, reply string
		first429             bool
		check                func(r *http.Request) bool
	}
	vendors := []vendor{
		{"anthropic", "/v1/messages", `{"id":"m","type":"message","role":"assistant","model":"test-model","content":[{"type":"text","text":"claude says hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":3}}`,
			true, func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer sk-vendor-key" && r.Header.Get("Anthropic-Version") != ""
			}},
		{"gemini", "/v1beta/models/test-model:generateContent", `{"candidates":[{"content":{"role":"model","parts":[{"text":"gemini says hi"}]},"finishReason":"STOP"}]}`,
			false, func(r *http.Request) bool { return r.Header.Get("X-Goog-Api-Key") == "sk-vendor-key" }},
		{"openai", "/v1/responses", `{"id":"r","object":"response","status":"completed","output":[{"type":"message","id":"m","role":"assistant","status":"completed","content":[{"type":"output_text","text":"gpt says hi","annotations":[]}]}]}`,
			false, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer sk-vendor-key" }},
	}
	s := startServer(t, "", nil)
	sim := newSim(t, twiliosim.Options{})
	for i, v := range vendors {
		t.Run(v.apiType, func(t *testing.T) {
			var calls atomic.Int32
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != v.path || !v.check(r) {
					http.Error(w, `{"error":{"message":"unexpected request"}}`, http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if calls.Add(1) == 1 && v.first429 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					w.Write([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`))
					return
				}
				w.Write([]byte(v.reply))
			}))
			defer fake.Close()
			base := fake.URL
			if v.apiType == "openai" {
				base += "/v1"
			}
			number := "+1555000200" + string(rune('0'+i))
			l := setupLine(t, s, sim, lineOptions{number: number, llmType: v.apiType,
				llmConfig: map[string]any{"apiKey": "sk-vendor-key", "baseUrl": base}})
			from := "+1555123900" + string(rune('0'+i))
			l.mustText(t, from, "hello")
			got := l.waitReplies(t, from, 1, 15*time.Second)
			want := map[string]string{"anthropic": "claude says hi", "gemini": "gemini says hi", "openai": "gpt says hi"}[v.apiType]
			if got[0] != want {
				t.Fatalf("reply %q, want %q", got[0], want)
			}
			wantCalls := int32(1)
			if v.first429 {
				wantCalls = 2
			}
			if n := calls.Load(); n != wantCalls {
				t.Fatalf("the vendor got %d requests, want %d", n, wantCalls)
			}
		})
	}
}
