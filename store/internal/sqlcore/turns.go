package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/store"
)

// The message layout (migration 0007 of each store): a turn is one row of
// the turns table, written by one INSERT. Its events, its outbox parts and
// the inbound messages it consumed are JSON in the row; a send result is
// one narrow row of the sends table (turn, part), which status callbacks
// update. The events and outbox APIs read the views event_log and
// outbox_log, which merge the turns and their sends with the tables of the
// older layout; a conversation's deadline and updatedAt are its last
// turn's (the view conversation_state).

// TurnStride is how many ids a turn numbers: the k-th event of turn t is
// event t*TurnStride+k, its j-th part outbox row t*TurnStride+j, and that
// part's delivery event t*TurnStride+(number of events)+j. Rows still
// written to the events table take t*TurnStride from the same counter, so
// that every event of a conversation has one order by id.
const TurnStride = store.TurnStride

// turnEvent is an event stored in a turn row.
type turnEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	At   int64           `json:"at"` // microseconds since the epoch
}

// turnPart is an outbox part stored in a turn row, as it was written; its
// send result is a row of the sends table.
type turnPart struct {
	Body           string `json:"body"`
	Part           int    `json:"part"`
	Parts          int    `json:"parts"`
	State          string `json:"state"`
	Attempts       int    `json:"attempts,omitempty"`
	ErrorCode      int    `json:"errorCode,omitempty"`
	ErrorMessage   string `json:"errorMessage,omitempty"`
	SID            string `json:"sid,omitempty"`
	DeliveryStatus string `json:"deliveryStatus,omitempty"`
	// What a part may send besides its body (store.OutboundMessage).
	Media            []string `json:"media,omitempty"`
	ContentSID       string   `json:"contentSid,omitempty"`
	ContentVariables string   `json:"contentVariables,omitempty"`
}

// TurnRow is what a turn stores in its row, besides the columns the
// store takes from the turn itself.
type TurnRow struct {
	Inbound  any // JSON array of the consumed inbound ids, or nil
	Events   string
	Parts    string
	Unsent   int
	Deadline *time.Time // nil: the turn leaves the deadline as it was
	// From and To are the parts' addresses, ProjectID and ProviderID
	// theirs too ("" when the turn has no parts).
	ProjectID, ProviderID, From, To string
}

// HasRow reports whether a turn with a conversation writes a turn row:
// a turn that only records send results does not.
func HasRow(t *store.Turn) bool {
	return t.ConversationID != "" && (t.NewConversation != nil || !t.Deadline.IsZero() || len(t.Events) > 0 ||
		len(t.Outbox) > 0 || len(t.InboundIDs) > 0)
}

