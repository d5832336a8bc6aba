package opapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unauthorized"}` + "\n"))
			return
		}
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "name": in["name"]})
	}))
	defer srv.Close()
	ctx := context.Background()

	c := &Client{Base: srv.URL + "/", Token: "tok"}
	var out struct{ Path, Name string }
	if err := c.Do(ctx, "POST", "/api/projects", map[string]string{"name": "p"}, &out, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	if out.Path != "/api/projects" || out.Name != "p" {
		t.Fatalf("answer %+v", out)
	}
	if err := c.Do(ctx, "POST", "/api/projects", nil, nil, http.StatusOK); err == nil {
		t.Fatal("status 201 accepted when 200 was wanted")
	}

	c.Token = ""
	err := c.Do(ctx, "GET", "/api/projects", nil, &out, http.StatusOK)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Body != `{"error":"unauthorized"}` {
		t.Fatalf("err %v, want a StatusError with status 401 and the trimmed body", err)
	}
	status, body, err := c.Raw(ctx, "GET", "/x", nil)
	if err != nil || status != http.StatusUnauthorized || len(body) == 0 {
		t.Fatalf("Raw: %d %q %v", status, body, err)
	}
}

// TestClientOversizedAnswer: an answer over the limit is an error, not a
// truncated body that fails to decode.
func TestClientOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`"` + strings.Repeat("x", maxAnswer) + `"`))
	}))
	defer srv.Close()
	var out string
	err := (&Client{Base: srv.URL}).Do(context.Background(), "GET", "/big", nil, &out, http.StatusOK)
	if err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Fatalf("err %v, want an answer-too-large error", err)
	}
}
