package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"switchboard/providers"
	"switchboard/store"
)

// DefaultOpenAIBaseURL is the base URL of an openai or openai-legacy
// provider with no baseUrl.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

// openAIOptions are the request options of every client built on
// openai-go: the base URL, the key as a bearer token, Switchboard's HTTP
// client (destination policy, retry policy, response cap) and the SDK's
// own retries off. The services are built from these options alone, not
// with openai.NewClient, which would add OPENAI_* environment variables
// (a key, an organization, a base URL) to requests meant for another
// vendor.
func openAIOptions(base, key string, opts Options, extra ...option.RequestOption) []option.RequestOption {
	o := []option.RequestOption{
		option.WithBaseURL(base + "/"),
		option.WithHTTPClient(opts.HTTPClient),
		option.WithMaxRetries(0),
	}
	if key != "" {
		o = append(o, option.WithAPIKey(key))
	}
	return append(o, extra...)
}

// chatClient speaks OpenAI's Chat Completions dialect: openai-legacy and
// every OpenAI-compatible vendor (groq, mistral, deepseek, openrouter,
// together-ai, fireworks-ai, perplexity, cohere's compatibility API, xai).
type chatClient struct {
	vendorBase
	chat   openai.ChatCompletionService
	models openai.ModelService
	// completionTokens sends max_completion_tokens, which OpenAI's own
	// API wants (its reasoning models refuse max_tokens); compatible
	// servers get max_tokens, which they all read.
	completionTokens bool
	// static is the model list of a vendor with no models endpoint.
	static []string
}

var _ Client = (*chatClient)(nil)

func newChat(apiType string, raw json.RawMessage, opts Options) (*chatClient, error) {
	var key, baseURL string
	var extra []option.RequestOption
	if apiType == store.APITypeOpenAILegacy {
		var cfg providers.OpenAIConfig
		if err := decodeConfig(raw, &cfg); err != nil {
			return nil, err
		}
		key, baseURL = cfg.APIKey, cfg.BaseURL
		if cfg.OrganizationID != "" {
			extra = append(extra, option.WithOrganization(cfg.OrganizationID))
		}
	} else {
		var cfg providers.KeyConfig
		if err := decodeConfig(raw, &cfg); err != nil {
			return nil, err
		}
		key, baseURL = cfg.APIKey, cfg.BaseURL
		if cfg.HTTPReferer != "" {
			extra = append(extra, option.WithHeader("HTTP-Referer", cfg.HTTPReferer))
		}
		if cfg.XTitle != "" {
			extra = append(extra, option.WithHeader("X-Title", cfg.XTitle))
		}
	}
	base, err := vendorBaseURL(apiType, baseURL, opts)
	if err != nil {
		return nil, err
	}
	if apiType == store.APITypeMistral {
		base = mistralBase(base)
	}
	o := openAIOptions(base, key, opts, extra...)
	v, _ := providers.Vendor(apiType)
	return &chatClient{
		vendorBase:       vendorBase{apiType: apiType, apiKey: key, maxBytes: opts.MaxResponseBytes},
		chat:             openai.NewChatCompletionService(o...),
		models:           openai.NewModelService(o...),
		completionTokens: apiType == store.APITypeOpenAILegacy && base == DefaultOpenAIBaseURL,
		static:           v.StaticModels,
	}, nil
}

// mistralBase adds /v1 to a Mistral base URL without a path: Bonsai uses
// Mistral's own SDK, whose server URL (https://api.mistral.ai) has none.
func mistralBase(base string) string {
	if u, err := url.Parse(base); err == nil && strings.Trim(u.Path, "/") == "" {
		return strings.TrimRight(base, "/") + "/v1"
	}
	return base
}

// chatMessages converts the turn to Chat Completions messages.
func chatMessages(msgs []Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(msgs))
	for _, m := range msgs {
		switch m.Role {
		case RoleSystem:
			out = append(out, openai.SystemMessage(m.Content))
		case RoleAssistant:
			out = append(out, openai.AssistantMessage(m.Content))
		default:
			out = append(out, openai.UserMessage(m.Content))
		}
	}
	return out
}

// Complete posts the chat and returns the first choice's content.
func (c *chatClient) Complete(ctx context.Context, req Request) (Response, error) {
	p := openai.ChatCompletionNewParams{Model: req.Model, Messages: chatMessages(req.Messages)}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens != nil {
		if c.completionTokens {
			p.MaxCompletionTokens = openai.Int(int64(*req.MaxTokens))
		} else {
			p.MaxTokens = openai.Int(int64(*req.MaxTokens))
		}
	}
	resp, err := c.chat.New(ctx, p)
	if err != nil {
		return Response{}, c.fail(ctx, err)
	}
	out := Response{Usage: Usage{PromptTokens: int(resp.Usage.PromptTokens), CompletionTokens: int(resp.Usage.CompletionTokens)}}
	if len(resp.Choices) == 0 {
		return out, fmt.Errorf("llm: %s: response has no choices", c.apiType)
	}
	ch := resp.Choices[0]
	out.Text, out.Refusal, out.VendorReason = ch.Message.Content, ch.Message.Refusal, ch.FinishReason
	switch ch.FinishReason {
	case "stop":
		out.FinishReason = FinishStop
	case "length":
		out.FinishReason = FinishLength
	case "content_filter":
		out.FinishReason = FinishContentFilter
	case "tool_calls", "function_call":
		out.FinishReason = FinishToolCalls
	case "":
	default:
		out.FinishReason = FinishOther
	}
	if out.Refusal != "" {
		out.FinishReason = FinishContentFilter
	}
	if out.Text == "" {
		if out.Refusal != "" {
			return out, fmt.Errorf("llm: %s: refusal %q: %w", c.apiType, truncate(out.Refusal, maxErrorMessage), ErrEmptyReply)
		}
		return out, fmt.Errorf("llm: %s: finish_reason %q: %w", c.apiType, ch.FinishReason, ErrEmptyReply)
	}
	return out, nil
}

