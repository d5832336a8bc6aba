// Package sqlcore is the part of the SQL stores that is the same on SQLite
// and PostgreSQL: the resource CRUD with versions (operators, tokens,
// providers, projects, agents, stages, API keys), the audit log, the users
// view, the opt-outs, the plain read queries of conversations, events and
// the outbox, the list/get/update/delete helpers, the encoding of JSON,
// lists and times, the classification of errors and the migration
// bookkeeping. store/sqlite and store/postgres each embed a *DB and keep
// only what really differs: the hot commit path (SQLite's single writer
// with prepared statements, PostgreSQL's pipelines on pgx), SQLite's
// checkpointer, and the engine's hot reads.
//
// # Why database/sql on both
//
// Everything here is written once against database/sql with ?
// placeholders. SQLite is database/sql already (modernc.org/sqlite);
// PostgreSQL exposes its pgx pool through pgx's stdlib.OpenDBFromPool,
// which shares the pool's connections and statement caches and keeps no
// idle connections of its own, so the pipelines of the hot path are never
// starved. database/sql costs PostgreSQL some allocations per call next
// to pgx's native interface (BenchmarkCRUD in store/postgres); none of
// these calls is made per message: the engine reads an opt-out and counts
// a conversation's turns once per conversation it loads.
//
// A query added here is written with ? placeholders (DB runs it through
// Dialect.Q), passes times through Dialect.Time and scans them into Time
// or NullTime, and JSON and list fields through JSONText/JSONBytes and
// ListText/ParseList; the conformance suite (store/storetest) runs it on
// both engines.
//
// # What a Dialect says
//
// A Dialect holds the few things that differ between the engines, each a
// value or a small function: how ? placeholders are rebound ($1, $2, …),
// how a time is written (INTEGER microseconds or TIMESTAMPTZ; it is read
// back by Time and NullTime, which accept both), how a boolean column is
// tested in SQL, a few SQL functions (substring search, ASCII case
// folding, a JSON field), how a table is locked for a check-then-insert,
// and which driver errors are unique and foreign key violations. The
// upsert of the opt-outs (INSERT … ON CONFLICT … DO UPDATE SET … excluded)
// is the same text on both engines and needs no entry.
//
// Errors keep the mapping both stores always had: a unique violation on
// create or update is store.ECONFLICT, a reference to a missing record
// store.EINVALID, a delete of a record still referenced store.ECONFLICT,
// a missing row store.ENOTFOUND, a stale version store.ECONFLICT with the
// stored version in its details; anything else is internal, prefixed with
// the store's name.
//
// # Lists
//
// Every list (lists.go) is described once, by a listSpec: the fields the
// API's filters and orderBy may name, each mapped to an SQL expression
// written in that file, the expressions textSearch looks in, what a
// "tag:" search does, and the default order (newest first, as Bonsai's).
// store.ListOptions.Check refuses a field or operator the spec does not
// have before any SQL is built; values are always placeholders, so
// nothing a client sends reaches the SQL text. Text compares in byte
// order and like and the search ignore ASCII case only, on both engines
// (Dialect.Binary, Dialect.FoldASCII), so a filter selects the same rows
// on SQLite and PostgreSQL; NULL sorts as the smallest value on both.
//
// Indexes serve the default orders and the console's common filters on
// the long lists (0006_list_indexes): conversations by project newest
// first (conversations_list, read backwards), by status and by user;
// the audit log newest first, by project and by action. The events and
// outbox tables, whose layout is being redesigned, get no new index:
// their lists are one conversation's rows, read through
// events_conversation and outbound_conversation (conversation_id, id); a
// filter on event type or outbox state then reads the conversation's rows
// and tests each, which a (conversation_id, event_type, id) or
// (conversation_id, state, id) index would spare once a conversation's
// history is long.
//
// # Migrations
//
// Migrate applies, in version order, each migration not yet recorded in
// schema_migrations, in its own transaction (under the dialect's lock, an
// advisory lock on PostgreSQL, so that nodes starting together do not race).
// A migration is a file NNNN_name.sql, either in the store's own
// migrations folder (written for that engine: 0001_init, kept as it was
// applied) or in this package's migrations folder, shared by both stores.
// A version number is used once across both folders; versions and names
// are what schema_migrations records, so neither ever changes.
//
// A new migration is written once, here, as a text/template over the
// dialect's type names: {{.Time}} for a time (INTEGER microseconds on
// SQLite, TIMESTAMPTZ on PostgreSQL), {{.Bool}} (INTEGER, BOOLEAN),
// {{.BigInt}} (INTEGER, BIGINT) and {{.Serial}} for a generated integer
// primary key (INTEGER PRIMARY KEY, BIGINT GENERATED ALWAYS AS IDENTITY
// PRIMARY KEY); JSON stays TEXT on both. For example:
//
//	CREATE TABLE leases (
//		name       TEXT PRIMARY KEY,
//		holder     TEXT NOT NULL,
//		active     {{.Bool}} NOT NULL,
//		expires_at {{.Time}} NOT NULL
//	);
//
// Only a migration that needs what one engine cannot express goes into a
// store's own folder, under a version number of its own. 0003 and 0004
// were the same text in both stores and moved here unchanged; 0002 moved
// here as a template whose rendering is, byte for byte, each store's old
// file (TestMigrationsRenderAsApplied keeps it so).
package sqlcore
