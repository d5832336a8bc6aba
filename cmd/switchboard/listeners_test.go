package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/config"
)

// Every listener has read, write and idle timeouts and a header cap (the
// security pass found none on the metrics and pprof listeners), and the
// pprof profile endpoint still streams a profile under its write timeout.
func TestListenersHaveTimeouts(t *testing.T) {
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{"SWITCHBOARD_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "PPROF_ADDR": "127.0.0.1:0"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	m := NewMain(cfg, &stdout, io.Discard)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	if err := m.startListeners(ok, ok, nil); err != nil {
		t.Fatal(err)
	}
	paddr := m.pprofAddr
	t.Cleanup(func() {
		for _, s := range []*http.Server{m.http, m.metrics, m.pprof} {
			s.Close()
		}
	})
	for name, s := range map[string]*http.Server{"main": m.http, "metrics": m.metrics, "pprof": m.pprof} {
		if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
			t.Errorf("%s listener: read header %v, read %v, write %v, idle %v, max header bytes %d; want all set",
				name, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
		}
	}
	// An idle keep-alive connection holds a MAX_CONNECTIONS slot; Twilio
	// gives up on a webhook after 15 s.
	if m.http.IdleTimeout > 15*time.Second || m.http.ReadHeaderTimeout > 5*time.Second {
		t.Errorf("main listener: idle timeout %v, read header timeout %v; want at most 15 s and 5 s", m.http.IdleTimeout, m.http.ReadHeaderTimeout)
	}
	if m.pprof.WriteTimeout < time.Minute {
		t.Errorf("pprof write timeout %v, want at least a minute for profiles", m.pprof.WriteTimeout)
	}
	if !strings.Contains(stdout.String(), "switchboard: metrics on http://127.0.0.1:") {
		t.Errorf("metrics address not printed: %q", stdout.String())
	}
	// A CPU profile streams for its duration despite the write timeout.
	resp, err := http.Get("http://" + paddr + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || len(b) == 0 {
		t.Fatalf("CPU profile: %d, %d bytes, %v", resp.StatusCode, len(b), err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9464": true, "[::1]:9464": true, "0.0.0.0:9464": false, "[::]:9464": false, "10.0.0.5:9464": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLoopback(a); got != want {
			t.Errorf("isLoopback(%s) = %v, want %v", addr, got, want)
		}
	}
}
