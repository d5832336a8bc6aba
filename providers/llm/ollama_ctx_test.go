package llm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/store"
)

// TestOllamaContextFitsTheRequest: every Ollama request names a context
// window (num_ctx) that holds its messages and the answer, in few
// distinct sizes, so a long history is not cut from the front by Ollama's
// small default window.
func TestOllamaContextFitsTheRequest(t *testing.T) {
	var got []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Options struct {
				NumCtx int `json:"num_ctx"`
			} `json:"options"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		got = append(got, body.Options.NumCtx)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"message":{"role":"assistant","content":"ok"},"done_reason":"stop"}`))
	}))
	defer srv.Close()
	raw, _ := json.Marshal(map[string]string{"baseUrl": srv.URL})
	c, err := New(&store.Provider{ProviderType: store.ProviderTypeLLM, APIType: store.APITypeOllama, Config: raw}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	short := Request{Model: "m", Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hi"}}}
	long := Request{Model: "m", Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: strings.Repeat("word ", 4000)}}}
	big := 6000
	wide := Request{Model: "m", MaxTokens: &big, Messages: short.Messages}
	for _, req := range []Request{short, long, wide} {
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	// short: 1024 + a few → 2048; long: 20,000 bytes ≈ 5,000 tokens + 1024 → 8192;
	// wide: 6,000 answer tokens → 8192.
	if len(got) != 3 || got[0] != 2048 || got[1] != 8192 || got[2] != 8192 {
		t.Fatalf("num_ctx %v, want [2048 8192 8192]", got)
	}
}
