package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"switchboard/providers"
	"switchboard/store"
)

// DefaultOpenAIBaseURL is the base URL of an openai-legacy provider with no
// baseUrl.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

// openAIClient talks to an OpenAI-compatible Chat Completions endpoint
// (OpenAI, vLLM, LM Studio, llama.cpp server).
type openAIClient struct {
	ep endpoint
}

var _ Client = (*openAIClient)(nil)

func newOpenAI(raw json.RawMessage, opts Options) (*openAIClient, error) {
	var cfg providers.OpenAIConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.BaseURL, DefaultOpenAIBaseURL, opts.Destinations)
	if err != nil {
		return nil, err
	}
	c := &openAIClient{ep: endpoint{
		apiType:  store.APITypeOpenAILegacy,
		url:      base + "/chat/completions",
		apiKey:   cfg.APIKey,
		client:   opts.HTTPClient,
		maxBytes: opts.MaxResponseBytes,
	}}
	if cfg.OrganizationID != "" {
		c.ep.headers = http.Header{"Openai-Organization": {cfg.OrganizationID}}
	}
	return c, nil
}

type openAIRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   *int      `json:"max_tokens,omitempty"`
	Stream      bool      `json:"stream"`
}

type openAIResponse struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// Complete posts the chat and returns the first choice's content.
func (c *openAIClient) Complete(ctx context.Context, req Request) (string, error) {
	var resp openAIResponse
	err := c.ep.post(ctx, openAIRequest{
		Model:       req.Model,
		Messages:    req.Messages,
		Temperature: req.Temperature,
		MaxTokens:   req.MaxTokens,
	}, &resp)
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 {
		return "", fmt.Errorf("llm: openai-legacy: response has no choices")
	}
	ch := resp.Choices[0]
	if ch.Message.Content == nil || *ch.Message.Content == "" {
		return "", fmt.Errorf("llm: openai-legacy: finish_reason %q: %w", ch.FinishReason, ErrEmptyReply)
	}
	return *ch.Message.Content, nil
}
