package test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// postgresURL creates a fresh database on the test PostgreSQL server
// (SWITCHBOARD_TEST_POSTGRES_URL, or a private one when PostgreSQL is
// installed: testutil.PostgresURL) and returns its URL; it skips the test,
// visibly, when there is none, and fails when the server is unreachable.
func postgresURL(t *testing.T) string {
	t.Helper()
	base := testutil.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL unreachable: %v", err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("sb_e2e_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestPostgresEndToEnd runs the binary on PostgreSQL: a conversation, a
// restart that continues it, and a duplicate delivery.
func TestPostgresEndToEnd(t *testing.T) {
	db := postgresURL(t)
	sim := newSim(t, twiliosim.Options{})
	// PostgreSQL has no key file: without a key, provider secrets are
	// refused (see TestPostgresRefusesSecretsWithoutKey).
	env := map[string]string{"DATABASE_URL": db, "SWITCHBOARD_SECRET_KEY": strings.Repeat("3c", 32)}
	s := startServer(t, "", env)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15558000001", "hello")
	l.waitReplies(t, "+15558000001", 1, 10*time.Second)
	p := twiliosim.InboundParamsFor(l.AccountSID, "+15558000001", l.Number, "again", twiliosim.NewMessageSID())
	for i := 0; i < 2; i++ {
		if code, _ := l.post(l.Webhook, p, nil); code != 200 {
			t.Fatalf("webhook %d", code)
		}
	}
	l.waitReplies(t, "+15558000001", 2, 10*time.Second)
	l.restart(t, "", env)
	l.mustText(t, "+15558000001", "after restart")
	got := l.waitReplies(t, "+15558000001", 3, 10*time.Second)
	want := []string{"R1: hello", "R2: again", "R3: after restart"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies %q, want %q", got, want)
	}
}
