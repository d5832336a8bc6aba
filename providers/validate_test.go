package providers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"switchboard/store"
)

const sid = "AC0123456789abcdef0123456789abcdef"

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name      string
		apiType   string
		config    string
		wantField string // "" = valid
		want      string // normalised JSON when valid
	}{
		// twilio_messaging
		{"twilio ok", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"+15551234567"}`, "",
			`{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"+15551234567"}`},
		{"twilio whatsapp and base url", "twilio_messaging", `{"fromNumber":"whatsapp:+15551234567","accountSid":"` + sid + `","authToken":"tok","apiBaseUrl":"http://127.0.0.1:8080"}`, "",
			`{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"whatsapp:+15551234567","apiBaseUrl":"http://127.0.0.1:8080"}`},
		{"twilio null base url dropped", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"+15551234567","apiBaseUrl":null}`, "",
			`{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"+15551234567"}`},
		{"twilio sid missing", "twilio_messaging", `{"authToken":"tok","fromNumber":"+15551234567"}`, "config.accountSid", ""},
		{"twilio sid short", "twilio_messaging", `{"accountSid":"AC0123","authToken":"tok","fromNumber":"+15551234567"}`, "config.accountSid", ""},
		{"twilio sid wrong prefix", "twilio_messaging", `{"accountSid":"SK0123456789abcdef0123456789abcdef","authToken":"tok","fromNumber":"+15551234567"}`, "config.accountSid", ""},
		{"twilio sid not hex", "twilio_messaging", `{"accountSid":"AC0123456789abcdef0123456789abcdeg","authToken":"tok","fromNumber":"+15551234567"}`, "config.accountSid", ""},
		{"twilio sid wrong type", "twilio_messaging", `{"accountSid":42,"authToken":"tok","fromNumber":"+15551234567"}`, "config.accountSid", ""},
		{"twilio token empty", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"","fromNumber":"+15551234567"}`, "config.authToken", ""},
		{"twilio token missing", "twilio_messaging", `{"accountSid":"` + sid + `","fromNumber":"+15551234567"}`, "config.authToken", ""},
		{"twilio from no plus", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"15551234567"}`, "config.fromNumber", ""},
		{"twilio from leading zero", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+05551234567"}`, "config.fromNumber", ""},
		{"twilio from too long", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+1234567890123456"}`, "config.fromNumber", ""},
		{"twilio from wrong channel prefix", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"messenger:+15551234567"}`, "config.fromNumber", ""},
		{"twilio from number type", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":15551234567}`, "config.fromNumber", ""},
		{"twilio base url relative", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+15551234567","apiBaseUrl":"/x"}`, "config.apiBaseUrl", ""},
		{"twilio base url ftp", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+15551234567","apiBaseUrl":"ftp://h"}`, "config.apiBaseUrl", ""},
		{"twilio unknown key", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+15551234567","region":"us1"}`, "config.region", ""},
		{"twilio two unknown keys", "twilio_messaging", `{"accountSid":"` + sid + `","authToken":"t","fromNumber":"+15551234567","zz":1,"aa":2}`, "config.aa", ""},
		{"twilio config not object", "twilio_messaging", `["x"]`, "config", ""},
		{"twilio config empty", "twilio_messaging", ``, "config.accountSid", ""},

		// openai-legacy
		{"openai ok", "openai-legacy", `{"apiKey":"sk-1","baseUrl":"https://api.openai.com/v1","organizationId":"org"}`, "",
			`{"apiKey":"sk-1","baseUrl":"https://api.openai.com/v1","organizationId":"org"}`},
		{"openai minimal", "openai-legacy", `{"apiKey":"sk-1"}`, "", `{"apiKey":"sk-1"}`},
		{"openai no key", "openai-legacy", `{"baseUrl":"https://x"}`, "config.apiKey", ""},
		{"openai bad url", "openai-legacy", `{"apiKey":"k","baseUrl":"not a url"}`, "config.baseUrl", ""},
		{"openai org type", "openai-legacy", `{"apiKey":"k","organizationId":true}`, "config.organizationId", ""},
		{"openai unknown", "openai-legacy", `{"apiKey":"k","model":"gpt"}`, "config.model", ""},

		// ollama
		{"ollama empty", "ollama", `{}`, "", `{}`},
		{"ollama null", "ollama", `null`, "", `{}`},
		{"ollama ok", "ollama", `{"baseUrl":"http://127.0.0.1:11434","apiKey":"x"}`, "", `{"baseUrl":"http://127.0.0.1:11434","apiKey":"x"}`},
		{"ollama bad url", "ollama", `{"baseUrl":"localhost:11434"}`, "config.baseUrl", ""},
		{"ollama key type", "ollama", `{"apiKey":1}`, "config.apiKey", ""},

		// scripted
		{"scripted empty", "scripted", `{}`, "", `{}`},
		{"scripted ok", "scripted", `{"rules":[{"match":"(?i)^hi","reply":"Hello {{.From}}"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`, "",
			`{"rules":[{"match":"(?i)^hi","reply":"Hello {{.From}}"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`},
		{"scripted empty default kept", "scripted", `{"defaultReply":""}`, "", `{"defaultReply":""}`},
		{"scripted bad regexp", "scripted", `{"rules":[{"match":"(","reply":"x"}]}`, "config.rules[0].match", ""},
		{"scripted bad reply template", "scripted", `{"rules":[{"match":"a","reply":"ok"},{"match":"b","reply":"{{.Text"}]}`, "config.rules[1].reply", ""},
		{"scripted bad default template", "scripted", `{"defaultReply":"{{if}}"}`, "config.defaultReply", ""},
		{"scripted default type", "scripted", `{"defaultReply":5}`, "config.defaultReply", ""},
		{"scripted rules type", "scripted", `{"rules":{"match":"a"}}`, "config.rules", ""},
		{"scripted rule null", "scripted", `{"rules":[null]}`, "config.rules[0]", ""},
		{"scripted rule missing reply", "scripted", `{"rules":[{"match":"a"}]}`, "config.rules[0].reply", ""},
		{"scripted rule unknown key", "scripted", `{"rules":[{"match":"a","reply":"b","weight":1}]}`, "config.rules[0].weight", ""},
		{"scripted unknown key", "scripted", `{"rulez":[]}`, "config.rulez", ""},

		// apiType
		{"unknown apiType", "vonage", `{}`, "apiType", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateConfig(tt.apiType, json.RawMessage(tt.config))
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ValidateConfig: %v", err)
				}
				if string(got) != tt.want {
					t.Fatalf("normalised = %s, want %s", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateConfig = %s, want error on %s", got, tt.wantField)
			}
			if store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("code = %q, want invalid (%v)", store.ErrorCode(err), err)
			}
			d, _ := store.ErrorDetails(err).(map[string]string)
			if d["field"] != tt.wantField {
				t.Fatalf("field = %q, want %q (%v)", d["field"], tt.wantField, err)
			}
		})
	}
}

