package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"switchboard/providers"
	"switchboard/store"
)

// DefaultAnthropicMaxTokens is the max_tokens of an anthropic call whose
// stage sets none: the Messages API requires one.
const DefaultAnthropicMaxTokens = 1024

// anthropicClient talks to Anthropic's Messages API through the official
// SDK. The SDK sends its own API version (anthropic-version 2026-10-21
// for SDK v2) and the key as Authorization: Bearer, as that version
// documents. That version refuses temperature, top_p and top_k, so a
// stage's temperature is not sent to Anthropic.
type anthropicClient struct {
	vendorBase
	messages anthropic.MessageService
	models   anthropic.ModelService
}

var _ Client = (*anthropicClient)(nil)

func newAnthropic(raw json.RawMessage, opts Options) (*anthropicClient, error) {
	var cfg providers.KeyConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	base, err := vendorBaseURL(store.APITypeAnthropic, cfg.BaseURL, opts)
	if err != nil {
		return nil, err
	}
	// The services are built from these options alone: anthropic.NewClient
	// would add ANTHROPIC_* environment variables and profiles on disk.
	o := []option.RequestOption{
		option.WithBaseURL(base + "/"),
		option.WithHTTPClient(opts.HTTPClient),
		option.WithMaxRetries(0),
		option.WithAPIKey(cfg.APIKey),
	}
	return &anthropicClient{
		vendorBase: vendorBase{apiType: store.APITypeAnthropic, apiKey: cfg.APIKey, maxBytes: opts.MaxResponseBytes},
		messages:   anthropic.NewMessageService(o...),
		models:     anthropic.NewModelService(o...),
	}, nil
}

// Complete sends the system prompt as system and the rest as messages.
func (c *anthropicClient) Complete(ctx context.Context, req Request) (Response, error) {
	maxTokens := int64(DefaultAnthropicMaxTokens)
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		maxTokens = int64(*req.MaxTokens)
	}
	p := anthropic.MessageNewParams{Model: anthropic.Model(req.Model), MaxTokens: maxTokens}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			p.System = append(p.System, anthropic.TextBlockParam{Text: m.Content})
		case RoleAssistant:
			p.Messages = append(p.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock(m.Content)))
		default:
			p.Messages = append(p.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		}
	}
	resp, err := c.messages.New(ctx, p)
	if err != nil {
		return Response{}, c.fail(ctx, err)
	}
	var text strings.Builder
	for _, b := range resp.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	out := Response{
		Text:         text.String(),
		VendorReason: string(resp.StopReason),
		FinishReason: anthropicFinish(string(resp.StopReason)),
		Usage: Usage{
			PromptTokens:     int(resp.Usage.InputTokens + resp.Usage.CacheCreationInputTokens + resp.Usage.CacheReadInputTokens),
			CompletionTokens: int(resp.Usage.OutputTokens),
		},
	}
	if out.Text == "" {
		return out, fmt.Errorf("llm: anthropic: stop_reason %q: %w", resp.StopReason, ErrEmptyReply)
	}
	return out, nil
}

// anthropicFinish maps a stop_reason to a Finish constant.
func anthropicFinish(r string) string {
	switch r {
	case "end_turn", "stop_sequence":
		return FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return FinishLength
	case "refusal":
		return FinishContentFilter
	case "tool_use":
		return FinishToolCalls
	case "":
		return ""
	}
	return FinishOther
}

// ListModels lists the models of the account (GET /v1/models).
func (c *anthropicClient) ListModels(ctx context.Context) ([]ModelInfo, error) {
	page, err := c.models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(1000)})
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	out := make([]ModelInfo, 0, len(page.Data))
	for _, m := range page.Data {
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		out = append(out, ModelInfo{ID: m.ID, DisplayName: name})
	}
	return out, nil
}
