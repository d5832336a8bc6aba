// Package sqlite implements store.Store on SQLite with the pure Go driver
// modernc.org/sqlite.
//
// The database runs in WAL mode. All writes go through one connection (a
// *sql.DB limited to one open connection, with BEGIN IMMEDIATE), so writers
// queue in Go instead of failing with SQLITE_BUSY; reads use a separate pool
// of query-only connections that WAL lets run beside the writer.
//
// Times are stored as INTEGER microseconds since the Unix epoch (UTC) and
// JSON fields as TEXT, NULL standing for a nil Go value.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/store"

	sqlite "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a SQLite-backed store.Store.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	// ckpt is the connection the background checkpointer uses; stopCkpt
	// stops it and ckptDone is closed when it has returned.
	ckpt     *sql.DB
	stopCkpt chan struct{}
	ckptDone chan struct{}
	stopOnce sync.Once
	// commits counts write transactions, so the checkpointer can skip its
	// tick when nothing was written since the last one.
	commits atomic.Uint64
	// dur is the hot path's deferred durability (durable.go).
	dur durability

	// Statements of the hot path, prepared once on the writer connection.
	insInbound   *sql.Stmt
	dupBySID     *sql.Stmt
	dupByToken   *sql.Stmt
	insEvent     *sql.Stmt
	doneInbound  *sql.Stmt
	insOutbound  *sql.Stmt
	touchConv    *sql.Stmt
	endConv      *sql.Stmt
	updateOutbox *sql.Stmt
	insConv      *sql.Stmt

	// Statements of the engine's hot reads, prepared once on the read pool
	// (database/sql prepares each on a pool connection when first used
	// there and keeps it).
	readActive   *sql.Stmt
	readOptedOut *sql.Stmt
	readRecent   *sql.Stmt
}

var _ store.Store = (*DB)(nil)

// writerCacheKiB is the writer connection's page cache.
const writerCacheKiB = 64 << 10

const (
	// checkpointEvery is how often the background checkpointer copies the
	// WAL back into the database file. Between two checkpoints a hot page
	// (an index's rightmost leaf) is rewritten in the WAL many times but
	// copied back once.
	checkpointEvery = 250 * time.Millisecond
	// backstopCheckpointPages is the writer's own automatic checkpoint
	// threshold (64 MiB of WAL with 4 KiB pages): reached only if the
	// background checkpointer cannot keep up.
	backstopCheckpointPages = 16384
)

type options struct {
	powerLoss   bool
	synchronous string
	busyTimeout time.Duration
	readers     int
	log         *slog.Logger
}

// Option tunes Open.
type Option func(*options)

// WithSynchronous sets PRAGMA synchronous: "FULL" (the default: a commit is
// on disk when it returns) or "NORMAL" (faster; in WAL mode a power loss may
// roll back the last commits, but the database stays consistent).
func WithSynchronous(mode string) Option {
	return func(o *options) { o.synchronous = mode }
}