// ListModels lists the vendor's models (GET /models), or its static list.
func (c *chatClient) ListModels(ctx context.Context) ([]ModelInfo, error) {
	if c.static != nil {
		return namedModels(c.static), nil
	}
	return listOpenAIModels(ctx, &c.vendorBase, c.models)
}

func listOpenAIModels(ctx context.Context, b *vendorBase, svc openai.ModelService) ([]ModelInfo, error) {
	page, err := svc.List(ctx)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	out := make([]ModelInfo, 0, len(page.Data))
	for _, m := range page.Data {
		out = append(out, ModelInfo{ID: m.ID, DisplayName: m.ID})
	}
	return out, nil
}

// responsesClient speaks OpenAI's Responses API (apiType openai). The
// conversation is not stored at OpenAI (store: false): Switchboard sends
// the history itself on every turn.
type responsesClient struct {
	vendorBase
	responses responses.ResponseService
	models    openai.ModelService
}

var _ Client = (*responsesClient)(nil)

func newResponses(raw json.RawMessage, opts Options) (*responsesClient, error) {
	var cfg providers.OpenAIConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	base, err := vendorBaseURL(store.APITypeOpenAI, cfg.BaseURL, opts)
	if err != nil {
		return nil, err
	}
	var extra []option.RequestOption
	if cfg.OrganizationID != "" {
		extra = append(extra, option.WithOrganization(cfg.OrganizationID))
	}
	o := openAIOptions(base, cfg.APIKey, opts, extra...)
	return &responsesClient{
		vendorBase: vendorBase{apiType: store.APITypeOpenAI, apiKey: cfg.APIKey, maxBytes: opts.MaxResponseBytes},
		responses:  responses.NewResponseService(o...),
		models:     openai.NewModelService(o...),
	}, nil
}

// Complete creates a response and returns its output text.
func (c *responsesClient) Complete(ctx context.Context, req Request) (Response, error) {
	input := make(responses.ResponseInputParam, 0, len(req.Messages))
	for _, m := range req.Messages {
		role := responses.EasyInputMessageRoleUser
		switch m.Role {
		case RoleSystem:
			role = responses.EasyInputMessageRoleSystem
		case RoleAssistant:
			role = responses.EasyInputMessageRoleAssistant
		}
		input = append(input, responses.ResponseInputItemParamOfMessage(m.Content, role))
	}
	p := responses.ResponseNewParams{
		Model: req.Model,
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
		Store: openai.Bool(false),
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens != nil {
		p.MaxOutputTokens = openai.Int(int64(*req.MaxTokens))
	}
	resp, err := c.responses.New(ctx, p)
	if err != nil {
		return Response{}, c.fail(ctx, err)
	}
	out := Response{
		Usage:        Usage{PromptTokens: int(resp.Usage.InputTokens), CompletionTokens: int(resp.Usage.OutputTokens)},
		VendorReason: string(resp.Status),
	}
	switch {
	case resp.Status == "incomplete" && resp.IncompleteDetails.Reason == "max_output_tokens":
		out.FinishReason, out.VendorReason = FinishLength, resp.IncompleteDetails.Reason
	case resp.Status == "incomplete" && resp.IncompleteDetails.Reason == "content_filter":
		out.FinishReason, out.VendorReason = FinishContentFilter, resp.IncompleteDetails.Reason
	case resp.Status == "completed":
		out.FinishReason = FinishStop
	case resp.Status != "":
		out.FinishReason = FinishOther
	}
	var text, refusal strings.Builder
	for _, item := range resp.Output {
		if item.Type != "message" {
			continue
		}
		for _, part := range item.Content {
			switch part.Type {
			case "output_text":
				text.WriteString(part.Text)
			case "refusal":
				refusal.WriteString(part.Refusal)
			}
		}
	}
	out.Text, out.Refusal = text.String(), refusal.String()
	if out.Refusal != "" {
		out.FinishReason = FinishContentFilter
	}
	if out.Text == "" {
		if out.Refusal != "" {
			return out, fmt.Errorf("llm: openai: refusal %q: %w", truncate(out.Refusal, maxErrorMessage), ErrEmptyReply)
		}
		if resp.Error.Message != "" {
			return out, fmt.Errorf("llm: openai: status %q: %s: %w", resp.Status, scrubKey(resp.Error.Message, c.apiKey), ErrEmptyReply)
		}
		return out, fmt.Errorf("llm: openai: status %q, incomplete %q: %w", resp.Status, resp.IncompleteDetails.Reason, ErrEmptyReply)
	}
	return out, nil
}

// ListModels lists the account's models (GET /models).
func (c *responsesClient) ListModels(ctx context.Context) ([]ModelInfo, error) {
	return listOpenAIModels(ctx, &c.vendorBase, c.models)
}
