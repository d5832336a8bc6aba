// Package postgres implements store.Store on PostgreSQL with pgx/v5
// (pgxpool, no database/sql).
//
// Statements are prepared and cached per connection by pgx. The hot path
// (CommitInbound, CommitTurns) sends each batch as one pipeline. Times are
// TIMESTAMPTZ; JSON fields are TEXT, kept byte for byte, NULL standing for a
// nil Go value.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"switchboard/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a PostgreSQL-backed store.Store.
type DB struct {
	pool *pgxpool.Pool
	// dur is the hot path's deferred durability (durable.go).
	dur durability
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
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.openDurability(ctx, cfg); err != nil {
		db.Close()
		return nil, err
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
	db.pool.Close()
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("postgres: migration %s: name must be NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("postgres: duplicate migration version %d", ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies each migration not yet recorded in schema_migrations in
// its own transaction, under an advisory lock.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, m migration) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("postgres: migration %s: lock: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return fmt.Errorf("postgres: create schema_migrations: %w", err)
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		if done {
			return nil
		}
		// No arguments: the simple protocol runs the whole multi-statement file.
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, now()); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		return nil
	})
}

// now is the store's clock: UTC, truncated to microseconds (PostgreSQL's
// precision) so that every stored time round-trips unchanged.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// utc normalises a time read from the database.
func utc(t time.Time) time.Time { return t.UTC() }

// rebind turns the ? placeholders of q into $1, $2, ….
func rebind(q string) string {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(q[i])
	}
	return sb.String()
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

// writeErr classifies an error of a create or update of what: unique
// violations are ECONFLICT, references to missing records EINVALID.
func writeErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case pgCode(err) == pgUniqueViolation:
		return &store.Error{Code: store.ECONFLICT, Message: what + " already exists"}
	case pgCode(err) == pgForeignKeyViolation:
		return &store.Error{Code: store.EINVALID, Message: what + " references a record that does not exist"}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// deleteErr classifies an error of a delete: a record still referenced is
// ECONFLICT.
func deleteErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case pgCode(err) == pgForeignKeyViolation:
		return store.Errorf(store.ECONFLICT, "%s is still in use", what)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func notFound(what, id string) error {
	return store.Errorf(store.ENOTFOUND, "%s %s not found", what, id)
}

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is what pgx.Row and pgx.Rows share.
type scanner interface {
	Scan(dest ...any) error
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

// list runs the count and the page query of a list; where uses ?
// placeholders.
func list[T any](ctx context.Context, db *DB, op, cols, from, where string, args []any, opts store.ListOptions, scan func(scanner) (T, error)) ([]T, int, error) {
	opts = opts.Normalize()
	var total int
	if err := db.pool.QueryRow(ctx, rebind(`SELECT COUNT(*) FROM `+from+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: %s: %w", op, err)
	}
	items := []T{}
	if total == 0 || opts.Offset >= total {
		return items, total, nil
	}
	q := rebind(`SELECT ` + cols + ` FROM ` + from + where + ` ORDER BY created_at, id LIMIT ? OFFSET ?`)
	more, err := queryAll(ctx, db.pool, op, q, append(args, opts.Limit, opts.Offset), scan)
	if err != nil {
		return nil, 0, err
	}
	return append(items, more...), total, nil
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

// JSON helpers: nil stays NULL so that nil and empty differ.

func jsonText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func jsonBytes(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

func listText(l []string) any {
	if l == nil {
		return nil
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func parseList(s *string) ([]string, error) {
	if s == nil {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(*s), &l); err != nil {
		return nil, fmt.Errorf("postgres: decode list: %w", err)
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// rebinder runs queries written with ? placeholders.
type rebinder struct{ q querier }

func rb(q querier) rebinder { return rebinder{q} }

func (r rebinder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return r.q.Exec(ctx, rebind(sql), args...)
}

func (r rebinder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.q.Query(ctx, rebind(sql), args...)
}

func (r rebinder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return r.q.QueryRow(ctx, rebind(sql), args...)
}
