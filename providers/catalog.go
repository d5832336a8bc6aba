package providers

import "switchboard/store"

// Field describes one key of a provider config, for the provider catalog
// (GET /api/provider-catalog), so that a client can build a form without
// knowing Switchboard's validation. The validation itself stays in the
// Parse functions; TestCatalogMatchesValidation keeps the two in step.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // string, url, array or template
	Required bool   `json:"required"`
	// RequiredUnless names the field that, when set, makes this one
	// optional (Twilio's fromNumber, unless messagingServiceSid is set).
	RequiredUnless string `json:"requiredUnless,omitempty"`
	Secret         bool   `json:"secret"` // masked when read back, sealed at rest
	Description    string `json:"description"`
	Default        string `json:"default,omitempty"`
}

// Kind describes one apiType Switchboard accepts.
type Kind struct {
	APIType      string
	ProviderType string // llm or channel
	DisplayName  string
	Description  string
	// Features are what a channel supports (Bonsai's channel entries
	// list them).
	Features []string
	Fields   []Field
}

// Catalog returns every apiType Switchboard accepts, in APITypes order,
// with its config fields.
func Catalog() []Kind {
	kinds := map[string]Kind{
		store.APITypeTwilioMessaging: {
			DisplayName: "Twilio Messaging",
			Description: "Twilio Messaging API for SMS and WhatsApp text conversations: Switchboard answers its webhook and sends replies through its REST API",
			Features:    []string{"SMS", "WhatsApp", "Webhook signature validation", "Inbound/outbound text messages", "Delivery status callbacks"},
			Fields: []Field{
				{Name: "accountSid", Type: "string", Required: true, Description: `Twilio Account SID: "AC" followed by 32 hex digits`},
				{Name: "authToken", Type: "string", Required: true, Secret: true, Description: "Twilio Auth Token (letters and digits); checks webhook signatures, and authenticates sends unless an API key is set"},
				{Name: "fromNumber", Type: "string", RequiredUnless: "messagingServiceSid", Description: "the number texts are received on and replies sent from: E.164 (+15551234567) or whatsapp:+E.164; required unless messagingServiceSid is set"},
				{Name: "apiBaseUrl", Type: "url", Description: "Twilio REST base URL for this provider (tests, the phone emulator); subject to PROVIDER_URL_ALLOWLIST", Default: "TWILIO_API_BASE_URL (https://api.twilio.com)"},
				{Name: "messagingServiceSid", Type: "string", Description: `Twilio Messaging Service SID ("MG" followed by 32 hex digits): replies go out from the number the user texted, through the service; a send with no such number (none texted) lets the service pick the sender`},
				{Name: "apiKeySid", Type: "string", Description: `Twilio API key SID ("SK" followed by 32 hex digits); with apiKeySecret, authenticates REST calls instead of the auth token`},
				{Name: "apiKeySecret", Type: "string", Secret: true, Description: "the API key's secret (letters and digits); required with apiKeySid"},
			},
		},
		store.APITypeOpenAILegacy: {
			DisplayName: "OpenAI (Legacy API)",
			Description: "Any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, vLLM, LiteLLM, …); the model is chosen in the stage's llmSettings",
			Fields: []Field{
				{Name: "apiKey", Type: "string", Required: true, Secret: true, Description: "API key, sent as a bearer token"},
				{Name: "baseUrl", Type: "url", Description: "Chat Completions base URL; subject to PROVIDER_URL_ALLOWLIST", Default: "https://api.openai.com/v1"},
				{Name: "organizationId", Type: "string", Description: "OpenAI organization id (OpenAI-Organization header)"},
			},
		},
		store.APITypeOllama: {
			DisplayName: "Ollama",
			Description: "Self-hosted models through Ollama's chat API; the model is chosen in the stage's llmSettings",
			Fields: []Field{
				{Name: "baseUrl", Type: "url", Description: "Ollama base URL; subject to PROVIDER_URL_ALLOWLIST", Default: "http://127.0.0.1:11434"},
				{Name: "apiKey", Type: "string", Secret: true, Description: "API key, sent as a bearer token (Ollama Cloud, or a proxy in front of Ollama)"},
			},
		},
		store.APITypeScripted: {
			DisplayName: "Scripted (offline)",
			Description: "Switchboard's built-in offline LLM: replies from regular-expression rules and templates, for demos and tests without a model",
			Fields: []Field{
				{Name: "rules", Type: "array", Description: "rules tried in order: {match: a Go regular expression, reply: a template like defaultReply}; the first whose match matches the text answers"},
				{Name: "defaultReply", Type: "template", Description: "the reply when no rule matches: a Go text/template with {{.Text}}, {{.Turn}}, {{.From}} and {{.ConversationID}}", Default: DefaultScriptedReply},
			},
		},
	}
	var out []Kind
	for _, t := range APITypes() {
		k := kinds[t]
		k.APIType = t
		k.ProviderType, _ = ProviderTypeOf(t)
		out = append(out, k)
	}
	return out
}