// EncodeTurn returns the row of a turn committed at t, filling in what the
// commit decides: the events' and parts' conversation and times, and the
// parts' default state. A turn with more events and parts than its ids
// can number, or whose parts do not share one sender, recipient and
// provider, is EINVALID.
func EncodeTurn(turn *store.Turn, t time.Time) (TurnRow, error) {
	var r TurnRow
	if len(turn.Events)+len(turn.Outbox) > TurnStride {
		return r, store.Errorf(store.EINVALID, "a turn may carry at most %d events and outbox parts", TurnStride)
	}
	evs := make([]turnEvent, len(turn.Events))
	for i := range turn.Events {
		e := &turn.Events[i]
		if e.ConversationID == "" {
			e.ConversationID = turn.ConversationID
		}
		if e.ConversationID != turn.ConversationID {
			return r, store.Errorf(store.EINVALID, "a turn's events belong to its conversation")
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = t
		} else {
			e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		}
		evs[i] = turnEvent{Type: e.EventType, At: Micros(e.CreatedAt)}
		if len(e.EventData) > 0 {
			evs[i].Data = e.EventData
		}
	}
	parts := make([]turnPart, len(turn.Outbox))
	for j, o := range turn.Outbox {
		if o.ConversationID == "" {
			o.ConversationID = turn.ConversationID
		}
		if o.State == "" {
			o.State = store.OutboxPending
		}
		if j == 0 {
			r.ProjectID, r.ProviderID, r.From, r.To = o.ProjectID, o.ProviderID, o.From, o.To
		} else if o.ProjectID != r.ProjectID || o.ProviderID != r.ProviderID || o.From != r.From || o.To != r.To {
			return r, store.Errorf(store.EINVALID, "a turn's outbox parts go from one sender to one recipient")
		}
		if o.ConversationID != turn.ConversationID {
			return r, store.Errorf(store.EINVALID, "a turn's outbox parts belong to its conversation")
		}
		o.CreatedAt, o.UpdatedAt = t, t
		parts[j] = turnPart{Body: o.Body, Part: o.Part, Parts: o.Parts, State: o.State, Attempts: o.Attempts,
			ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage, SID: o.TwilioSID, DeliveryStatus: o.DeliveryStatus,
			Media: o.MediaURLs, ContentSID: o.ContentSID, ContentVariables: o.ContentVariables}
		if o.State == store.OutboxPending {
			r.Unsent++
		}
	}
	b, err := json.Marshal(evs)
	if err != nil {
		return r, err
	}
	r.Events = string(b)
	if b, err = json.Marshal(parts); err != nil {
		return r, err
	}
	r.Parts = string(b)
	if len(turn.InboundIDs) > 0 {
		b, err := json.Marshal(turn.InboundIDs)
		if err != nil {
			return r, err
		}
		r.Inbound = string(b)
	}
	if !turn.Deadline.IsZero() {
		d := turn.Deadline.UTC().Truncate(time.Microsecond)
		r.Deadline = &d
	}
	return r, nil
}

// CommittedTurn reports whether the conversation's last turn row consumed
// inbound message inboundID (store.TurnFinder).
func (db *DB) CommittedTurn(ctx context.Context, conversationID string, inboundID int64) (int64, bool, error) {
	var id int64
	var inbound sql.NullString
	err := db.row(ctx, `SELECT id, inbound_ids FROM turns WHERE conversation_id = ? ORDER BY id DESC LIMIT 1`, conversationID).Scan(&id, &inbound)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, db.d.Errorf("committed turn: %w", err)
	}
	if inboundID == 0 {
		// A conversation's opening turn without inbound messages (a start
		// from the API): the conversation exists only through it.
		return id, true, nil
	}
	if !inbound.Valid {
		return 0, false, nil
	}
	var ids []int64
	if err := json.Unmarshal([]byte(inbound.String), &ids); err != nil {
		return 0, false, db.d.Errorf("committed turn: %w", err)
	}
	return id, slices.Contains(ids, inboundID), nil
}

// SplitOutboxID returns the turn and the part index an outbox id of the
// turns layout names.
func SplitOutboxID(id int64) (turn int64, part int) {
	return id / TurnStride, int(id % TurnStride)
}

// SendArgs are the values of a send result u recorded at t, in the order
// of the sends table's columns (SendCols) after turn_id and part: state,
// attempts, error_code, error_message, twilio_sid, event, event_at,
// updated_at. Times are the dialect's.
func (d *Dialect) SendArgs(u store.OutboxUpdate, t time.Time) []any {
	var event, eventAt any
	if len(u.Event) > 0 {
		at := u.EventAt
		if at.IsZero() {
			at = t
		}
		event, eventAt = string(u.Event), d.Time(at.UTC().Truncate(time.Microsecond))
	}
	return []any{u.State, u.Attempts, u.ErrorCode, u.ErrorMessage, u.TwilioSID, event, eventAt, d.Time(t)}
}

