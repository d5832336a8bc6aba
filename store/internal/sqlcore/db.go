package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/store"
)

// DB runs the shared queries of a store. Stores embed it, so its methods
// are the store's methods; what a store defines itself (its hot path)
// takes precedence.
type DB struct {
	d       *Dialect
	reader  *sql.DB
	writer  *sql.DB
	onWrite func() error
	// Guard, when set, is asked before every write; its error is returned
	// instead of writing (a store whose flush failed refuses writes).
	Guard func() error
}

// guard returns Guard's verdict.
func (db *DB) guard() error {
	if db.Guard == nil {
		return nil
	}
	return db.Guard()
}

// New returns a DB that reads through reader and writes through writer
// (the same pool on PostgreSQL; SQLite's read pool and single writer
// connection). onWrite, when not nil, is called after each write that
// succeeded (SQLite counts them for its checkpointer and makes them
// durable); its error is the write's: written, but not known to be
// durable.
func New(d *Dialect, reader, writer *sql.DB, onWrite func() error) *DB {
	return &DB{d: d, reader: reader, writer: writer, onWrite: onWrite}
}

func (db *DB) wrote() error {
	if db.onWrite != nil {
		return db.onWrite()
	}
	return nil
}

// Scanner is what *sql.Row and *sql.Rows share (and pgx's rows, which
// accept the sql.Scanner targets the scan functions use).
type Scanner interface {
	Scan(dest ...any) error
}

// Ref names one row of a versioned table, optionally scoped to a project.
type Ref struct {
	Table, What, ID, ProjectID string
	Scoped                     bool
}

func (r Ref) where() (string, []any) {
	if r.Scoped {
		return ` WHERE id = ? AND project_id = ?`, []any{r.ID, r.ProjectID}
	}
	return ` WHERE id = ?`, []any{r.ID}
}

// NewMeta returns the Meta of a record being created: its ID (a new one
// with prefix unless set), now as creation and update time, version 1.
func NewMeta(m store.Meta, prefix string) store.Meta {
	if m.ID == "" {
		m.ID = store.NewID(prefix)
	}
	t := Now()
	m.CreatedAt, m.UpdatedAt, m.Version = t, t, 1
	return m
}

// exec runs a write and returns how many rows it changed.
func (db *DB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if err := db.guard(); err != nil {
		return 0, err
	}
	res, err := db.writer.ExecContext(ctx, db.d.Q(q), args...)
	if err != nil {
		return 0, err
	}
	if err := db.wrote(); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// row runs a query that returns one row on the read pool.
func (db *DB) row(ctx context.Context, q string, args ...any) *sql.Row {
	return db.reader.QueryRowContext(ctx, db.d.Q(q), args...)
}

// count runs a SELECT COUNT(…) on the read pool.
func (db *DB) count(ctx context.Context, op, q string, args ...any) (int, error) {
	var n int
	if err := db.row(ctx, q, args...).Scan(&n); err != nil {
		return 0, db.d.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// getOne scans the one row of q: no row is missing(), another error an
// internal one of op.
func getOne[T any](ctx context.Context, db *DB, op string, missing func() error, scan func(Scanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(db.row(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, missing()
	}
	if err != nil {
		return v, db.d.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// get returns the row r.
func get[T any](ctx context.Context, db *DB, r Ref, cols string, scan func(Scanner) (T, error)) (T, error) {
	where, args := r.where()
	return getOne(ctx, db, "get "+r.What+" "+r.ID, func() error { return NotFound(r.What, r.ID) }, scan, `SELECT `+cols+` FROM `+r.Table+where, args...)
}

// queryAll runs a query on the read pool and scans every row (nil for
// none).
func queryAll[T any](ctx context.Context, db *DB, op, q string, args []any, scan func(Scanner) (T, error)) ([]T, error) {
	rows, err := db.reader.QueryContext(ctx, db.d.Q(q), args...)
	if err != nil {
		return nil, db.d.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, db.d.Errorf("%s: %w", op, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, db.d.Errorf("%s: %w", op, err)
	}
	return items, nil
}

// page runs the count query and, when the page is not past the end, the
// page query (with LIMIT ? OFFSET ? to append) of a list. The page is
// never nil.
func page[T any](ctx context.Context, db *DB, op, countQ, pageQ string, args []any, opts store.ListOptions, scan func(Scanner) (T, error)) ([]T, int, error) {
	opts = opts.Normalize()
	total, err := db.count(ctx, op, countQ, args...)
	if err != nil {
		return nil, 0, err
	}
	items := []T{}
	if total == 0 || opts.Offset >= total {
		return items, total, nil
	}
	more, err := queryAll(ctx, db, op, pageQ+` LIMIT ? OFFSET ?`, append(args, opts.Limit, opts.Offset), scan)
	if err != nil {
		return nil, 0, err
	}
	return append(items, more...), total, nil
}

// update sets the columns of set (a "col = ?, ..." list with its args) on
// the row r if its version is version, bumping version and updated_at, and
// returns the row as stored.
func update[T any](ctx context.Context, db *DB, r Ref, version int64, set string, args []any, cols string, scan func(Scanner) (T, error)) (T, error) {
	where, wargs := r.where()
	q := `UPDATE ` + r.Table + ` SET ` + set + `, updated_at = ?, version = version + 1` + where + ` AND version = ? RETURNING ` + cols
	all := append(append(append(args, db.d.Time(Now())), wargs...), version)
	if err := db.guard(); err != nil {
		var zero T
		return zero, err
	}
	v, err := scan(db.writer.QueryRowContext(ctx, db.d.Q(q), all...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, db.versionErr(ctx, r)
	}
	if err != nil {
		return v, db.d.WriteErr("update "+r.What, r.What, err)
	}
	if err := db.wrote(); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// remove deletes the row r if its version is version.
func (db *DB) remove(ctx context.Context, r Ref, version int64) error {
	where, args := r.where()
	n, err := db.exec(ctx, `DELETE FROM `+r.Table+where+` AND version = ?`, append(args, version)...)
	if err != nil {
		return db.d.DeleteErr("delete "+r.What, r.What, err)
	}
	if n == 0 {
		return db.versionErr(ctx, r)
	}
	return nil
}

// versionErr explains why an update or delete of r matched nothing: the
// row is missing or has another version. It reads through the writer, so
// that on SQLite it sees what the failed write saw.
func (db *DB) versionErr(ctx context.Context, r Ref) error {
	where, args := r.where()
	var have int64
	err := db.writer.QueryRowContext(ctx, db.d.Q(`SELECT version FROM `+r.Table+where), args...).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		return NotFound(r.What, r.ID)
	}
	if err != nil {
		return db.d.Errorf("check version of %s %s: %w", r.What, r.ID, err)
	}
	return &store.Error{Code: store.ECONFLICT, Message: fmt.Sprintf("version mismatch: have %d", have), Details: map[string]int64{"version": have}}
}

// inTx runs fn in a write transaction.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := db.guard(); err != nil {
		return err
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return db.d.Errorf("%s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return db.d.Errorf("%s: commit: %w", op, err)
	}
	if err := db.wrote(); err != nil {
		return err
	}
	return nil
}
