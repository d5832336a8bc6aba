package providers

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
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
		// An IPv4 address inside an IPv6 one is checked as that IPv4
		// address: IPv4-mapped, NAT64 (RFC 6052) and IPv4-compatible.
		{"http://[::ffff:a9fe:a9fe]", false, false},
		{"http://[64:ff9b::a9fe:a9fe]/latest/meta-data", false, false},
		{"http://[64:ff9b::169.254.169.254]:80", false, false},
		{"http://[::a9fe:a9fe]", false, false},
		{"http://[::169.254.169.254]", false, false},
		{"http://[64:ff9b::a00:1]:8000", true, true}, // 10.0.0.1, listed
		{"http://[::]", false, true},
		// Alibaba Cloud's metadata service is not link-local.
		{"http://100.100.100.200/latest/meta-data", false, false},
		{"http://[::ffff:100.100.100.200]", false, false},
		{"http://[64:ff9b::6464:64c8]", false, false},
		{"http://100.100.100.201", false, true},
		// Hosts that end in a number but are not standard IP addresses:
		// inet_aton and browsers read them as IPv4, Go's resolver as names.
		{"http://2852039166/", false, false},
		{"http://0xa9fea9fe/", false, false},
		{"http://0XA9FEA9FE/", false, false},
		{"http://0251.0376.0251.0376/", false, false},
		{"http://169.254.43518/", false, false},
		{"http://127.1:11434", false, false},
		{"http://10.0.0.1.:80", false, false},
		{"http://0x7f.0x0.0x0.0x1", false, false},
		{"https://llm.example.com.:443", true, true},
		{"https://1e100.net", false, true},
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
		{open, "[::ffff:a9fe:a9fe]:80", false},
		{open, "[64:ff9b::a9fe:a9fe]:80", false},
		{open, "[::a9fe:a9fe]:80", false},
		{open, "100.100.100.200:80", false},
		{open, "[64:ff9b::6464:64c8]:80", false},
		{open, "[64:ff9b::5db8:d822]:443", true}, // 93.184.216.34
		{open, "[::1]:80", true},
		{open, "[::]:80", true},
		{open, "100.100.100.199:80", true},
		{listed, "[64:ff9b::a9fe:a9fe]:80", true},
		{listed, "[::ffff:169.254.169.254]:80", true},
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

// TestRefusedUnlessListed: each always-refused address is allowed once an
// allow-list entry names it, in whatever form the entry is written, and
// only that one.
func TestRefusedUnlessListed(t *testing.T) {
	tests := []struct{ allow, url, dial string }{
		{"100.100.100.200", "http://100.100.100.200", "100.100.100.200:80"},
		{"64:ff9b::a9fe:a9fe", "http://169.254.169.254", "169.254.169.254:80"},
		{"::ffff:169.254.169.254", "http://[64:ff9b::a9fe:a9fe]", "[::a9fe:a9fe]:80"},
		{"::ffff:169.254.0.0/112", "http://169.254.3.4", "169.254.3.4:80"},
		{"64:ff9b::a9fe:0/112", "http://[::ffff:169.254.3.4]", "[64:ff9b::a9fe:304]:80"},
	}
	for _, tt := range tests {
		pol, err := ParseAllowlist(tt.allow)
		if err != nil {
			t.Fatal(err)
		}
		if err := pol.CheckURL(tt.url); err != nil {
			t.Errorf("allow %s: CheckURL(%s) = %v", tt.allow, tt.url, err)
		}
		if err := pol.CheckDial(tt.dial); err != nil {
			t.Errorf("allow %s: CheckDial(%s) = %v", tt.allow, tt.dial, err)
		}
		if err := pol.CheckDial("169.254.169.253:80"); err == nil && !strings.Contains(tt.allow, "/") {
			t.Errorf("allow %s: another metadata address allowed", tt.allow)
		}
	}
	err := (*DestinationPolicy)(nil).CheckURL("http://[64:ff9b::a9fe:a9fe]/")
	if err == nil || !strings.Contains(err.Error(), "(169.254.169.254)") || !strings.Contains(err.Error(), AllowlistSetting) {
		t.Fatalf("refusal does not say which IPv4 address was meant: %v", err)
	}
}

// TestNumericHostRefusedWhenSaved: a base URL whose host is a number in a
// form other than a dotted quad is refused by config validation, the check
// run when a provider is saved, with a 400 naming the field.
func TestNumericHostRefusedWhenSaved(t *testing.T) {
	for _, host := range []string{"2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "1.2.3.4."} {
		for _, c := range []struct{ apiType, config, field string }{
			{store.APITypeOpenAILegacy, `{"apiKey":"k","baseUrl":"http://` + host + `/v1"}`, "config.baseUrl"},
			{store.APITypeOllama, `{"baseUrl":"http://` + host + `:11434"}`, "config.baseUrl"},
			{store.APITypeTwilioMessaging, twilioCfg(testSID, testToken, "http://"+host), "config.apiBaseUrl"},
		} {
			_, err := ValidateConfig(c.apiType, json.RawMessage(c.config))
			d, _ := store.ErrorDetails(err).(map[string]string)
			if store.ErrorCode(err) != store.EINVALID || d["field"] != c.field || !strings.Contains(err.Error(), "host must be a DNS name or a standard IP address") {
				t.Errorf("%s %s: err = %v, want EINVALID on %s", c.apiType, host, err, c.field)
			}
		}
	}
	if _, err := ValidateConfig(store.APITypeOllama, json.RawMessage(`{"baseUrl":"http://10.1.2.3:11434"}`)); err != nil {
		t.Fatalf("a dotted-quad host was refused: %v", err)
	}
}

// TestRedirectToNumericHostRefused: a redirect is held to the same host
// syntax as a saved base URL.
func TestRedirectToNumericHostRefused(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://2852039166/latest/meta-data/", nil)
	if err := (*DestinationPolicy)(nil).CheckRedirect(req, nil); err == nil || !strings.Contains(err.Error(), "standard IP address") {
		t.Fatalf("CheckRedirect = %v", err)
	}
}
