package config

import (
	"slices"
	"strings"
	"testing"
)

// TestCORSAllowedOrigins: the setting is read into the form browsers send
// in Origin (lower case, no default port), so the API compares strings;
// the default allows no cross-origin page.
func TestCORSAllowedOrigins(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"", nil},
		{"  ", nil},
		{"*", []string{"*"}},
		{" * ", []string{"*"}},
		{"https://console.example.com", []string{"https://console.example.com"}},
		{"HTTPS://Console.Example.COM:443, http://localhost:5173", []string{"https://console.example.com", "http://localhost:5173"}},
		{"http://127.0.0.1:80", []string{"http://127.0.0.1"}},
		{"https://example.com:8443", []string{"https://example.com:8443"}},
		{"http://[::1]:5173", []string{"http://[::1]:5173"}},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"CORS_ALLOWED_ORIGINS": tt.value}))
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if !slices.Equal(c.CORSAllowedOrigins, tt.want) {
			t.Errorf("%q: origins = %q, want %q", tt.value, c.CORSAllowedOrigins, tt.want)
		}
	}
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CORSAllowedOrigins != nil {
		t.Fatalf("default origins = %q, want none", c.CORSAllowedOrigins)
	}
}

// TestCORSAllowedOriginsInvalid: a value that is not a list of origins
// stops start-up with an error naming the variable and the bad entry.
func TestCORSAllowedOriginsInvalid(t *testing.T) {
	tests := []struct{ value, want string }{
		{"https://console.example.com/", `must be origins scheme://host[:port] without path, such as https://console.example.com, got "https://console.example.com/"`},
		{"https://console.example.com/admin", `without path`},
		{"console.example.com", `got "console.example.com"`},
		{"ftp://example.com", `got "ftp://example.com"`},
		{"https://user:pw@example.com", `got "https://user:pw@example.com"`},
		{"https://example.com?x=1", `without path`},
		{"https://example.com#top", `without path`},
		{"https://a.example.com,,https://b.example.com", "has an empty origin"},
		{"https://a.example.com,", "has an empty origin"},
		{"*, https://a.example.com", "must hold * (any origin) alone"},
		{"https://a.example.com,*", "must hold * (any origin) alone"},
		{"https://*.example.com", "must not use wildcard origins"},
		{"null", "must not list the origin null"},
	}
	for _, tt := range tests {
		_, err := Load(env(map[string]string{"CORS_ALLOWED_ORIGINS": tt.value}))
		if err == nil {
			t.Errorf("%q: accepted", tt.value)
			continue
		}
		if !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error = %v, want it to name CORS_ALLOWED_ORIGINS and say %q", tt.value, err, tt.want)
		}
	}
}
