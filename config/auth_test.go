package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuthThrottleSettings(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMaxFailuresPerAccount != 5 || c.AuthMaxFailuresPerIP != 20 || c.AuthFailureWindow != 15*time.Minute || c.AuthHashConcurrency != 0 {
		t.Fatalf("defaults: %d %d %v %d", c.AuthMaxFailuresPerAccount, c.AuthMaxFailuresPerIP, c.AuthFailureWindow, c.AuthHashConcurrency)
	}
	c, err = Load(env(map[string]string{
		"AUTH_MAX_FAILURES_PER_ACCOUNT": "3", "AUTH_MAX_FAILURES_PER_IP": "50",
		"AUTH_FAILURE_WINDOW_MS": "60000", "AUTH_HASH_CONCURRENCY": "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMaxFailuresPerAccount != 3 || c.AuthMaxFailuresPerIP != 50 || c.AuthFailureWindow != time.Minute || c.AuthHashConcurrency != 2 {
		t.Fatalf("set: %d %d %v %d", c.AuthMaxFailuresPerAccount, c.AuthMaxFailuresPerIP, c.AuthFailureWindow, c.AuthHashConcurrency)
	}
	for name, bad := range map[string]string{
		"AUTH_MAX_FAILURES_PER_ACCOUNT": "0",
		"AUTH_MAX_FAILURES_PER_IP":      "many",
		"AUTH_FAILURE_WINDOW_MS":        "-5",
		"AUTH_HASH_CONCURRENCY":         "-1",
	} {
		_, err := Load(env(map[string]string{name: bad}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err %v, want one naming the variable", name, bad, err)
		}
	}
}
