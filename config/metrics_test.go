package config

import (
	"strings"
	"testing"
)

// The safe metrics setup is the default: a separate loopback listener.
// Serving /metrics beside the webhook needs a bearer token.
func TestMetricsSettings(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9464" || c.MetricsOff || c.MetricsToken != "" || c.MaxConnections != 4096 || c.MaxConnectionsPerIP != 512 {
		t.Fatalf("metrics defaults: addr %q off %v token %q max_connections %d per ip %d", c.MetricsAddr, c.MetricsOff, c.MetricsToken, c.MaxConnections, c.MaxConnectionsPerIP)
	}
	if c, err := Load(env(map[string]string{"MAX_CONNECTIONS_PER_IP": "0"})); err != nil || c.MaxConnectionsPerIP != 0 {
		t.Fatalf("MAX_CONNECTIONS_PER_IP=0 (off): %v", err)
	}

	// Explicitly empty: the main listener, refused without a token; the
	// error names both variables and does not echo anything secret.
	_, err = Load(env(map[string]string{"METRICS_ADDR": ""}))
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") || !strings.Contains(err.Error(), "METRICS_TOKEN") {
		t.Fatalf("METRICS_ADDR= without METRICS_TOKEN: got %v", err)
	}
	token := "s3cret-metrics-token-value"
	c, err = Load(env(map[string]string{"METRICS_ADDR": "", "METRICS_TOKEN": token}))
	if err != nil || c.MetricsAddr != "" || c.MetricsOff || c.MetricsToken != token {
		t.Fatalf("METRICS_ADDR= with a token: %+v, %v", c, err)
	}

	c, err = Load(env(map[string]string{"METRICS_ADDR": "off"}))
	if err != nil || !c.MetricsOff {
		t.Fatalf("METRICS_ADDR=off: %+v, %v", c, err)
	}

	for _, tt := range []struct{ name, value, want string }{
		{"METRICS_ADDR", "9464", "METRICS_ADDR must be host:port, off or empty"},
		{"METRICS_TOKEN", "short-secret", "METRICS_TOKEN must be at least 16 characters"},
		{"MAX_CONNECTIONS", "0", "MAX_CONNECTIONS must be a positive integer"},
		{"MAX_CONNECTIONS_PER_IP", "-1", "MAX_CONNECTIONS_PER_IP must be an integer >= 0"},
		{"MAX_CONNECTIONS_PER_IP", "many", "MAX_CONNECTIONS_PER_IP must be an integer >= 0"},
	} {
		_, err := Load(env(map[string]string{tt.name: tt.value}))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: got %v, want %q", tt.name, tt.value, err, tt.want)
		} else if strings.Contains(err.Error(), "short-secret") {
			t.Errorf("%s: the secret value is echoed: %v", tt.name, err)
		}
	}
}
