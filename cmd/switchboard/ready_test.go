package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
)

// Readiness means started: while `serve --demo` is still creating the demo
// line, /readyz answers 503 (the listener already serves, so a client
// polling it from the start sees that answer); once Run returns it answers
// 200 and the demo operator can log in. A phone started on readiness used
// to find no demo line now and then.
func TestReadyOnlyOnceStarted(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"SWITCHBOARD_ADDR": "127.0.0.1:0",
		"DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "switchboard.db"),
		"METRICS_ADDR":     "off",
	})
	m := NewMain(cfg, io.Discard, io.Discard)
	m.Demo = true
	var during int
	var reason string
	m.listening = func() {
		// Start-up is held here: the demo line does not exist yet.
		resp, err := http.Get("http://" + m.Addr + "/readyz")
		if err != nil {
			t.Errorf("GET /readyz during start-up: %v", err)
			return
		}
		defer resp.Body.Close()
		during = resp.StatusCode
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		reason = body.Error
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if during != http.StatusServiceUnavailable || reason != "starting up" {
		t.Fatalf("/readyz before the demo line existed: %d %q, want 503 \"starting up\"", during, reason)
	}
	resp, err := http.Get("http://" + m.Addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after start-up: %d, want 200", resp.StatusCode)
	}
	login, _ := json.Marshal(map[string]string{"id": demoOperatorID, "password": demoOperatorPassword})
	resp, err = http.Post("http://"+m.Addr+"/api/auth/login", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("demo login once ready: %d, want 200", resp.StatusCode)
	}
}
