package sqlite

import (
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// core is embedded in DB under an unexported name, so that its methods are
// promoted without its type becoming part of this package's API.
type core = sqlcore.DB

// dialect is what SQLite does its own way for the shared core.
var dialect = sqlcore.Dialect{
	Name:         "sqlite",
	Time:         func(t time.Time) any { return micros(t) },
	True:         "= 1",
	Contains:     func(col string) string { return "instr(" + col + ", ?) > 0" },
	FoldASCII:    func(col string) string { return "LOWER(" + col + ")" }, // SQLite's LOWER folds ASCII only
	JSONField:    func(col, field string) string { return "json_extract(" + col + ", '$." + field + "')" },
	ListHas:      func(col string) string { return "EXISTS (SELECT 1 FROM json_each(" + col + ") WHERE value = ?)" },
	Types:        sqlcore.SQLiteTypes,
	IsUnique:     isUnique,
	IsForeignKey: isForeignKey,
}

// The shared helpers under the names the hot path uses.

const (
	outboundCols = sqlcore.OutboundCols
	eventCols    = sqlcore.EventCols
	convCols     = sqlcore.ConvCols
)

type scanner = sqlcore.Scanner

func now() time.Time                            { return sqlcore.Now() }
func micros(t time.Time) int64                  { return sqlcore.Micros(t) }
func jsonText(b []byte) any                     { return sqlcore.JSONText(b) }
func listText(l []string) any                   { return sqlcore.ListText(l) }
func notFound(what, id string) error            { return sqlcore.NotFound(what, id) }
func writeErr(op, what string, err error) error { return dialect.WriteErr(op, what, err) }

func newMeta(m store.Meta, prefix string) store.Meta { return sqlcore.NewMeta(m, prefix) }
func deliveryRank(expr string) string                { return sqlcore.DeliveryRank(expr) }

func scanConversation(s scanner) (*store.Conversation, error) { return sqlcore.ScanConversation(s) }
func scanEvent(s scanner) (*store.Event, error)               { return sqlcore.ScanEvent(s) }
func scanOutbound(s scanner) (*store.OutboundMessage, error)  { return sqlcore.ScanOutbound(s) }