// WithPowerLossModel makes the store track which part of its WAL is known
// to be on disk, for CrashCopy, and turns the background checkpointer off
// (a checkpoint would start the WAL over and blur that line). It is meant
// for tests that check what a power loss would leave.
func WithPowerLossModel() Option {
	return func(o *options) { o.powerLoss = true }
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (default 5 s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithLogger sets where the background checkpointer reports failing
// checkpoints (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithReaders sets the size of the read pool (default max(4, GOMAXPROCS)).
func WithReaders(n int) Option {
	return func(o *options) { o.readers = n }
}

// Open opens (creating it and its folder if needed) the SQLite database at
// path and applies the pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{synchronous: "FULL", busyTimeout: 5 * time.Second, readers: max(4, runtime.GOMAXPROCS(0))}
	for _, opt := range opts {
		opt(&o)
	}
	switch strings.ToUpper(o.synchronous) {
	case "FULL", "NORMAL", "EXTRA", "OFF":
	default:
		return nil, fmt.Errorf("sqlite: unknown synchronous mode %q", o.synchronous)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if err := preparePath(path); err != nil {
		return nil, err
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous("+strings.ToUpper(o.synchronous)+")")

	// The path goes into a file: URI, escaped so that '#', '?' and '%' in
	// it are not taken for URI syntax.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	uri := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), OmitHost: true}).String()

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "cache_size(-"+strconv.Itoa(writerCacheKiB)+")")
	// Checkpoints run on their own connection (see checkpointer); the
	// writer's automatic checkpoint is only a backstop should they fall
	// behind, so commits do not pay for copying the WAL back.
	wq.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(backstopCheckpointPages)+")")
	wq.Set("_txlock", "immediate")
	writer, err := sql.Open("sqlite", uri+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	db := &DB{path: path, writer: writer}
	db.dur.mode = strings.ToUpper(o.synchronous)
	db.dur.syncWrites = db.dur.mode == "FULL" || db.dur.mode == "EXTRA"
	db.dur.powerLoss = o.powerLoss
	// The writer connection is opened first: it switches the file to WAL
	// before any reader looks at it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	reader, err := sql.Open("sqlite", uri+"?"+rq.Encode())
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	reader.SetMaxOpenConns(o.readers)
	reader.SetMaxIdleConns(o.readers)
	db.reader = reader
	if err := reader.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if o.powerLoss {
		return db, nil
	}
	ckpt, err := sql.Open("sqlite", uri+"?"+common.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxLifetime(0)
	ckpt.SetConnMaxIdleTime(0)
	db.ckpt, db.stopCkpt, db.ckptDone = ckpt, make(chan struct{}), make(chan struct{})
	go db.checkpointer(o.log)
	return db, nil
}

// checkpointer copies the WAL back into the database file every
// checkpointEvery, beside the writer instead of inside its commits: a
// PASSIVE checkpoint takes no lock a writer or reader waits for. The writer
// starts the WAL over when it finds it all copied; under steady writes
// that rarely happens between two commits, so the WAL grows to the
// backstop size (64 MiB) and is restarted there, by a checkpoint that then
// has little left to copy.
func (db *DB) checkpointer(log *slog.Logger) {
	defer close(db.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	failing := false
	seen := ^uint64(0) // the first tick always checkpoints
	for {
		select {
		case <-db.stopCkpt:
			return
		case <-t.C:
		}
		n := db.commits.Load()
		if n == seen && !failing {
			continue // nothing written through inTx since the last checkpoint
		}
		seen = n
		// A failure (the disk full, say) is retried at the next tick; the
		// writer's backstop keeps the WAL bounded meanwhile. Only changes
		// between failing and working are logged.
		_, err := db.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		if (err != nil) != failing && log != nil {
			if err != nil {
				log.Warn("sqlite: background checkpoint failing; the WAL is checkpointed by the writer at 64 MiB instead", "err", err)
			} else {
				log.Info("sqlite: background checkpoint working again")
			}
		}
		failing = err != nil
	}
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Ping checks that the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	if err := db.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close releases the database.
func (db *DB) Close() error {
	var errs []error
	if db.ckpt != nil {
		db.stopOnce.Do(func() { close(db.stopCkpt) })
		<-db.ckptDone
		errs = append(errs, db.ckpt.Close())
	}
	for _, s := range []*sql.Stmt{db.insInbound, db.dupBySID, db.dupByToken, db.insEvent, db.doneInbound, db.insOutbound, db.touchConv, db.endConv,
		db.updateOutbox, db.insConv, db.readActive, db.readOptedOut, db.readRecent} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close(), db.closeDurability())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// migration is one embedded schema version.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlite: migration %s: name must be NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlite: duplicate migration version %d", ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations,
// each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := db.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, m migration) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	return nil
}

// now is the store's clock: UTC, truncated to microseconds so that every
// stored time round-trips unchanged.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// micros converts t to the stored form.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts the stored form back to a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// SQLite extended result codes this package classifies.
const (
	sqliteConstraint           = 19
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
}

// isForeignKey reports a foreign key violation: SQLITE_CONSTRAINT_FOREIGNKEY
// on insert, or the trigger-like RESTRICT error on delete.
func isForeignKey(err error) bool {
	c := sqliteCode(err)
	return c == sqliteConstraintForeignKey || (c&0xff == sqliteConstraint && strings.Contains(err.Error(), "FOREIGN KEY"))
}

// writeErr classifies an error of a create or update of what: unique
// violations are ECONFLICT, references to missing records EINVALID.
func writeErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case isUnique(err):
		return &store.Error{Code: store.ECONFLICT, Message: what + " already exists"}
	case isForeignKey(err):
		return &store.Error{Code: store.EINVALID, Message: what + " references a record that does not exist"}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// deleteErr classifies an error of a delete: a record still referenced is
// ECONFLICT.
func deleteErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case isForeignKey(err):
		return store.Errorf(store.ECONFLICT, "%s is still in use", what)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func notFound(what, id string) error {
	return store.Errorf(store.ENOTFOUND, "%s %s not found", what, id)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface {
	Scan(dest ...any) error
}

// inTx runs fn in a write transaction.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", op, err)
	}
	db.commits.Add(1)
	if db.dur.syncWrites {
		db.durableUpTo(db.walSize())
	}
	return nil
}

// list runs the count and the page query of a list.
func list[T any](ctx context.Context, db *DB, op, cols, from, where string, args []any, opts store.ListOptions, scan func(scanner) (T, error)) ([]T, int, error) {
	opts = opts.Normalize()
	var total int
	if err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+from+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	items := []T{}
	if total == 0 || opts.Offset >= total {
		return items, total, nil
	}
	q := `SELECT ` + cols + ` FROM ` + from + where + ` ORDER BY created_at, id LIMIT ? OFFSET ?`
	rows, err := db.reader.QueryContext(ctx, q, append(args, opts.Limit, opts.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return items, total, nil
}

// queryAll runs a query on the read pool and scans every row.
func queryAll[T any](ctx context.Context, q querier, op, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
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

func jsonBytes(s sql.NullString) []byte {
	if !s.Valid {
		return nil
	}
	return []byte(s.String)
}

func listText(l []string) any {
	if l == nil {
		return nil
	}
	b, _ := json.Marshal(l) // a []string always encodes
	return string(b)
}

func parseList(s sql.NullString) ([]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s.String), &l); err != nil {
		return nil, fmt.Errorf("sqlite: decode list: %w", err)
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}
