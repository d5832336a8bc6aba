package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":3000" || c.SQLitePath != "data/switchboard.db" || c.SessionTimeout != 30*time.Minute ||
		!c.TrustProxy || c.TwilioAPIBaseURL != "https://api.twilio.com" || c.LogFormat != "text" || c.MetricsSessionSeriesMax != 1000 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.TrustedProxies == nil || c.TrustedProxies.Trusts() {
		t.Fatalf("by default no proxy is trusted: %+v", c.TrustedProxies)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(env(map[string]string{"TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8 ,fd00::/8"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.TrustedProxies.Trusts() {
		t.Fatal("TRUSTED_PROXIES not applied")
	}
}

func TestValid(t *testing.T) {
	c, err := Load(env(map[string]string{
		"DATABASE_URL":                        "postgres://u:p@127.0.0.1:5432/db",
		"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "50",
		"PUBLIC_BASE_URL":                     "https://sms.example.com/",
		"TRUST_PROXY":                         "false",
		"LOG_LEVEL":                           "DEBUG",
		"COMMIT_SYNC_WAIT_US":                 "500",
		"COMMIT_TURN_WAIT_US":                 "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PostgresURL == "" || c.SQLitePath != "" || c.SessionTimeout != 50*time.Millisecond ||
		c.PublicBaseURL != "https://sms.example.com" || c.TrustProxy || c.LogLevel != "debug" || c.SyncWait != 500*time.Microsecond || c.TurnWait != 0 {
		t.Fatalf("unexpected: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS", "abc", `TWILIO_MESSAGING_SESSION_TIMEOUT_MS must be a positive integer (milliseconds), got "abc"`},
		{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS", "0", "TWILIO_MESSAGING_SESSION_TIMEOUT_MS must be a positive integer"},
		{"TWILIO_MESSAGING_SESSION_TIMEOUT_MS", "-5", "TWILIO_MESSAGING_SESSION_TIMEOUT_MS must be a positive integer"},
		{"SWITCHBOARD_ADDR", "3000", "SWITCHBOARD_ADDR must be host:port"},
		{"LOG_LEVEL", "loud", "LOG_LEVEL must be one of"},
		{"LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json"},
		{"TRUST_PROXY", "maybe", "TRUST_PROXY must be true or false"},
		{"TRUSTED_PROXIES", "10.0.0.1, proxy.internal", `TRUSTED_PROXIES must be IP addresses and CIDR prefixes separated by commas: clientip: "proxy.internal" is not`},
		{"TRUSTED_PROXIES", "10.0.0.0/40", `"10.0.0.0/40" is not an IP address or CIDR prefix`},
		{"PUBLIC_BASE_URL", "example.com", "PUBLIC_BASE_URL must be an absolute http(s) URL"},
		{"TWILIO_API_BASE_URL", "ftp://x", "TWILIO_API_BASE_URL must be an absolute http(s) URL"},
		{"DATABASE_URL", "mysql://secret@host/db", "DATABASE_URL must start with sqlite: or postgres://"},
		{"TWILIO_MAX_CONCURRENT_SENDS", "0", "TWILIO_MAX_CONCURRENT_SENDS must be a positive integer"},
		{"METRICS_SESSION_SERIES_MAX", "-1", "METRICS_SESSION_SERIES_MAX must be an integer >= 0"},
		{"TWILIO_MESSAGING_DEBOUNCE_MS", "x", "TWILIO_MESSAGING_DEBOUNCE_MS must be an integer >= 0"},
		{"COMMIT_SYNC_WAIT_US", "-1", "COMMIT_SYNC_WAIT_US must be an integer between 0 and 10000000 (microseconds)"},
		{"COMMIT_SYNC_WAIT_US", "2ms", "COMMIT_SYNC_WAIT_US must be an integer between 0 and 10000000"},
		{"COMMIT_SYNC_WAIT_US", "10000001", "COMMIT_SYNC_WAIT_US must be an integer between 0 and 10000000"},
		{"COMMIT_TURN_WAIT_US", "-5", "COMMIT_TURN_WAIT_US must be an integer between 0 and 1000000 (microseconds)"},
		{"COMMIT_TURN_WAIT_US", "50ms", "COMMIT_TURN_WAIT_US must be an integer between 0 and 1000000"},
		{"COMMIT_TURN_WAIT_US", "1000001", "COMMIT_TURN_WAIT_US must be an integer between 0 and 1000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("secret value leaked: %v", err)
			}
		})
	}
}

func TestFileTwin(t *testing.T) {
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, []byte("sqlite:/tmp/x.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"DATABASE_URL_FILE": p}))
	if err != nil || c.SQLitePath != "/tmp/x.db" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := Load(env(map[string]string{"DATABASE_URL_FILE": p, "DATABASE_URL": "sqlite:a"})); err == nil {
		t.Fatal("both NAME and NAME_FILE set: want error")
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	h := Help()
	for _, n := range Names() {
		if !strings.Contains(h, n) {
			t.Errorf("help lacks %s", n)
		}
	}
	// The audit retention sweep runs at start-up too (internal/periodic).
	if !strings.Contains(h, "checked at start-up and hourly") {
		t.Error("AUDIT_RETENTION_DAYS help does not say the sweep also runs at start-up")
	}
}

func TestSecretKey(t *testing.T) {
	c, err := Load(env(map[string]string{"SWITCHBOARD_SECRET_KEY": strings.Repeat("0f", 32)}))
	if err != nil || len(c.SecretKey) != 32 {
		t.Fatalf("%v %v", c, err)
	}
	_, err = Load(env(map[string]string{"SWITCHBOARD_SECRET_KEY": "too-short-secret-value"}))
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET_KEY must be 32 bytes") || strings.Contains(err.Error(), "too-short-secret-value") {
		t.Fatalf("got %v", err)
	}
}

func TestSecret(t *testing.T) {
	for name, want := range map[string]bool{"DATABASE_URL": true, "SWITCHBOARD_SECRET_KEY_FILE": true, "METRICS_TOKEN": true, "LOG_LEVEL": false, "NO_SUCH": false} {
		if Secret(name) != want {
			t.Errorf("Secret(%s) = %v, want %v", name, !want, want)
		}
	}
}
