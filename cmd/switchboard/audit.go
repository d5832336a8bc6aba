package main

import (
	"context"
	"log/slog"
	"time"

	"switchboard/internal/periodic"
	"switchboard/store"
)

// auditPurgeEvery is how often the retention sweep runs.
const auditPurgeEvery = time.Hour

// startAuditRetention deletes audit entries older than retention now and
// then every hour, until the returned stop is called (stop waits for a
// sweep in progress). A zero retention keeps entries forever and starts
// nothing.
func startAuditRetention(st store.Store, retention time.Duration, log *slog.Logger) (stop func()) {
	if retention <= 0 {
		return func() {}
	}
	return periodic.Start(context.Background(), auditPurgeEvery, func(ctx context.Context) {
		n, err := st.PurgeAudit(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit retention sweep failed", "err", err)
		case n > 0:
			log.Info("audit retention sweep", "deleted", n, "retention_days", int(retention/(24*time.Hour)))
		}
	})
}
