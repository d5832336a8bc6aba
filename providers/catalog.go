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
		store.APITypeScripted: {
			DisplayName: "Scripted (offline)",
			Description: "Switchboard's built-in offline LLM: replies from regular-expression rules and templates, for demos and tests without a model",
			Fields: []Field{
				{Name: "rules", Type: "array", Description: "rules tried in order: {match: a Go regular expression, reply: a template like defaultReply}; the first whose match matches the text answers"},
				{Name: "defaultReply", Type: "template", Description: "the reply when no rule matches: a Go text/template with {{.Text}}, {{.Turn}}, {{.From}} and {{.ConversationID}}", Default: DefaultScriptedReply},
			},
		},
	}
	for t, v := range llmVendors {
		kinds[t] = Kind{DisplayName: v.DisplayName, Description: v.Description + "; the model is chosen in the stage's llmSettings", Fields: llmFields(t, v)}
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

// llmFields are the config fields of a network LLM apiType.
func llmFields(apiType string, v LLMVendor) []Field {
	baseURL := Field{Name: "baseUrl", Type: "url", Default: v.DefaultBaseURL,
		Description: "API base URL, for a proxy or a compatible server; subject to PROVIDER_URL_ALLOWLIST"}
	switch apiType {
	case store.APITypeOllama:
		baseURL.Description = "Ollama base URL (https://ollama.com for Ollama Cloud); subject to PROVIDER_URL_ALLOWLIST"
		return []Field{baseURL,
			{Name: "apiKey", Type: "string", Secret: true, Description: "API key, sent as a bearer token (Ollama Cloud, or a proxy in front of Ollama)"}}
	case store.APITypeGemini:
		baseURL.Description = "Gemini API base URL, for a proxy (Switchboard's addition: Bonsai's gemini config has apiKey only); subject to PROVIDER_URL_ALLOWLIST"
	case store.APITypeMistral:
		baseURL.Description += " (a URL without a path gets /v1, as Mistral's own SDK's server URL does)"
	}
	auth := "sent as a bearer token"
	switch v.Dialect {
	case DialectAnthropic:
		auth = "sent as the official SDK sends it (Authorization: Bearer, with its anthropic-version)"
	case DialectGemini:
		auth = "sent in the x-goog-api-key header"
	}
	fields := []Field{{Name: "apiKey", Type: "string", Required: true, Secret: true, Description: v.DisplayName + " API key, " + auth}, baseURL}
	if v.Organization {
		fields = append(fields, Field{Name: "organizationId", Type: "string", Description: "OpenAI organization id (OpenAI-Organization header)"})
	}
	if apiType == store.APITypeOpenRouter {
		fields = append(fields,
			Field{Name: "httpReferer", Type: "string", Description: "HTTP-Referer header sent to OpenRouter (its app rankings)"},
			Field{Name: "xTitle", Type: "string", Description: "X-Title header sent to OpenRouter (its app rankings)"})
	}
	return fields
}
