package sqlcore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchboard/store"
)

// Dialect is what differs between the SQL engines for the code of this
// package; each store defines one value of it.
type Dialect struct {
	// Name prefixes internal errors ("sqlite", "postgres").
	Name string
	// Numbered rebinds ? placeholders as $1, $2, … (PostgreSQL).
	Numbered bool
	// Time converts a time to the stored form, a query argument.
	Time func(time.Time) any
	// True is the SQL that tests a boolean column true ("= 1" on SQLite,
	// where booleans are INTEGER, "" on PostgreSQL).
	True string
	// Contains is the SQL that a column contains the string of a ?
	// placeholder (instr, strpos).
	Contains func(col string) string
	// FoldASCII lowers the ASCII letters of a column and nothing else, so
	// that a text search matches the same rows on both engines.
	FoldASCII func(col string) string
	// JSONField is the SQL of a top-level text field of a JSON column.
	JSONField func(col, field string) string
	// ListHas is the SQL that a list column (a JSON array of strings)
	// holds the string of a ? placeholder (a tags or roles filter).
	ListHas func(col string) string
	// Binary, when set, makes a text column compare in byte order (the C
	// collation on PostgreSQL; SQLite's text compares so already), so
	// that gt, lt and between filters select the same rows on both.
	Binary func(col string) string
	// LockTable, when not empty, is run (with the table's name put in for
	// %s) before a check-then-insert that must see no concurrent insert.
	// SQLite needs none: its single writer connection serialises writes.
	LockTable string
	// MigrationLock, when not empty, is run first in each migration's
	// transaction.
	MigrationLock string
	// Types are the dialect's column types, for the migration templates.
	Types Types
	// IsUnique reports a unique or primary key violation.
	IsUnique func(error) bool
	// IsForeignKey reports a foreign key violation, on insert or on the
	// delete of a referenced row.
	IsForeignKey func(error) bool
}

// Types names the column types that differ between the engines; the
// shared migrations are templates over it (see the package doc).
type Types struct {
	Time, Bool, BigInt, Serial string
}

// The column types of each engine. SQLite stores times as INTEGER
// microseconds and booleans as INTEGER; an INTEGER PRIMARY KEY is its
// rowid, generated on insert.
var (
	SQLiteTypes   = Types{Time: "INTEGER", Bool: "INTEGER", BigInt: "INTEGER", Serial: "INTEGER PRIMARY KEY"}
	PostgresTypes = Types{Time: "TIMESTAMPTZ", Bool: "BOOLEAN", BigInt: "BIGINT", Serial: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}
)

// Q returns q with its placeholders in the dialect's form.
func (d *Dialect) Q(q string) string {
	if !d.Numbered {
		return q
	}
	return Rebind(q)
}

// Rebind turns the ? placeholders of q into $1, $2, …. A ? inside a string
// literal is not told apart: none of the store's queries has one.
func Rebind(q string) string {
	var sb strings.Builder
	sb.Grow(len(q) + 8)
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

// binary is Binary's SQL for col (col itself without one).
func (d *Dialect) binary(col string) string {
	if d.Binary == nil {
		return col
	}
	return d.Binary(col)
}

// NullTime converts an optional time to the stored form (NULL for nil).
func (d *Dialect) NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// Errorf returns an internal error prefixed with the dialect's name.
func (d *Dialect) Errorf(format string, args ...any) error {
	return fmt.Errorf(d.Name+": "+format, args...)
}

// WriteErr classifies an error of a create or update of what: unique
// violations are ECONFLICT, references to missing records EINVALID.
func (d *Dialect) WriteErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case d.IsUnique(err):
		return &store.Error{Code: store.ECONFLICT, Message: what + " already exists"}
	case d.IsForeignKey(err):
		return &store.Error{Code: store.EINVALID, Message: what + " references a record that does not exist"}
	}
	return d.Errorf("%s: %w", op, err)
}

// DeleteErr classifies an error of a delete: a record still referenced is
// ECONFLICT.
func (d *Dialect) DeleteErr(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	case d.IsForeignKey(err):
		return store.Errorf(store.ECONFLICT, "%s is still in use", what)
	}
	return d.Errorf("%s: %w", op, err)
}

// NotFound is the ENOTFOUND error of the record what with the id.
func NotFound(what, id string) error {
	return store.Errorf(store.ENOTFOUND, "%s %s not found", what, id)
}

// notFoundMsg returns a function making the ENOTFOUND error msg, for
// getOne.
func notFoundMsg(msg string) func() error {
	return func() error { return store.Errorf(store.ENOTFOUND, "%s", msg) }
}
