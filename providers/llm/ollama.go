package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"switchboard/providers"
	"switchboard/store"
)

// DefaultOllamaBaseURL is the base URL of an ollama provider with no
// baseUrl.
const DefaultOllamaBaseURL = "http://127.0.0.1:11434"

// ollamaClient talks to Ollama's native chat API.
type ollamaClient struct {
	ep   endpoint
	tags endpoint // GET /api/tags: the models pulled on the server
}

var _ Client = (*ollamaClient)(nil)

func newOllama(raw json.RawMessage, opts Options) (*ollamaClient, error) {
	var cfg providers.OllamaConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.BaseURL, DefaultOllamaBaseURL, opts.Destinations)
	if err != nil {
		return nil, err
	}
	ep := endpoint{
		apiType:  store.APITypeOllama,
		url:      base + "/api/chat",
		apiKey:   cfg.APIKey,
		client:   opts.HTTPClient,
		maxBytes: opts.MaxResponseBytes,
	}
	tags := ep
	tags.url = base + "/api/tags"
	return &ollamaClient{ep: ep, tags: tags}, nil
}

type ollamaOptions struct {
	Temperature *float64 `json:"temperature,omitempty"`
	NumPredict  *int     `json:"num_predict,omitempty"`
	NumCtx      int      `json:"num_ctx,omitempty"`
}

type ollamaRequest struct {
	Model    string         `json:"model"`
	Messages []Message      `json:"messages"`
	Stream   bool           `json:"stream"`
	Options  *ollamaOptions `json:"options,omitempty"`
}

type ollamaResponse struct {
	Message *struct {
		Content string `json:"content"`
	} `json:"message"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
}

// Complete posts the chat and returns the message's content.
func (c *ollamaClient) Complete(ctx context.Context, req Request) (Response, error) {
	body := ollamaRequest{Model: req.Model, Messages: req.Messages,
		Options: &ollamaOptions{Temperature: req.Temperature, NumPredict: req.MaxTokens, NumCtx: ollamaContextSize(req)}}
	var resp ollamaResponse
	if err := c.ep.post(ctx, body, &resp); err != nil {
		return Response{}, err
	}
	out := Response{VendorReason: resp.DoneReason, Usage: Usage{PromptTokens: resp.PromptEvalCount, CompletionTokens: resp.EvalCount}}
	switch resp.DoneReason {
	case "stop":
		out.FinishReason = FinishStop
	case "length":
		out.FinishReason = FinishLength
	case "":
	default:
		out.FinishReason = FinishOther
	}
	if resp.Message == nil {
		return out, fmt.Errorf("llm: ollama: response has no message")
	}
	out.Text = resp.Message.Content
	if out.Text == "" {
		return out, fmt.Errorf("llm: ollama: done_reason %q: %w", resp.DoneReason, ErrEmptyReply)
	}
	return out, nil
}

// ListModels lists the models pulled on the server (GET /api/tags).
func (c *ollamaClient) ListModels(ctx context.Context) ([]ModelInfo, error) {
	var resp struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := c.tags.do(ctx, http.MethodGet, nil, &resp); err != nil {
		return nil, err
	}
	out := make([]ModelInfo, 0, len(resp.Models))
	for _, m := range resp.Models {
		id := m.Model
		if id == "" {
			id = m.Name
		}
		out = append(out, ModelInfo{ID: id, DisplayName: m.Name})
	}
	return out, nil
}

// ollamaContextSize is the context window (num_ctx) a request needs: its
// messages (estimated as the history budget estimates them, a quarter of
// the UTF-8 bytes plus 4 per message) and room for the answer (the
// stage's max tokens, else 1024). Ollama's own default window is small
// and silently drops the start of a longer prompt — the system prompt
// first. The size is rounded up to a power of two, at least 2048 and at
// most 1,048,576: Ollama reloads a model whenever num_ctx changes, so a
// line should use few distinct sizes.
func ollamaContextSize(req Request) int {
	need := 1024
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		need = *req.MaxTokens
	}
	for _, m := range req.Messages {
		need += (len(m.Content)+3)/4 + 4
	}
	size := 2048
	for size < need && size < 1<<20 {
		size *= 2
	}
	return size
}
