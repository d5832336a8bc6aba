package webhook

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/store"
)

// A text to an archived project is answered 200 with empty TwiML (Twilio
// must not retry it), never reaches the engine, and is counted; once the
// project is unarchived (and the cache period over) texts get through.
func TestArchivedProjectDropsTexts(t *testing.T) {
	var st store.Store
	m := NewMetrics(prometheus.NewRegistry())
	f := newHandlerFixtureWith(t, func(o *Options) {
		st, o.Metrics, o.CacheTTL = o.Store, m, time.Nanosecond
	})
	ctx := context.Background()
	ps, _, err := st.ListProjects(ctx, store.ListOptions{})
	if err != nil || len(ps) != 1 {
		t.Fatalf("projects: %d, %v", len(ps), err)
	}
	p := ps[0]
	at := time.Now()
	p.ArchivedAt, p.ArchivedBy = &at, ptr("admin")
	if err := st.UpdateProject(ctx, p, p.Version); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, f.request("SM00000000000000000000000000000001"))
	if w.Code != 200 || w.Body.String() != "<Response/>" || f.accepts.Load() != 0 {
		t.Fatalf("archived: %d %q, %d accepted", w.Code, w.Body.String(), f.accepts.Load())
	}
	var c dto.Metric
	if err := m.webhooks.WithLabelValues("project_archived").Write(&c); err != nil || c.GetCounter().GetValue() != 1 {
		t.Fatalf("project_archived counted %v times (%v)", c.GetCounter().GetValue(), err)
	}

	p.ArchivedAt, p.ArchivedBy = nil, nil
	if err := st.UpdateProject(ctx, p, p.Version); err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	f.router.ServeHTTP(w, f.request("SM00000000000000000000000000000002"))
	if w.Code != 200 || f.accepts.Load() != 1 {
		t.Fatalf("unarchived: %d, %d accepted", w.Code, f.accepts.Load())
	}
}

func ptr[T any](v T) *T { return &v }
