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
	body := ollamaRequest{Model: req.Model, Messages: req.Messages}
	if req.Temperature != nil || req.MaxTokens != nil {
		body.Options = &ollamaOptions{Temperature: req.Temperature, NumPredict: req.MaxTokens}
	}
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
