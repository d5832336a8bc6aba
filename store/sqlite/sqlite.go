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
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"

	sqlite "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a SQLite-backed store.Store. The resource CRUD, the audit log, the
// users view and the plain reads are sqlcore's, promoted from the embedded
// core; this package adds the writer, the checkpointer and the hot path.
type DB struct {
	*core
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
	// lock keeps a second server off the database (lock_unix.go); it is
	// released last, when every connection is closed.
	lock *dbLock

	// seq numbers turns and the rows of the events table (turns.go).
	seq atomic.Int64
	// legacyOutbox is the largest id of the older layout's outbox table,
	// which no longer grows: a larger outbox id names a turn's part.
	legacyOutbox int64
	// sweep gathers the inbound messages committed turns consumed.
	sweep sqlcore.Sweeper

	// Statements of the hot path, prepared once on the writer connection.
	insInbound  *sql.Stmt
	dupBySID    *sql.Stmt
	dupByToken  *sql.Stmt
	insEvent    *sql.Stmt
	doneInbound *sql.Stmt
	insTurn     *sql.Stmt
	insSend     *sql.Stmt
	// setDeliveryPart records a status callback (messages.go).
	setDeliveryPart *sql.Stmt
	endConv         *sql.Stmt
	updateOutbox    *sql.Stmt
	insConv         *sql.Stmt

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
// path and applies the pending migrations. The database stays locked until
// Close: another Open of it, in this process or another, fails with an
// error naming it (lock_unix.go).
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
	// Before SQLite opens the file: a second server must not even run the
	// migrations.
	lock, err := lockDatabase(path)
	if err != nil {
		return nil, err
	}
	db, err := open(ctx, path, o)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	db.lock = lock
	return db, nil
}

// open is Open once the database is locked.
func open(ctx context.Context, path string, o options) (*DB, error) {
	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	common.Add("_pragma", "foreign_keys(1)")
	// A configured FULL or EXTRA is kept by flushing the WAL explicitly
	// (durable.go): the connections themselves run NORMAL.
	mode := strings.ToUpper(o.synchronous)
	if mode == "FULL" || mode == "EXTRA" {
		common.Add("_pragma", "synchronous(NORMAL)")
	} else {
		common.Add("_pragma", "synchronous("+mode+")")
	}

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
	db.dur.syncWrites = mode == "FULL" || mode == "EXTRA"
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
	db.wroteOne() // the migrations, if any, are made durable now
	if err := db.flush(); err != nil {
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
	db.core = sqlcore.New(&dialect, reader, writer, func() error {
		db.wroteOne()
		return db.flush()
	})
	db.core.Guard = db.errFailed
	if err := reader.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.startCounter(ctx); err != nil {
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
	for _, s := range []*sql.Stmt{db.insInbound, db.dupBySID, db.dupByToken, db.insEvent, db.doneInbound, db.insTurn, db.insSend, db.setDeliveryPart, db.endConv,
		db.updateOutbox, db.insConv, db.readActive, db.readOptedOut, db.readRecent} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close(), db.closeDurability(), db.lock.release())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// migrate applies the pending migrations (see sqlcore.Migrate) through
// the writer.
func (db *DB) migrate(ctx context.Context) error {
	own, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: read migrations: %w", err)
	}
	return dialect.Migrate(ctx, db.writer, own)
}

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

// inTx runs fn in a write transaction and makes it durable (flush).
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := db.writeTx(ctx, op, fn); err != nil {
		return err
	}
	return db.flush()
}

// writeTx runs fn in a write transaction, committed without waiting for
// the disk (see durable.go).
func (db *DB) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
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
	db.wroteOne()
	return nil
}

// wroteOne counts a committed write transaction: for the checkpointer, and
// for the flushes that must cover it.
func (db *DB) wroteOne() {
	db.commits.Add(1)
	db.dur.written.Add(1)
}