// SendSQL records a send result: the arguments are the turn, the part,
// then SendArgs, then the turn again. A result for a turn that is gone
// (its conversation deleted) writes nothing; a second result for a part
// replaces the first (a delivery status already recorded is kept).
const SendSQL = `INSERT INTO sends (turn_id, part, state, attempts, error_code, error_message, twilio_sid, delivery_status,
		event, event_at, updated_at)
	SELECT ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ? WHERE EXISTS (SELECT 1 FROM turns WHERE id = ?)
	ON CONFLICT (turn_id, part) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,
		error_code = excluded.error_code, error_message = excluded.error_message, twilio_sid = excluded.twilio_sid,
		event = COALESCE(excluded.event, sends.event), event_at = COALESCE(excluded.event_at, sends.event_at),
		updated_at = excluded.updated_at`

// SendColsQ are the columns of a sends row that mergeSends reads.
const sendCols = `turn_id, part, state, attempts, error_code, error_message, twilio_sid, delivery_status, updated_at`

// TurnCols are the columns scanTurnParts reads.
const TurnCols = `id, conversation_id, project_id, provider_id, from_address, to_address, parts, created_at`

// scanTurnParts reads a turn row of TurnCols as its outbox rows, as they
// were written (mergeSends adds their results).
func scanTurnParts(s Scanner) ([]*store.OutboundMessage, error) {
	var id int64
	var conv, proj, prov, from, to, parts string
	var created Time
	if err := s.Scan(&id, &conv, &proj, &prov, &from, &to, &parts, &created); err != nil {
		return nil, err
	}
	var ps []turnPart
	if err := json.Unmarshal([]byte(parts), &ps); err != nil {
		return nil, err
	}
	out := make([]*store.OutboundMessage, len(ps))
	for j, p := range ps {
		out[j] = &store.OutboundMessage{ID: id*TurnStride + int64(j), ProjectID: proj, ConversationID: conv, ProviderID: prov,
			From: from, To: to, Body: p.Body, Part: p.Part, Parts: p.Parts, State: p.State, Attempts: p.Attempts,
			ErrorCode: p.ErrorCode, ErrorMessage: p.ErrorMessage, TwilioSID: p.SID, DeliveryStatus: p.DeliveryStatus,
			MediaURLs: p.Media, ContentSID: p.ContentSID, ContentVariables: p.ContentVariables,
			CreatedAt: created.Time, UpdatedAt: created.Time}
	}
	return out, nil
}