func TestValidateConfigNamesAllUnknownKeys(t *testing.T) {
	_, err := ValidateConfig("ollama", json.RawMessage(`{"b":1,"a":2}`))
	var e *store.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *store.Error", err)
	}
	if !strings.Contains(e.Message, "config.a") || !strings.Contains(e.Message, "config.b") {
		t.Fatalf("message %q does not name both unknown keys", e.Message)
	}
}

func TestProviderTypeOf(t *testing.T) {
	tests := []struct {
		apiType string
		want    string
		ok      bool
	}{
		{"twilio_messaging", "channel", true},
		{"openai-legacy", "llm", true},
		{"ollama", "llm", true},
		{"scripted", "llm", true},
		{"twilio_voice", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := ProviderTypeOf(tt.apiType)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ProviderTypeOf(%q) = %q, %v; want %q, %v", tt.apiType, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseDecoders(t *testing.T) {
	tw, err := ParseTwilio(json.RawMessage(`{"accountSid":"` + sid + `","authToken":"tok","fromNumber":"+15551234567"}`))
	if err != nil || tw.AccountSID != sid || tw.AuthToken != "tok" || tw.FromNumber != "+15551234567" || tw.APIBaseURL != "" {
		t.Fatalf("ParseTwilio = %+v, %v", tw, err)
	}
	oa, err := ParseOpenAI(json.RawMessage(`{"apiKey":"k","baseUrl":"http://h/v1"}`))
	if err != nil || oa.APIKey != "k" || oa.BaseURL != "http://h/v1" {
		t.Fatalf("ParseOpenAI = %+v, %v", oa, err)
	}
	ol, err := ParseOllama(nil)
	if err != nil || ol.BaseURL != "" || ol.APIKey != "" {
		t.Fatalf("ParseOllama = %+v, %v", ol, err)
	}
	sc, err := ParseScripted(json.RawMessage(`{"rules":[{"match":"x","reply":"y"}]}`))
	if err != nil || len(sc.Rules) != 1 || sc.Rules[0].Match != "x" || sc.DefaultReply != nil {
		t.Fatalf("ParseScripted = %+v, %v", sc, err)
	}
	if _, err := ParseTwilio(json.RawMessage(`{}`)); err == nil {
		t.Fatal("ParseTwilio({}) succeeded")
	}
}

func TestMaskSecret(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "••••"},
		{"12345678901", "••••"},
		{"0123456789abcdef", "••••cdef"},
	}
	for _, tt := range tests {
		if got := MaskSecret(tt.in); got != tt.want {
			t.Errorf("MaskSecret(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskConfig(t *testing.T) {
	raw := json.RawMessage(`{"accountSid":"` + sid + `","authToken":"0123456789abcdef","fromNumber":"+15551234567"}`)
	var m map[string]string
	if err := json.Unmarshal(MaskConfig(raw), &m); err != nil {
		t.Fatal(err)
	}
	if m["authToken"] != "••••cdef" || m["accountSid"] != sid || m["fromNumber"] != "+15551234567" {
		t.Fatalf("masked = %v", m)
	}
	if got := MaskConfig(json.RawMessage(`{"apiKey":"sk-abcdefghijklmnop"}`)); string(got) != `{"apiKey":"••••mnop"}` {
		t.Fatalf("masked apiKey = %s", got)
	}
	if got := MaskConfig(json.RawMessage(`{"baseUrl":"http://h"}`)); string(got) != `{"baseUrl":"http://h"}` {
		t.Fatalf("config without secrets changed: %s", got)
	}
}

func TestRestoreSecrets(t *testing.T) {
	prev := json.RawMessage(`{"apiKey":"sk-abcdefghijklmnop","baseUrl":"http://a"}`)
	tests := []struct {
		name      string
		next      string
		prev      json.RawMessage
		wantKey   string
		wantError bool
	}{
		{"mask restored", `{"apiKey":"••••mnop","baseUrl":"http://a"}`, prev, "sk-abcdefghijklmnop", false},
		{"new secret kept", `{"apiKey":"sk-new"}`, prev, "sk-new", false},
		{"stale mask rejected", `{"apiKey":"••••zzzz"}`, prev, "", true},
		{"mask on create rejected", `{"apiKey":"••••mnop"}`, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RestoreSecrets(json.RawMessage(tt.next), tt.prev)
			if tt.wantError {
				if store.ErrorCode(err) != store.EINVALID {
					t.Fatalf("err = %v, want invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatal(err)
			}
			if m["apiKey"] != tt.wantKey {
				t.Fatalf("apiKey = %q, want %q", m["apiKey"], tt.wantKey)
			}
		})
	}
}

func TestTwilioAuthTokenMustBeAlphanumeric(t *testing.T) {
	_, err := ValidateConfig("twilio_messaging", json.RawMessage(`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"abc-def","fromNumber":"+15551234567"}`))
	if store.ErrorCode(err) != store.EINVALID || !strings.Contains(err.Error(), "config.authToken") {
		t.Fatalf("got %v", err)
	}
}
