package twilio_test

import (
	"context"
	"testing"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"", 0},
		{"soon", 0},
		{"1.5", 0},
		{"Wed, 02 Dec 2026 15:00:07 GMT", 7 * time.Second},
		{"Wednesday, 02-Dec-26 15:00:30 GMT", 30 * time.Second}, // RFC 850, which HTTP dates may still use
		{"Wed, 02 Dec 2026 14:59:00 GMT", 0},                    // in the past
		{"99999999999999999999", 0},                             // not an int64: malformed
		{"9999999999", 24 * time.Hour},                          // saturates
	} {
		if got := twilio.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSendErrorCarriesRetryAfter checks that a 429's Retry-After reaches
// the caller in seconds and as an HTTP date, and that an answer without
// one leaves RetryAfter zero.
func TestSendErrorCarriesRetryAfter(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()

	sim.FailNextRetryAfter(1, 429, 20429, "5")
	_, err := s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 429 || se.RetryAfter != 5*time.Second || se.Class != twilio.ClassRetryable {
		t.Fatalf("429 with Retry-After 5: %+v", se)
	}

	at := time.Now().Add(time.Hour).UTC().Format(httpDate)
	sim.FailNextRetryAfter(1, 503, 20500, at)
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.Status != 503 || se.RetryAfter < 59*time.Minute || se.RetryAfter > time.Hour {
		t.Fatalf("503 with Retry-After %s: %+v", at, se)
	}

	sim.FailNext(1, 429, 20429)
	_, err = s.Send(ctx, config(sim.URL()), twilio.Message{To: testTo, Body: "x"})
	if se := sendErr(t, err); se.RetryAfter != 0 {
		t.Fatalf("429 without Retry-After: %+v", se)
	}
}

// httpDate is the preferred HTTP date format (RFC 9110 IMF-fixdate).
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"