// Querier runs a query: a *sql.DB's, a *sql.Tx's.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// TurnParts returns the outbox rows of the turns the query q (of TurnCols,
// with ? placeholders) selects, with their send results, through qr.
func (d *Dialect) TurnParts(ctx context.Context, qr Querier, q string, args ...any) ([]*store.OutboundMessage, error) {
	rows, err := qr.QueryContext(ctx, d.Q(q), args...)
	if err != nil {
		return nil, err
	}
	var parts []*store.OutboundMessage
	byID := map[int64]*store.OutboundMessage{}
	var turns []any
	for rows.Next() {
		ps, err := scanTurnParts(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if len(ps) > 0 {
			turns = append(turns, ps[0].ID/TurnStride)
		}
		for _, p := range ps {
			byID[p.ID] = p
		}
		parts = append(parts, ps...)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for len(turns) > 0 {
		n := min(len(turns), SweepMax)
		if err := d.mergeSends(ctx, qr, turns[:n], byID); err != nil {
			return nil, err
		}
		turns = turns[n:]
	}
	return parts, nil
}

// mergeSends writes the send results of the turns into their parts.
func (d *Dialect) mergeSends(ctx context.Context, qr Querier, turns []any, byID map[int64]*store.OutboundMessage) error {
	rows, err := qr.QueryContext(ctx, d.Q(`SELECT `+sendCols+` FROM sends WHERE turn_id IN (`+placeholders(len(turns))+`)`), turns...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var turn int64
		var part int
		var state, msg, sid, delivery string
		var attempts, code int
		var updated Time
		if err := rows.Scan(&turn, &part, &state, &attempts, &code, &msg, &sid, &delivery, &updated); err != nil {
			return err
		}
		if o := byID[turn*TurnStride+int64(part)]; o != nil {
			o.State, o.Attempts, o.ErrorCode, o.ErrorMessage, o.TwilioSID, o.DeliveryStatus, o.UpdatedAt =
				state, attempts, code, msg, sid, delivery, updated.Time
		}
	}
	return rows.Err()
}

// TurnPart returns part j of turn id with its send result, through qr;
// sql.ErrNoRows if there is no such part.
func (d *Dialect) TurnPart(ctx context.Context, qr Querier, id int64, j int) (*store.OutboundMessage, error) {
	parts, err := d.TurnParts(ctx, qr, `SELECT `+TurnCols+` FROM turns WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if j < 0 || j >= len(parts) {
		return nil, sql.ErrNoRows
	}
	return parts[j], nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// ---- Inbound messages consumed by turns.

// Sweeper collects the bookkeeping that committed turns and send results
// leave, so that the store does it in bulk, riding a later commit
// (SweepSQL, UnsentSQL), instead of with each: the inbound messages the
// turns consumed are marked done, and the turns whose parts all have
// their send results leave turns_unsent. A sweep is due at most once
// every SweepEvery, or when SweepMax ids have gathered.
type Sweeper struct {
	mu    sync.Mutex
	ids   []int64 // inbound messages consumed
	turns []int64 // turns that got send results
	last  time.Time
}

const (
	// SweepEvery is how long bookkeeping waits for its sweep.
	SweepEvery = time.Second
	// SweepMax is the most ids one sweep statement names.
	SweepMax = 500
)

// Add records the inbound ids of committed turns, and the turns of the
// send results they carried.
func (s *Sweeper) Add(turns []*store.Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range turns {
		if HasRow(t) {
			s.ids = append(s.ids, t.InboundIDs...)
		}
		for _, u := range t.OutboxUpdates {
			if id := u.ID / TurnStride; len(s.turns) == 0 || s.turns[len(s.turns)-1] != id {
				s.turns = append(s.turns, id)
			}
		}
	}
}

// Sweep is one sweep's work: inbound ids to mark done, turns to check.
type Sweep struct{ Inbound, Turns []int64 }

// Empty reports whether the sweep has nothing to do.
func (w Sweep) Empty() bool { return len(w.Inbound) == 0 && len(w.Turns) == 0 }

// Take returns the work due for a sweep at now (empty when none is), which
// the caller does and then reports with Done.
func (s *Sweeper) Take(now time.Time) Sweep {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 && len(s.turns) == 0 {
		return Sweep{}
	}
	if len(s.ids) < SweepMax && len(s.turns) < SweepMax && now.Sub(s.last) < SweepEvery {
		return Sweep{}
	}
	var w Sweep
	w.Inbound, s.ids = takeUpTo(s.ids)
	w.Turns, s.turns = takeUpTo(s.turns)
	s.last = now
	return w
}

func takeUpTo(ids []int64) (taken, rest []int64) {
	n := min(len(ids), SweepMax)
	taken, rest = ids[:n:n], ids[n:]
	if len(rest) == 0 {
		rest = nil
	}
	return taken, rest
}

// Done reports how the sweep w ended: a failed one is retried.
func (s *Sweeper) Done(w Sweep, ok bool) {
	if ok || w.Empty() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(w.Inbound, s.ids...)
	s.turns = append(w.Turns, s.turns...)
}

// Statements returns the sweep's statements and their arguments (?
// placeholders).
func (w Sweep) Statements() (qs []string, args [][]any) {
	if len(w.Inbound) > 0 {
		qs, args = append(qs, SweepSQL(len(w.Inbound))), append(args, anys(w.Inbound))
	}
	if len(w.Turns) > 0 {
		qs, args = append(qs, UnsentSQL(len(w.Turns))), append(args, anys(w.Turns))
	}
	return qs, args
}

func anys(ids []int64) []any {
	a := make([]any, len(ids))
	for i, id := range ids {
		a[i] = id
	}
	return a
}

// SweepSQL marks n inbound messages done (the ids are its arguments, ?
// placeholders).
func SweepSQL(n int) string {
	return `UPDATE inbound_messages SET state = 'done' WHERE state = 'pending' AND id IN (` + placeholders(n) + `)`
}

// UnsentSQL takes out of turns_unsent those of n turns (its arguments)
// whose pending parts all have a final send result.
func UnsentSQL(n int) string {
	return `UPDATE turns SET unsent = 0 WHERE unsent > 0 AND id IN (` + placeholders(n) + `)
		AND unsent <= (SELECT COUNT(*) FROM sends s WHERE s.turn_id = turns.id AND s.state <> 'pending')`
}

// recoverySlack is how far before the oldest pending message PendingInbound
// looks for the turns that may have consumed it: turn times and receive
// times come from the same clock (of nodes sharing a database, of a
// restarted process), give or take.
const recoverySlack = 10 * time.Minute

// PendingInbound returns every pending inbound message that no turn
// consumed, in ID order. Messages whose turn committed but whose sweep did
// not (the process stopped within a second of the turn) are marked done
// here, found through the inbound ids of the turns since the oldest
// pending message.
func (db *DB) PendingInbound(ctx context.Context) ([]*store.InboundMessage, error) {
	msgs, err := queryAll(ctx, db, "pending inbound", `SELECT `+InboundCols+` FROM inbound_messages WHERE state = 'pending' ORDER BY id`, nil, ScanInbound)
	if err != nil || len(msgs) == 0 {
		return msgs, err
	}
	oldest := msgs[0].ReceivedAt
	for _, m := range msgs {
		if m.ReceivedAt.Before(oldest) {
			oldest = m.ReceivedAt
		}
	}
	consumed, err := db.consumedSince(ctx, oldest.Add(-recoverySlack))
	if err != nil {
		return nil, err
	}
	var done []int64
	keep := msgs[:0]
	for _, m := range msgs {
		if consumed[m.ID] {
			done = append(done, m.ID)
			continue
		}
		keep = append(keep, m)
	}
	if err := db.sweepNow(ctx, SweepSQL, done); err != nil {
		return nil, db.d.Errorf("pending inbound: mark consumed messages done: %w", err)
	}
	return keep, nil
}

// sweepNow runs a sweep statement (SweepSQL, UnsentSQL) over ids at once,
// SweepMax at a time: the start-up repairs of what a stopped process's
// sweeps left undone.
func (db *DB) sweepNow(ctx context.Context, stmt func(n int) string, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), SweepMax)
		if _, err := db.exec(ctx, stmt(n), anys(ids[:n])...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// consumedSince returns the inbound ids of the turns committed since
// about t, reading the turns newest first.
func (db *DB) consumedSince(ctx context.Context, t time.Time) (map[int64]bool, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT created_at, inbound_ids FROM turns ORDER BY id DESC`)
	if err != nil {
		return nil, db.d.Errorf("pending inbound: turns: %w", err)
	}
	defer rows.Close()
	consumed := map[int64]bool{}
	for rows.Next() {
		var at Time
		var inbound sql.NullString
		if err := rows.Scan(&at, &inbound); err != nil {
			return nil, db.d.Errorf("pending inbound: turns: %w", err)
		}
		if at.Before(t) {
			break
		}
		if !inbound.Valid {
			continue
		}
		var ids []int64
		if err := json.Unmarshal([]byte(inbound.String), &ids); err != nil {
			return nil, db.d.Errorf("pending inbound: turns: %w", err)
		}
		for _, id := range ids {
			consumed[id] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.d.Errorf("pending inbound: turns: %w", err)
	}
	return consumed, nil
}
