package config

import (
	"strings"
	"testing"
)

// A millisecond setting given in seconds by mistake is accepted (it is a
// valid value) but reported, naming the variable, the value and what was
// probably meant.
func TestImplausibleValuesWarn(t *testing.T) {
	c, err := Load(env(map[string]string{
		"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "1800",
		"TWILIO_SEND_TIMEOUT_MS":              "15",
		"SHUTDOWN_TIMEOUT_MS":                 "25",
		"AUTH_FAILURE_WINDOW_MS":              "900",
		"TWILIO_MESSAGING_DEBOUNCE_MS":        "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "1800000",
		"TWILIO_SEND_TIMEOUT_MS":              "15000",
		"SHUTDOWN_TIMEOUT_MS":                 "25000",
		"AUTH_FAILURE_WINDOW_MS":              "900000",
		"TWILIO_MESSAGING_DEBOUNCE_MS":        "2000",
	}
	got := c.Warnings()
	if len(got) != len(want) {
		t.Fatalf("%d warnings, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range got {
		if want[w.Variable] != w.ProbablyMeant {
			t.Errorf("%s: probably meant %q, want %q", w.Variable, w.ProbablyMeant, want[w.Variable])
		}
		if !strings.Contains(w.Message, w.Variable+"="+w.Value) || !strings.Contains(w.Message, w.ProbablyMeant) {
			t.Errorf("message %q does not name the variable, value and probable value", w.Message)
		}
	}
	if c.SessionTimeout.Milliseconds() != 1800 {
		t.Fatalf("the value was not applied as given: %v", c.SessionTimeout)
	}
}

// Defaults, plausible values and 0 (off) warn about nothing; every
// threshold belongs to a millisecond setting whose default is above it.
func TestPlausibleValuesDoNotWarn(t *testing.T) {
	for _, vars := range []map[string]string{nil, {
		"TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "60000",
		"TWILIO_SEND_TIMEOUT_MS":              "1000",
		"TWILIO_MESSAGING_DEBOUNCE_MS":        "0",
		"AUTH_FAILURE_WINDOW_MS":              "1000",
	}} {
		c, err := Load(env(vars))
		if err != nil {
			t.Fatal(err)
		}
		if w := c.Warnings(); len(w) != 0 {
			t.Fatalf("%v: warnings %+v", vars, w)
		}
	}
	for _, o := range options {
		if o.warnBelow != 0 && !strings.HasSuffix(o.name, "_MS") {
			t.Errorf("%s has a warnBelow but is not a millisecond setting", o.name)
		}
	}
}
