package providers

import (
	"encoding/json"
	"testing"

	"switchboard/store"
)

// TestBonsaiLLMConfigs accepts every Bonsai LLM apiType with the config
// shape Bonsai stores for it, and refuses what Bonsai's strict schemas
// refuse: a missing apiKey, another apiType's keys.
func TestBonsaiLLMConfigs(t *testing.T) {
	ok := map[string]string{
		store.APITypeOpenAI:       `{"apiKey":"sk-1","organizationId":"org-1","baseUrl":"https://api.openai.com/v1"}`,
		store.APITypeOpenAILegacy: `{"apiKey":"sk-1"}`,
		store.APITypeAnthropic:    `{"apiKey":"sk-ant-1","baseUrl":"https://api.anthropic.com"}`,
		store.APITypeGemini:       `{"apiKey":"AIza-1"}`,
		store.APITypeGroq:         `{"apiKey":"gsk-1"}`,
		store.APITypeMistral:      `{"apiKey":"m-1","baseUrl":"https://api.mistral.ai"}`,
		store.APITypeDeepSeek:     `{"apiKey":"d-1"}`,
		store.APITypeOpenRouter:   `{"apiKey":"or-1","httpReferer":"https://shop.example.com","xTitle":"Shop"}`,
		store.APITypeTogetherAI:   `{"apiKey":"t-1"}`,
		store.APITypeFireworksAI:  `{"apiKey":"f-1"}`,
		store.APITypePerplexity:   `{"apiKey":"p-1"}`,
		store.APITypeCohere:       `{"apiKey":"c-1"}`,
		store.APITypeXAI:          `{"apiKey":"x-1"}`,
		store.APITypeOllama:       `{}`,
	}
	for apiType, cfg := range ok {
		if pt, known := ProviderTypeOf(apiType); !known || pt != store.ProviderTypeLLM {
			t.Errorf("%s: providerType %q, known %v", apiType, pt, known)
		}
		out, err := ValidateConfig(apiType, json.RawMessage(cfg))
		if err != nil {
			t.Errorf("%s %s: %v", apiType, cfg, err)
			continue
		}
		var a, b map[string]any
		json.Unmarshal(out, &a)
		json.Unmarshal([]byte(cfg), &b)
		if len(a) != len(b) {
			t.Errorf("%s: normalised %s from %s", apiType, out, cfg)
		}
	}
	bad := []struct{ apiType, cfg, field string }{
		{store.APITypeAnthropic, `{}`, "config.apiKey"},
		{store.APITypeGemini, `{"apiKey":" "}`, "config.apiKey"},
		{store.APITypeGroq, `{"apiKey":"k","httpReferer":"https://x.example"}`, "config.httpReferer"},
		{store.APITypeAnthropic, `{"apiKey":"k","organizationId":"org"}`, "config.organizationId"},
		{store.APITypeXAI, `{"apiKey":"k","baseUrl":"ftp://x.example"}`, "config.baseUrl"},
		{store.APITypeOpenAI, `{"organizationId":"org"}`, "config.apiKey"},
	}
	for _, c := range bad {
		_, err := ValidateConfig(c.apiType, json.RawMessage(c.cfg))
		if d, _ := store.ErrorDetails(err).(map[string]string); d["field"] != c.field {
			t.Errorf("%s %s: error %v, want one naming %s", c.apiType, c.cfg, err, c.field)
		}
	}
}

// TestGeminiBaseURLKeptOverConsoleSave: Bonsai's console saves a gemini
// provider as {apiKey} (masked); Switchboard's baseUrl stays, and the
// masked key is restored because the destination did not change.
func TestGeminiBaseURLKeptOverConsoleSave(t *testing.T) {
	prev := json.RawMessage(`{"apiKey":"AIzaSyExampleKey0123","baseUrl":"https://gemini-proxy.example.com/"}`)
	sent := json.RawMessage(`{"apiKey":"` + MaskSecret("AIzaSyExampleKey0123") + `"}`)
	next := KeepUnsentKeys(store.APITypeGemini, sent, prev)
	got, err := RestoreSecrets(next, prev)
	if err != nil {
		t.Fatal(err)
	}
	var c KeyConfig
	json.Unmarshal(got, &c)
	if c.APIKey != "AIzaSyExampleKey0123" || c.BaseURL != "https://gemini-proxy.example.com/" {
		t.Fatalf("config after a console save: %s", got)
	}
}
