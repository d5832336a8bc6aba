package main

import (
	"reflect"
	"testing"

	"switchboard/providers/twilio"
)

func TestParseStatCPU(t *testing.T) {
	// The command name holds a space and a parenthesis.
	stat := []byte("4763 (switch board)) S 1 4763 4763 0 -1 4194304 1200 0 0 0 250 75 0 0 20 0 9 0 123 1000 2000")
	got, err := parseStatCPU(stat)
	if err != nil || got != 3.25 {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25", got, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Fatal("no error for garbage")
	}
}

func TestParseStatusKB(t *testing.T) {
	st := []byte("Name:\tswitchboard\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n")
	if got := parseStatusKB(st, "VmRSS:"); got != 20480*1024 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := parseStatusKB(st, "VmHWM:"); got != 40960*1024 {
		t.Errorf("VmHWM = %d", got)
	}
	if got := parseStatusKB(st, "VmSwap:"); got != 0 {
		t.Errorf("VmSwap = %d", got)
	}
}

func TestSenderAddressesAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i, wa := range []bool{false, true, false} {
		from, to := senderAddress(123, i*999_999/2, wa, "+15550001000")
		a, err := twilio.ParseAddress(from)
		if err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		if a.IsWhatsApp() != wa || (wa && to != "whatsapp:+15550001000") || (!wa && to != "+15550001000") {
			t.Errorf("sender %d: from %s to %s", i, from, to)
		}
		if seen[from] {
			t.Errorf("duplicate address %s", from)
		}
		seen[from] = true
	}
}

func TestMaskedCommand(t *testing.T) {
	got := maskedCommand([]string{"--senders", "5", "--operator-password", "hunter22", "-auth-token=abc", "--api-key", "k"})
	want := []string{"loadgen", "--senders", "5", "--operator-password", "(secret)", "-auth-token=(secret)", "--api-key", "(secret)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("maskedCommand = %q, want %q", got, want)
	}
}

func TestTopErrors(t *testing.T) {
	errs := map[string]int64{"a": 1, "b": 5, "c": 3, "d": 2}
	got := topErrors(errs, 2)
	if !reflect.DeepEqual(got, map[string]int64{"b": 5, "c": 3}) {
		t.Fatalf("topErrors = %v", got)
	}
}
