package providers

import "switchboard/store"

// KeyConfig is the config of the LLM apiTypes that take an API key and an
// optional base URL: anthropic, gemini, groq, mistral, deepseek,
// openrouter, together-ai, fireworks-ai, perplexity, cohere and xai
// (Bonsai's config shapes). HTTPReferer and XTitle are OpenRouter's
// optional ranking headers and are accepted for openrouter only.
// Gemini's baseUrl is Switchboard's addition (Bonsai's gemini config is
// {apiKey}); it exists for proxies and tests and Bonsai's console keeps
// it when it saves (KeepUnsentKeys).
type KeyConfig struct {
	APIKey      string `json:"apiKey"`
	BaseURL     string `json:"baseUrl,omitempty"`
	HTTPReferer string `json:"httpReferer,omitempty"`
	XTitle      string `json:"xTitle,omitempty"`
}

// LLMVendor describes one network LLM apiType: how Switchboard talks to
// it and where it sends requests when the config has no baseUrl.
type LLMVendor struct {
	APIType     string
	DisplayName string
	Description string
	// Dialect is the wire format: DialectResponses (OpenAI's Responses
	// API), DialectChat (OpenAI Chat Completions, also spoken by most
	// vendors), DialectAnthropic, DialectGemini or DialectOllama.
	Dialect string
	// DefaultBaseURL is the vendor's documented API base URL.
	DefaultBaseURL string
	// KeyRequired is false for ollama only (a local server needs no key).
	KeyRequired bool
	// Organization marks the OpenAI apiTypes, whose config has
	// organizationId.
	Organization bool
	// StaticModels is the model list of a vendor with no models endpoint
	// (perplexity), from Bonsai's catalog.
	StaticModels []string
}

// Wire formats of LLM vendors (LLMVendor.Dialect).
const (
	DialectResponses = "responses"
	DialectChat      = "chat"
	DialectAnthropic = "anthropic"
	DialectGemini    = "gemini"
	DialectOllama    = "ollama"
)

// llmVendors are the network LLM apiTypes, with Bonsai's display names and
// each vendor's documented default base URL (Bonsai's defaults).
var llmVendors = map[string]LLMVendor{
	store.APITypeOpenAI: {DisplayName: "OpenAI (New API)", Dialect: DialectResponses, DefaultBaseURL: "https://api.openai.com/v1", KeyRequired: true, Organization: true,
		Description: "OpenAI models through the Responses API"},
	store.APITypeOpenAILegacy: {DisplayName: "OpenAI (Legacy API)", Dialect: DialectChat, DefaultBaseURL: "https://api.openai.com/v1", KeyRequired: true, Organization: true,
		Description: "Any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, vLLM, LiteLLM, …)"},
	store.APITypeAnthropic: {DisplayName: "Anthropic", Dialect: DialectAnthropic, DefaultBaseURL: "https://api.anthropic.com", KeyRequired: true,
		Description: "Anthropic Claude models through the Messages API (API version of the official SDK, which takes no temperature)"},
	store.APITypeGemini: {DisplayName: "Google Gemini", Dialect: DialectGemini, DefaultBaseURL: "https://generativelanguage.googleapis.com/", KeyRequired: true,
		Description: "Google Gemini models through the Gemini API (generateContent)"},
	store.APITypeGroq: {DisplayName: "Groq", Dialect: DialectChat, DefaultBaseURL: "https://api.groq.com/openai/v1", KeyRequired: true,
		Description: "Groq's fast inference through its OpenAI-compatible API"},
	store.APITypeMistral: {DisplayName: "Mistral AI", Dialect: DialectChat, DefaultBaseURL: "https://api.mistral.ai/v1", KeyRequired: true,
		Description: "Mistral AI models through its chat completions API (a baseUrl without a path gets /v1)"},
	store.APITypeDeepSeek: {DisplayName: "DeepSeek", Dialect: DialectChat, DefaultBaseURL: "https://api.deepseek.com/v1", KeyRequired: true,
		Description: "DeepSeek models through their OpenAI-compatible API"},
	store.APITypeOpenRouter: {DisplayName: "OpenRouter", Dialect: DialectChat, DefaultBaseURL: "https://openrouter.ai/api/v1", KeyRequired: true,
		Description: "Models of many vendors through OpenRouter's OpenAI-compatible API"},
	store.APITypeTogetherAI: {DisplayName: "Together AI", Dialect: DialectChat, DefaultBaseURL: "https://api.together.xyz/v1", KeyRequired: true,
		Description: "Open-source models on Together AI through its OpenAI-compatible API"},
	store.APITypeFireworksAI: {DisplayName: "Fireworks AI", Dialect: DialectChat, DefaultBaseURL: "https://api.fireworks.ai/inference/v1", KeyRequired: true,
		Description: "Open-source models on Fireworks AI through its OpenAI-compatible API"},
	store.APITypePerplexity: {DisplayName: "Perplexity", Dialect: DialectChat, DefaultBaseURL: "https://api.perplexity.ai", KeyRequired: true,
		Description:  "Perplexity Sonar models (with web search) through their OpenAI-compatible API",
		StaticModels: []string{"sonar-pro", "sonar", "sonar-reasoning-pro", "sonar-reasoning", "sonar-deep-research", "r1-1776"}},
	store.APITypeCohere: {DisplayName: "Cohere", Dialect: DialectChat, DefaultBaseURL: "https://api.cohere.com/compatibility/v1", KeyRequired: true,
		Description: "Cohere Command models through Cohere's OpenAI compatibility API"},
	store.APITypeXAI: {DisplayName: "xAI (Grok)", Dialect: DialectChat, DefaultBaseURL: "https://api.x.ai/v1", KeyRequired: true,
		Description: "xAI Grok models through their OpenAI-compatible API"},
	store.APITypeOllama: {DisplayName: "Ollama", Dialect: DialectOllama, DefaultBaseURL: "http://127.0.0.1:11434",
		Description: "Self-hosted models through Ollama's chat API (a local server, or Ollama Cloud with an apiKey)"},
}

// Vendor returns the description of a network LLM apiType, and false for
// any other apiType (scripted, channels, unknown).
func Vendor(apiType string) (LLMVendor, bool) {
	v, ok := llmVendors[apiType]
	v.APIType = apiType
	return v, ok
}

// ParseKeyConfig validates and decodes the config of an apiType that takes
// KeyConfig: apiKey required, baseUrl optional (an absolute http(s) URL),
// httpReferer and xTitle for openrouter only; anything else is an unknown
// field.
func ParseKeyConfig(apiType string, raw []byte) (*KeyConfig, error) {
	o, err := newObject("config", raw)
	if err != nil {
		return nil, err
	}
	var c KeyConfig
	if c.APIKey, err = o.str("apiKey", true); err != nil {
		return nil, err
	}
	if c.BaseURL, err = o.url("baseUrl"); err != nil {
		return nil, err
	}
	if apiType == store.APITypeOpenRouter {
		if c.HTTPReferer, err = o.str("httpReferer", false); err != nil {
			return nil, err
		}
		if c.XTitle, err = o.str("xTitle", false); err != nil {
			return nil, err
		}
	}
	if err := o.done(); err != nil {
		return nil, err
	}
	return &c, nil
}
