package providers

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"switchboard/store"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
)

func twilioCfg(sid, token, base string) string {
	m := map[string]string{"accountSid": sid, "authToken": token, "fromNumber": "+15551234567"}
	if base != "" {
		m["apiBaseUrl"] = base
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestStoredSecretNeverFollowsANewDestination is the rule that stops a
// provider:write operator from redirecting a stored secret: a masked secret
// is restored only when every field that decides where it goes is
// unchanged.
func TestStoredSecretNeverFollowsANewDestination(t *testing.T) {
	mask := MaskSecret(testToken)
	stored := twilioCfg(testSID, testToken, "https://sim.example:8443")
	storedDefault := twilioCfg(testSID, testToken, "")
	llm := `{"apiKey":"sk-abcdefghijklmnop","baseUrl":"https://api.openai.com/v1","organizationId":"org-1"}`
	llmMask := MaskSecret("sk-abcdefghijklmnop")
	ollama := `{"apiKey":"ollama-key-123456","baseUrl":"http://127.0.0.1:11434"}`
	tests := []struct {
		name       string
		next, prev string
		wantSecret string // restored value; "" when an error is expected
		wantField  string // the error's field
		wantMsg    string // in the error's message
	}{
		{"same destination + mask", twilioCfg(testSID, mask, "https://sim.example:8443"), stored, testToken, "", ""},
		{"same destination, trailing slash and case", twilioCfg(testSID, mask, "HTTPS://SIM.example:8443/"), stored, testToken, "", ""},
		{"default destination kept", twilioCfg(testSID, mask, ""), storedDefault, testToken, "", ""},
		{"apiBaseUrl changed + mask", twilioCfg(testSID, mask, "https://evil.example"), stored, "", "config.authToken", "config.apiBaseUrl"},
		{"apiBaseUrl removed + mask", twilioCfg(testSID, mask, ""), stored, "", "config.authToken", "config.apiBaseUrl"},
		{"apiBaseUrl set from default + mask", twilioCfg(testSID, mask, "https://evil.example"), storedDefault, "", "config.authToken", "config.apiBaseUrl"},
		{"explicit default is still a change", twilioCfg(testSID, mask, "https://api.twilio.com"), storedDefault, "", "config.authToken", "config.apiBaseUrl"},
		{"port changed + mask", twilioCfg(testSID, mask, "https://sim.example:9443"), stored, "", "config.authToken", "config.apiBaseUrl"},
		{"accountSid changed + mask", twilioCfg("AC"+strings.Repeat("f", 32), mask, "https://sim.example:8443"), stored, "", "config.authToken", "config.accountSid"},
		{"accountSid case only", twilioCfg(strings.ToUpper(testSID[:2])+strings.ToUpper(testSID[2:]), mask, "https://sim.example:8443"), stored, testToken, "", ""},
		{"changed destination + new secret", twilioCfg(testSID, "fedcba9876543210fedcba9876543210", "https://evil.example"), stored, "fedcba9876543210fedcba9876543210", "", ""},
		{"llm baseUrl changed + mask", `{"apiKey":"` + llmMask + `","baseUrl":"http://evil.example/v1"}`, llm, "", "config.apiKey", "config.baseUrl"},
		{"llm baseUrl dropped + mask", `{"apiKey":"` + llmMask + `"}`, llm, "", "config.apiKey", "config.baseUrl"},
		{"llm organization changed + mask", `{"apiKey":"` + llmMask + `","baseUrl":"https://api.openai.com/v1","organizationId":"org-2"}`, llm, "sk-abcdefghijklmnop", "", ""},
		{"ollama baseUrl changed + mask", `{"apiKey":"` + MaskSecret("ollama-key-123456") + `","baseUrl":"http://10.1.2.3:11434"}`, ollama, "", "config.apiKey", "config.baseUrl"},
		{"other apiType (no previous config) + mask", twilioCfg(testSID, mask, ""), "", "", "config.authToken", "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev json.RawMessage
			if tt.prev != "" {
				prev = json.RawMessage(tt.prev)
			}
			got, err := RestoreSecrets(json.RawMessage(tt.next), prev)
			if tt.wantField != "" {
				var se *store.Error
				if store.ErrorCode(err) != store.EINVALID || !errors.As(err, &se) || se.Details.(map[string]string)["field"] != tt.wantField || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want EINVALID on %s mentioning %q", err, tt.wantField, tt.wantMsg)
				}
				if got != nil {
					t.Fatalf("a refused config was returned: %s", got)
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
			secret := m["authToken"] + m["apiKey"]
			if secret != tt.wantSecret {
				t.Fatalf("secret = %q, want %q", secret, tt.wantSecret)
			}
		})
	}
}

func TestAllowlistMatcher(t *testing.T) {
	pol, err := ParseAllowlist(" api.openai.com, *.example.com ,127.0.0.1:3001, 10.0.0.0/8, [::1]:11434, 169.254.10.0/24 ")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := ParseAllowlist("")
	tests := []struct {
		url          string
		restricted   bool // allowed by pol
		unrestricted bool // allowed by the default policy
	}{
		{"https://api.openai.com/v1", true, true},
		{"https://API.OpenAI.com./v1", true, true},
		{"https://api.openai.com:8443/v1", true, true}, // no port in the entry: any port
		{"https://openai.com/v1", false, true},
		{"https://llm.example.com/v1", true, true},
		{"https://a.b.example.com", true, true},
		{"https://example.com", false, true}, // *.example.com is subdomains only
		{"https://badexample.com", false, true},
		{"https://example.com.evil.test", false, true},
		{"http://127.0.0.1:3001", true, true},
		{"http://127.0.0.1:3002", false, true},
		{"http://localhost:3001", false, true},
		{"http://10.20.30.40:8000/v1", true, true},
		{"http://11.0.0.1", false, true},
		{"http://[::1]:11434", true, true},
		{"http://[::1]:11435", false, true},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://169.254.10.7", true, false}, // listed explicitly
		{"http://[fe80::1]:80", false, false},
		{"http://[fe80::1%25eth0]:80", false, false},
		{"http://[::ffff:169.254.169.254]", false, false},
		{"http://[fd00:ec2::254]", false, false},
		{"ftp://api.openai.com", false, false},
		{"https://user:pass@api.openai.com", false, false},
		{"https://api.openai.com/v1?x=1", false, false},
		{"https://api.openai.com/v1#frag", false, false},
		{"/relative", false, false},
		{"https://", false, false},
	}
	for _, tt := range tests {
		if err := pol.CheckURL(tt.url); (err == nil) != tt.restricted {
			t.Errorf("allow-list: CheckURL(%q) = %v, want allowed=%v", tt.url, err, tt.restricted)
		}
		if err := open.CheckURL(tt.url); (err == nil) != tt.unrestricted {
			t.Errorf("default: CheckURL(%q) = %v, want allowed=%v", tt.url, err, tt.unrestricted)
		}
		var nilPol *DestinationPolicy
		if err := nilPol.CheckURL(tt.url); (err == nil) != tt.unrestricted {
			t.Errorf("nil policy: CheckURL(%q) = %v, want allowed=%v", tt.url, err, tt.unrestricted)
		}
	}
	if err := pol.CheckURL("https://openai.com"); err == nil || !strings.Contains(err.Error(), AllowlistSetting) {
		t.Fatalf("refusal does not name the setting: %v", err)
	}
	for _, bad := range []string{"exa mple.com", "*.", "host:port", "http://x", "10.0.0.0/33", "a..b"} {
		if _, err := ParseAllowlist(bad); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
}

func TestCheckDestinationsNamesTheField(t *testing.T) {
	pol, _ := ParseAllowlist("api.openai.com")
	err := CheckDestinations(json.RawMessage(`{"apiKey":"k","baseUrl":"https://evil.example/v1"}`), pol)
	if store.ErrorCode(err) != store.EINVALID || !strings.Contains(err.Error(), "config.baseUrl: host evil.example not allowed by PROVIDER_URL_ALLOWLIST") {
		t.Fatalf("got %v", err)
	}
	err = CheckDestinations(json.RawMessage(twilioCfg(testSID, testToken, "http://169.254.169.254")), nil)
	if store.ErrorCode(err) != store.EINVALID || !strings.Contains(err.Error(), "config.apiBaseUrl") {
		t.Fatalf("got %v", err)
	}
	if err := CheckDestinations(json.RawMessage(`{"apiKey":"k"}`), pol); err != nil {
		t.Fatalf("the default destination is not API input: %v", err)
	}
}

func TestCheckDial(t *testing.T) {
	open, _ := ParseAllowlist("")
	listed, _ := ParseAllowlist("169.254.169.254:80")
	trusted := open.Trust("http://169.254.1.1:8080")
	tests := []struct {
		pol     *DestinationPolicy
		address string
		ok      bool
	}{
		{open, "127.0.0.1:80", true},
		{open, "10.0.0.1:443", true},
		{open, "93.184.216.34:443", true},
		{open, "169.254.169.254:80", false},
		{open, "[fe80::1%eth0]:80", false},
		{open, "[::ffff:169.254.169.254]:80", false},
		{nil, "169.254.169.254:80", false},
		{listed, "169.254.169.254:80", true},
		{listed, "169.254.169.254:81", false},
		{listed, "169.254.169.253:80", false},
		{trusted, "169.254.1.1:8080", true},
		{trusted, "169.254.1.2:8080", false},
	}
	for _, tt := range tests {
		err := tt.pol.CheckDial(tt.address)
		if (err == nil) != tt.ok {
			t.Errorf("CheckDial(%q) = %v, want ok=%v", tt.address, err, tt.ok)
		}
		if err != nil {
			if _, isRefusal := err.(*DialRefusedError); !isRefusal || !strings.Contains(err.Error(), AllowlistSetting) {
				t.Errorf("CheckDial(%q): %T %v", tt.address, err, err)
			}
		}
	}
}

// TestDialRefusedThroughDialer proves the Control hook stops a real
// connection attempt (a name that resolves to a link-local address is
// dialled by IP, so this covers DNS tricks as well).
func TestDialRefusedThroughDialer(t *testing.T) {
	d := &net.Dialer{Control: (*DestinationPolicy)(nil).Control}
	_, err := d.Dial("tcp", "169.254.169.254:80")
	var refused *DialRefusedError
	if err == nil || !errors.As(err, &refused) {
		t.Fatalf("dial: %v, want a DialRefusedError", err)
	}
}
