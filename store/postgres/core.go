package postgres

import (
	"fmt"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// core is embedded in DB under an unexported name, so that its methods are
// promoted without its type becoming part of this package's API.
type core = sqlcore.DB

// dialect is what PostgreSQL does its own way for the shared core.
var dialect = sqlcore.Dialect{
	Name:     "postgres",
	Numbered: true,
	Time:     func(t time.Time) any { return t },
	Contains: func(col string) string { return "strpos(" + col + ", ?) > 0" },
	// Under the C collation lower() folds ASCII only, as SQLite's LOWER.
	FoldASCII:     func(col string) string { return `LOWER(` + col + ` COLLATE "C")` },
	JSONField:     func(col, field string) string { return "(" + col + "::jsonb) ->> '" + field + "'" },
	ListHas:       func(col string) string { return "(" + col + "::jsonb) @> jsonb_build_array(?::text)" },
	Binary:        func(col string) string { return col + ` COLLATE "C"` },
	LockTable:     "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE",
	MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
	Types:         sqlcore.PostgresTypes,
	IsUnique:      func(err error) bool { return pgCode(err) == pgUniqueViolation },
	IsForeignKey:  func(err error) bool { return pgCode(err) == pgForeignKeyViolation },
}

// The shared helpers under the names the hot path uses.

const (
	outboundCols = sqlcore.OutboundCols
	eventCols    = sqlcore.EventCols
	convCols     = sqlcore.ConvCols
)

type scanner = sqlcore.Scanner

func now() time.Time                            { return sqlcore.Now() }
func jsonText(b []byte) any                     { return sqlcore.JSONText(b) }
func listText(l []string) any                   { return sqlcore.ListText(l) }
func notFound(what, id string) error            { return sqlcore.NotFound(what, id) }
func writeErr(op, what string, err error) error { return dialect.WriteErr(op, what, err) }

func newMeta(m store.Meta, prefix string) store.Meta { return sqlcore.NewMeta(m, prefix) }
func deliveryRank(expr string) string                { return sqlcore.DeliveryRank(expr) }

func scanConversation(s scanner) (*store.Conversation, error) { return sqlcore.ScanConversation(s) }
func scanEvent(s scanner) (*store.Event, error)               { return sqlcore.ScanEvent(s) }
func scanOutbound(s scanner) (*store.OutboundMessage, error)  { return sqlcore.ScanOutbound(s) }
