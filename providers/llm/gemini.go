package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/genai"

	"switchboard/providers"
	"switchboard/store"
)

// geminiClient talks to the Gemini API (generateContent) through Google's
// genai SDK, with the key in the x-goog-api-key header. The backend, the
// key and the base URL are always set explicitly, so the SDK's
// environment variables (GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_API_KEY,
// GOOGLE_GEMINI_BASE_URL) never change where a provider's key goes.
type geminiClient struct {
	vendorBase
	client *genai.Client
}

var _ Client = (*geminiClient)(nil)

func newGemini(raw json.RawMessage, opts Options) (*geminiClient, error) {
	var cfg providers.KeyConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, store.FieldError("config.apiKey", "required")
	}
	base, err := vendorBaseURL(store.APITypeGemini, cfg.BaseURL, opts)
	if err != nil {
		return nil, err
	}
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  opts.HTTPClient,
		HTTPOptions: genai.HTTPOptions{BaseURL: base + "/"},
	})
	if err != nil {
		return nil, store.FieldError("config", "%s", scrubKey(err.Error(), cfg.APIKey))
	}
	return &geminiClient{
		vendorBase: vendorBase{apiType: store.APITypeGemini, apiKey: cfg.APIKey, maxBytes: opts.MaxResponseBytes},
		client:     c,
	}, nil
}

// Complete sends the system prompt as the system instruction and the rest
// as user and model contents.
func (c *geminiClient) Complete(ctx context.Context, req Request) (Response, error) {
	cfg := &genai.GenerateContentConfig{}
	var system []string
	var contents []*genai.Content
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			system = append(system, m.Content)
		case RoleAssistant:
			contents = append(contents, genai.NewContentFromText(m.Content, genai.RoleModel))
		default:
			contents = append(contents, genai.NewContentFromText(m.Content, genai.RoleUser))
		}
	}
	if len(system) > 0 {
		cfg.SystemInstruction = genai.NewContentFromText(strings.Join(system, "\n\n"), genai.RoleUser)
	}
	if req.Temperature != nil {
		t := float32(*req.Temperature)
		cfg.Temperature = &t
	}
	if req.MaxTokens != nil {
		cfg.MaxOutputTokens = int32(*req.MaxTokens)
	}
	resp, err := c.client.Models.GenerateContent(ctx, req.Model, contents, cfg)
	if err != nil {
		return Response{}, c.fail(ctx, err)
	}
	var text strings.Builder
	var out Response
	if len(resp.Candidates) > 0 {
		cand := resp.Candidates[0]
		out.VendorReason = string(cand.FinishReason)
		out.FinishReason = geminiFinish(cand.FinishReason)
		if cand.Content != nil {
			for _, part := range cand.Content.Parts {
				if part != nil && !part.Thought {
					text.WriteString(part.Text)
				}
			}
		}
	} else if resp.PromptFeedback != nil {
		out.VendorReason = "blocked: " + string(resp.PromptFeedback.BlockReason)
		out.FinishReason = FinishContentFilter
	}
	if u := resp.UsageMetadata; u != nil {
		out.Usage = Usage{PromptTokens: int(u.PromptTokenCount), CompletionTokens: int(u.CandidatesTokenCount + u.ThoughtsTokenCount)}
	}
	out.Text = text.String()
	if out.Text == "" {
		return out, fmt.Errorf("llm: gemini: finish_reason %q: %w", out.VendorReason, ErrEmptyReply)
	}
	return out, nil
}

// geminiFinish maps a candidate's finishReason to a Finish constant.
func geminiFinish(r genai.FinishReason) string {
	switch r {
	case genai.FinishReasonStop:
		return FinishStop
	case genai.FinishReasonMaxTokens:
		return FinishLength
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety:
		return FinishContentFilter
	case "", genai.FinishReasonUnspecified:
		return ""
	}
	return FinishOther
}

// ListModels lists the models that can generate content (GET
// /v1beta/models), without their "models/" prefix.
func (c *geminiClient) ListModels(ctx context.Context) ([]ModelInfo, error) {
	page, err := c.client.Models.List(ctx, &genai.ListModelsConfig{PageSize: 1000})
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	out := []ModelInfo{}
	for _, m := range page.Items {
		if m == nil {
			continue
		}
		generates := len(m.SupportedActions) == 0
		for _, a := range m.SupportedActions {
			generates = generates || a == "generateContent"
		}
		if !generates {
			continue
		}
		id := strings.TrimPrefix(m.Name, "models/")
		name := m.DisplayName
		if name == "" {
			name = id
		}
		out = append(out, ModelInfo{ID: id, DisplayName: name, Description: m.Description, ContextWindow: int(m.InputTokenLimit)})
	}
	return out, nil
}
