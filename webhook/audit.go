package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"switchboard/store"
)

// Signature failures reach the audit log in aggregate: a forged-webhook
// flood must not become one audit row (one database write) per request.
// The first failure of a provider opens a window; when the window closes
// (Options.AuditInterval later, default one minute) one SIGNATURE_FAILURES
// entry records how many failures the window saw and their reasons. So a
// provider gets at most one entry per interval, and an idle one costs
// nothing. Accepted messages never touch the aggregator.

// defaultAuditInterval is the default aggregation window.
const defaultAuditInterval = time.Minute

// sigAudit aggregates signature failures per provider. A nil *sigAudit
// (no Options.Audit) records nothing.
type sigAudit struct {
	write    func(context.Context, *store.AuditEntry) error
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	closed  bool
	pending map[string]*sigWindow // provider id → its open window
	writing sync.WaitGroup        // windows the timers are writing
}

// sigWindow is one provider's open aggregation window.
type sigWindow struct {
	since   time.Time
	count   int
	reasons map[string]int
	timer   *time.Timer
}

func newSigAudit(opts Options, log *slog.Logger) *sigAudit {
	if opts.Audit == nil {
		return nil
	}
	iv := opts.AuditInterval
	if iv <= 0 {
		iv = defaultAuditInterval
	}
	return &sigAudit{write: opts.Audit, interval: iv, log: log, pending: map[string]*sigWindow{}}
}

// signatureFailure counts a failed signature check of provider's webhook
// in the metrics and in the provider's audit window.
func (h *Handler) signatureFailure(providerID, reason string) {
	h.m.signatureFailure(reason)
	h.audit.fail(providerID, reason)
}

// fail adds one failure to provider's window, opening it if needed. The
// provider id is a stored provider's (failures are counted after the
// provider lookup), so the windows are bounded by the providers.
func (a *sigAudit) fail(providerID, reason string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	w := a.pending[providerID]
	if w == nil {
		w = &sigWindow{since: time.Now().UTC(), reasons: map[string]int{}}
		w.timer = time.AfterFunc(a.interval, func() { a.flush(providerID, w) })
		a.pending[providerID] = w
	}
	w.count++
	w.reasons[reason]++
}

// flush closes provider's window w (if it is still open) and writes its
// entry.
func (a *sigAudit) flush(providerID string, w *sigWindow) {
	a.mu.Lock()
	if a.pending[providerID] != w {
		a.mu.Unlock()
		return // already flushed by Close
	}
	delete(a.pending, providerID)
	a.writing.Add(1)
	a.mu.Unlock()
	defer a.writing.Done()
	a.writeWindow(providerID, w)
}

// writeWindow appends the entry of a closed window.
func (a *sigAudit) writeWindow(providerID string, w *sigWindow) {
	details, _ := json.Marshal(map[string]any{
		"count":   w.count,
		"reasons": w.reasons,
		"since":   w.since,
		"until":   time.Now().UTC(),
	})
	e := &store.AuditEntry{
		Action:     store.AuditSignatureFailures,
		EntityType: store.AuditProvider,
		EntityID:   providerID,
		NewEntity:  details,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.write(ctx, e); err != nil {
		a.log.Error("audit write of signature failures failed", "provider_id", providerID, "count", w.count, "err", err)
	}
}

// close writes every open window now and stops accepting failures.
func (a *sigAudit) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.closed = true
	ids := make([]string, 0, len(a.pending))
	for id, w := range a.pending {
		w.timer.Stop()
		ids = append(ids, id)
	}
	sort.Strings(ids)
	windows := a.pending
	a.pending = map[string]*sigWindow{}
	a.mu.Unlock()
	for _, id := range ids {
		a.writeWindow(id, windows[id])
	}
	a.writing.Wait()
}

// Close writes the signature failures still being aggregated to the audit
// log. Call it once the HTTP server no longer serves the webhook.
func (h *Handler) Close() {
	h.audit.close()
}
