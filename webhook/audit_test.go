package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// auditSink collects the entries a Handler writes.
type auditSink struct {
	mu      sync.Mutex
	entries []*store.AuditEntry
}

func (s *auditSink) write(_ context.Context, e *store.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, e)
	return nil
}

func (s *auditSink) list() []*store.AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*store.AuditEntry(nil), s.entries...)
}

// TestSignatureFailuresAggregated: a burst of forged webhooks and status
// callbacks for one provider becomes one SIGNATURE_FAILURES entry with the
// count and the reasons, written when the window closes (here: on Close).
func TestSignatureFailuresAggregated(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ch := &store.Provider{Name: "c", ProviderType: store.ProviderTypeChannel, APIType: store.APITypeTwilioMessaging,
		Config: json.RawMessage(`{"accountSid":"AC00000000000000000000000000000000","authToken":"0123456789abcdef0123456789abcdef","fromNumber":"+15550001111"}`)}
	if err := st.CreateProvider(ctx, ch); err != nil {
		t.Fatal(err)
	}
	sink := &auditSink{}
	h := New(Options{Store: st, Audit: sink.write, AuditInterval: time.Hour})
	r := mux.NewRouter()
	h.Register(r)
	post := func(path, sig string) {
		t.Helper()
		form := url.Values{"MessageSid": {"SM1"}, "From": {"+15551234567"}, "To": {"+15550001111"}, "Body": {"x"}, "MessageStatus": {"delivered"}}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden {
			t.Fatalf("%s: status %d, want 403", path, w.Code)
		}
	}
	in := "/api/twilio/messaging/webhook?apiKey=k&stageId=s&channelProviderId=" + ch.ID
	for i := 0; i < 3; i++ {
		post(in, fmt.Sprintf("forged%d", i))
	}
	post(in, "")
	post("/api/twilio/messaging/status?channelProviderId="+ch.ID, "forged")
	post("/api/twilio/messaging/status?channelProviderId="+ch.ID, "forged")
	if n := len(sink.list()); n != 0 {
		t.Fatalf("%d entries before the window closed", n)
	}
	h.Close()
	es := sink.list()
	if len(es) != 1 {
		t.Fatalf("entries = %d, want 1", len(es))
	}
	e := es[0]
	if e.Action != store.AuditSignatureFailures || e.EntityType != store.AuditProvider || e.EntityID != ch.ID || e.UserID != "" {
		t.Fatalf("entry = %+v", e)
	}
	var d struct {
		Count   int            `json:"count"`
		Reasons map[string]int `json:"reasons"`
		Since   time.Time      `json:"since"`
	}
	if err := json.Unmarshal(e.NewEntity, &d); err != nil {
		t.Fatal(err)
	}
	if d.Count != 6 || d.Reasons["mismatch"] != 3 || d.Reasons["missing"] != 1 || d.Reasons["status_callback"] != 2 || d.Since.IsZero() {
		t.Fatalf("details = %s", e.NewEntity)
	}
	// After Close nothing more is recorded.
	post(in, "forged")
	h.Close()
	if n := len(sink.list()); n != 1 {
		t.Fatalf("entries after close = %d", n)
	}
}

// TestSignatureFailureWindows: a window closes by itself after the
// interval; the next failure opens a new one, per provider.
func TestSignatureFailureWindows(t *testing.T) {
	sink := &auditSink{}
	a := newSigAudit(Options{Audit: sink.write, AuditInterval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	a.fail("prov_a", "mismatch")
	a.fail("prov_a", "mismatch")
	a.fail("prov_b", "missing")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := len(sink.list()); n != 2 {
			return fmt.Errorf("%d entries, want 2", n)
		}
		return nil
	})
	a.fail("prov_a", "missing")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := len(sink.list()); n != 3 {
			return fmt.Errorf("%d entries, want 3", n)
		}
		return nil
	})
	counts := map[string]string{}
	for _, e := range sink.list() {
		counts[e.EntityID] += string(e.NewEntity)[:10]
	}
	if counts["prov_a"] != `{"count":2{"count":1` || counts["prov_b"] != `{"count":1` {
		t.Fatalf("entries = %v", counts)
	}
	a.close()
	if n := len(sink.list()); n != 3 {
		t.Fatalf("close wrote %d entries with nothing pending", n-3)
	}
	// No Audit hook: nothing is aggregated.
	if newSigAudit(Options{}, slog.New(slog.DiscardHandler)) != nil {
		t.Fatal("aggregator without a hook")
	}
}
