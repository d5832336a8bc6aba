package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/store/sqlite"
)

// TestAuditRetention: the sweep deletes entries older than the retention
// at start-up and keeps the rest; zero retention starts nothing.
func TestAuditRetention(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	for _, age := range []time.Duration{40 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, time.Minute} {
		e := &store.AuditEntry{Action: store.AuditCreate, EntityType: store.AuditProject, EntityID: "p", CreatedAt: now.Add(-age)}
		if err := st.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		_, n, err := st.ListAudit(t.Context(), store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	startAuditRetention(st, 0, slog.New(slog.DiscardHandler))()
	if n := count(); n != 4 {
		t.Fatalf("zero retention deleted: %d left", n)
	}
	stop := startAuditRetention(st, 30*24*time.Hour, slog.New(slog.DiscardHandler))
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := count(); n != 2 {
			return fmt.Errorf("%d entries, want 2", n)
		}
		return nil
	})
	stop()
}
