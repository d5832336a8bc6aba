// Package postgres implements store.Store on PostgreSQL with pgx/v5.
//
// The hot path (CommitInbound, CommitTurns, CommitBatch, AppendEvents)
// sends each batch as one pipeline on the pgx pool, and the engine's
// per-message reads use pgx too; statements are prepared and cached per
// connection by pgx. The resource CRUD and the plain reads are the shared
// store core (sqlcore), which runs through database/sql on the same pool
// (stdlib.OpenDBFromPool). Times are
// TIMESTAMPTZ; JSON fields are TEXT, kept byte for byte, NULL standing for
// a nil Go value.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a PostgreSQL-backed store.Store. The resource CRUD, the audit
// log, the users view and the plain reads are sqlcore's, promoted from the
// embedded core and run through database/sql on the same pool (sqldb);
// this package adds the hot path on pgx.
type DB struct {
	*core
	pool  *pgxpool.Pool
	sqldb *sql.DB
	// dur is the hot path's deferred durability (durable.go).
	dur durability
	// legacyOutbox is the largest id of the older layout's outbox table,
	// which no longer grows: a larger outbox id names a turn's part.
	legacyOutbox int64
	// sweep gathers the inbound messages committed turns consumed.
	sweep sqlcore.Sweeper
	// fence is the node id batches are fenced with (FenceAs); nil: off.
	fence atomic.Pointer[string]
}

var (
	_ store.Store          = (*DB)(nil)
	_ store.BatchCommitter = (*DB)(nil)
)

// connectTimeout bounds connecting when the URL sets no connect_timeout, so
// that an unreachable server is reported quickly.
const connectTimeout = 5 * time.Second

// migrationLock is the advisory lock key that serialises migrations of
// several nodes starting at once.
const migrationLock = 0x53574254 // "SWBT"

// Open connects to the PostgreSQL server at url (postgres://…; pgx
// parameters such as pool_max_conns and search_path are honoured) and
// applies the pending migrations. An unreachable server is an error within
// a few seconds.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	db := &DB{core: sqlcore.New(&dialect, sqldb, sqldb, nil), pool: pool, sqldb: sqldb}
	db.core.Guard = db.errFailed
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.openDurability(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbound_messages`).Scan(&db.legacyOutbox); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return db, nil
}

// Ping checks that the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close releases the connection pool.
func (db *DB) Close() error {
	db.closeDurability()
	err := db.sqldb.Close()
	db.pool.Close()
	if err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return nil
}

// migrate applies the pending migrations (see sqlcore.Migrate) under an
// advisory lock, so that nodes starting together do not race.
func (db *DB) migrate(ctx context.Context) error {
	own, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: read migrations: %w", err)
	}
	return dialect.Migrate(ctx, db.sqldb, own)
}

// PostgreSQL error codes this package classifies.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgDeadlockDetected    = "40P01"
	pgSerializationFail   = "40001"
	pgDivisionByZero      = "22012"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a transaction.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: %s: commit: %w", op, err)
	}
	return nil
}

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, q querier, op, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", op, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	return items, nil
}

// rebinder runs queries written with ? placeholders.
type rebinder struct{ q querier }

func rb(q querier) rebinder { return rebinder{q} }

func (r rebinder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return r.q.Exec(ctx, sqlcore.Rebind(sql), args...)
}

func (r rebinder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.q.Query(ctx, sqlcore.Rebind(sql), args...)
}

func (r rebinder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return r.q.QueryRow(ctx, sqlcore.Rebind(sql), args...)
}
