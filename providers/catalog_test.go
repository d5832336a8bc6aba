package providers

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"switchboard/store"
)

// TestCatalogMatchesValidation keeps the catalog true to the validation:
// every apiType is described, its fields are exactly the keys of its
// config (the JSON names of its Go type), a config with every field
// passes, one without each required field fails naming it, one with only
// the required fields passes, and the secret flags are the keys that are
// masked and sealed.
func TestCatalogMatchesValidation(t *testing.T) {
	// keyOnly is KeyConfig without OpenRouter's headers: the config of
	// every other KeyConfig apiType.
	type keyOnly struct {
		APIKey  string `json:"apiKey"`
		BaseURL string `json:"baseUrl"`
	}
	types := map[string]any{
		store.APITypeTwilioMessaging: TwilioConfig{},
		store.APITypeOpenAI:          OpenAIConfig{},
		store.APITypeOpenAILegacy:    OpenAIConfig{},
		store.APITypeOllama:          OllamaConfig{},
		store.APITypeScripted:        ScriptedConfig{},
		store.APITypeOpenRouter:      KeyConfig{},
	}
	for t := range llmVendors {
		if _, ok := types[t]; !ok {
			types[t] = keyOnly{}
		}
	}
	valid := map[string]any{
		"accountSid":          "AC0123456789abcdef0123456789abcdef",
		"authToken":           "0123456789abcdef0123456789abcdef",
		"fromNumber":          "+15551234567",
		"messagingServiceSid": "MG0123456789abcdef0123456789abcdef",
		"apiKeySid":           "SK0123456789abcdef0123456789abcdef",
		"apiKeySecret":        "keysecret0123456789",
		"apiBaseUrl":          "https://api.twilio.com",
		"apiKey":              "sk-test",
		"baseUrl":             "https://llm.example.com/v1",
		"organizationId":      "org-1",
		"httpReferer":         "https://shop.example.com",
		"xTitle":              "Shop assistant",
		"rules":               []map[string]string{{"match": "(?i)hello", "reply": "Hi {{.From}}"}},
		"defaultReply":        "You said: {{.Text}}",
	}
	kinds := Catalog()
	var names []string
	for _, k := range kinds {
		names = append(names, k.APIType)
	}
	if !slices.Equal(names, APITypes()) {
		t.Fatalf("catalog apiTypes %v, want %v", names, APITypes())
	}
	for _, k := range kinds {
		t.Run(k.APIType, func(t *testing.T) {
			if k.DisplayName == "" || k.Description == "" {
				t.Fatalf("no display name or description: %+v", k)
			}
			if pt, _ := ProviderTypeOf(k.APIType); k.ProviderType != pt {
				t.Fatalf("providerType %q, want %q", k.ProviderType, pt)
			}
			var keys, fields []string
			rt := reflect.TypeOf(types[k.APIType])
			for i := range rt.NumField() {
				keys = append(keys, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
			}
			full, required := map[string]any{}, map[string]any{}
			for _, f := range k.Fields {
				fields = append(fields, f.Name)
				if f.Description == "" || f.Type == "" {
					t.Errorf("field %s has no type or description", f.Name)
				}
				if f.Secret != slices.Contains(secretKeys, f.Name) {
					t.Errorf("field %s: secret = %v, want %v (the masked keys are %v)", f.Name, f.Secret, !f.Secret, secretKeys)
				}
				full[f.Name] = valid[f.Name]
				if f.Required || f.RequiredUnless != "" {
					required[f.Name] = valid[f.Name]
				}
			}
			slices.Sort(keys)
			slices.Sort(fields)
			if !slices.Equal(keys, fields) {
				t.Fatalf("fields %v, config keys %v", fields, keys)
			}
			mustValidate(t, k.APIType, full)
			for _, f := range k.Fields {
				if f.RequiredUnless != "" {
					// Optional once the other field is set.
					cfg := maps.Clone(required)
					delete(cfg, f.Name)
					cfg[f.RequiredUnless] = valid[f.RequiredUnless]
					mustValidate(t, k.APIType, cfg)
				}
			}
			mustValidate(t, k.APIType, required)
			for _, f := range k.Fields {
				if !f.Required && f.RequiredUnless == "" {
					continue
				}
				cfg := map[string]any{}
				for n, v := range required {
					if n != f.Name {
						cfg[n] = v
					}
				}
				raw, _ := json.Marshal(cfg)
				_, err := ValidateConfig(k.APIType, raw)
				if d, _ := store.ErrorDetails(err).(map[string]string); d["field"] != "config."+f.Name {
					t.Errorf("without required %s: error %v, want one naming config.%s", f.Name, err, f.Name)
				}
			}
		})
	}
}

func mustValidate(t *testing.T, apiType string, cfg map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	if _, err := ValidateConfig(apiType, raw); err != nil {
		t.Fatalf("%s config %s: %v", apiType, raw, err)
	}
}
