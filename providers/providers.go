// Package providers holds the typed configurations of provider records
// (store.Provider.Config) for each apiType, and their strict validation.
package providers

// TwilioConfig is the config of a channel provider with apiType
// twilio_messaging.
type TwilioConfig struct {
	AccountSID string `json:"accountSid"` // "AC" + 32 hex digits
	AuthToken  string `json:"authToken"`
	FromNumber string `json:"fromNumber,omitempty"` // E.164 or whatsapp:+E.164; required unless MessagingServiceSID is set
	APIBaseURL string `json:"apiBaseUrl,omitempty"` // overrides TWILIO_API_BASE_URL (tests, emulator)
	// MessagingServiceSID ("MG…") sends through a Twilio Messaging
	// Service: replies carry it, with From the number the user texted
	// when there is one (Twilio then sends from that number and applies
	// the service's features), alone otherwise (the service picks the
	// sender). Inbound messages to any number of the service reach the
	// provider's webhook and are keyed by the number texted.
	MessagingServiceSID string `json:"messagingServiceSid,omitempty"`
	// APIKeySID and APIKeySecret, set together or not at all, are a Twilio
	// API key ("SK…") that authenticates REST calls instead of the auth
	// token, as Twilio recommends: a key can be revoked on its own, without
	// rotating the token that also signs webhooks. AuthToken still checks
	// webhook and status callback signatures.
	APIKeySID    string `json:"apiKeySid,omitempty"`
	APIKeySecret string `json:"apiKeySecret,omitempty"`
}

// OpenAIConfig is the config of an LLM provider with apiType openai (the
// Responses API) or openai-legacy (any OpenAI-compatible Chat Completions
// endpoint).
type OpenAIConfig struct {
	APIKey         string `json:"apiKey"`
	BaseURL        string `json:"baseUrl,omitempty"` // default https://api.openai.com/v1
	OrganizationID string `json:"organizationId,omitempty"`
}

// OllamaConfig is the config of an LLM provider with apiType ollama.
type OllamaConfig struct {
	BaseURL string `json:"baseUrl,omitempty"` // default http://127.0.0.1:11434
	APIKey  string `json:"apiKey,omitempty"`
}

// ScriptedRule answers a text matching the Go regexp Match with the
// text/template Reply.
type ScriptedRule struct {
	Match string `json:"match"`
	Reply string `json:"reply"`
}

// ScriptedConfig is the config of the built-in offline LLM provider with
// apiType scripted: the first matching rule wins, else DefaultReply
// (default "You said: {{.Text}}").
type ScriptedConfig struct {
	Rules        []ScriptedRule `json:"rules,omitempty"`
	DefaultReply *string        `json:"defaultReply,omitempty"`
}

// DefaultScriptedReply is the reply template of a scripted provider with no
// defaultReply.
const DefaultScriptedReply = "You said: {{.Text}}"
