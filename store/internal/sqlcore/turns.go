package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/store"
)

// The message layout (migration 0007 of each store): a turn is one row of
// the turns table, written by one INSERT. Its events, its outbox parts and
// the inbound messages it consumed are JSON in the row; a send result
// patches its part. The events and outbox APIs read the views event_log
// and outbox_log, which merge the turns with the tables of the older
// layout; a conversation's deadline and updatedAt are its last turn's
// (the view conversation_state).

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

// turnPart is an outbox part stored in a turn row. The send result's
// fields are written by a patch (sendPatch); Event and EventAt are the
// delivery event it records.
type turnPart struct {
	Body           string          `json:"body"`
	Part           int             `json:"part"`
	Parts          int             `json:"parts"`
	State          string          `json:"state"`
	Attempts       int             `json:"attempts,omitempty"`
	ErrorCode      int             `json:"errorCode,omitempty"`
	ErrorMessage   string          `json:"errorMessage,omitempty"`
	SID            string          `json:"sid,omitempty"`
	DeliveryStatus string          `json:"deliveryStatus,omitempty"`
	UpdatedAt      int64           `json:"updatedAt,omitempty"`
	Event          json.RawMessage `json:"event,omitempty"`
	EventAt        int64           `json:"eventAt,omitempty"`
}

// sendPatch is the JSON merge patch (RFC 7396) a send result applies to
// its part: every field is written, so that a success clears an earlier
// attempt's error.
type sendPatch struct {
	State        string          `json:"state"`
	Attempts     int             `json:"attempts"`
	ErrorCode    int             `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
	SID          string          `json:"sid"`
	UpdatedAt    int64           `json:"updatedAt"`
	Event        json.RawMessage `json:"event,omitempty"`
	EventAt      int64           `json:"eventAt,omitempty"`
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
			ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage, SID: o.TwilioSID, DeliveryStatus: o.DeliveryStatus}
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

// AssignTurnIDs writes the ids of turn id's events and parts back into
// the turn.
func AssignTurnIDs(turn *store.Turn, id int64) { turn.AssignIDs(id) }

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

// PartPath is the SQLite JSON path of part j of a turn's parts.
func PartPath(j int) string { return "$[" + strconv.Itoa(j) + "]" }

// SendPatch returns the merge patch of a send result recorded at t, and
// whether it moves a pending part out of pending (the turn's unsent
// count drops).
func SendPatch(u store.OutboxUpdate, t time.Time) (string, error) {
	p := sendPatch{State: u.State, Attempts: u.Attempts, ErrorCode: u.ErrorCode, ErrorMessage: u.ErrorMessage,
		SID: u.TwilioSID, UpdatedAt: Micros(t)}
	if len(u.Event) > 0 {
		p.Event = u.Event
		at := u.EventAt
		if at.IsZero() {
			at = t
		}
		p.EventAt = Micros(at)
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// TurnCols are the columns scanTurnParts reads.
const TurnCols = `id, conversation_id, project_id, provider_id, from_address, to_address, parts, created_at`

// scanTurnParts reads a turn row of TurnCols as its outbox rows.
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
		o := &store.OutboundMessage{ID: id*TurnStride + int64(j), ProjectID: proj, ConversationID: conv, ProviderID: prov,
			From: from, To: to, Body: p.Body, Part: p.Part, Parts: p.Parts, State: p.State, Attempts: p.Attempts,
			ErrorCode: p.ErrorCode, ErrorMessage: p.ErrorMessage, TwilioSID: p.SID, DeliveryStatus: p.DeliveryStatus,
			CreatedAt: created.Time, UpdatedAt: created.Time}
		if p.UpdatedAt != 0 {
			o.UpdatedAt = FromMicros(p.UpdatedAt)
		}
		out[j] = o
	}
	return out, nil
}

// TurnPart returns part j of turn id, through q (a transaction's or the
// read pool's QueryRow, with the dialect's placeholders).
func (d *Dialect) TurnPart(ctx context.Context, q func(ctx context.Context, query string, args ...any) *sql.Row, id int64, j int) (*store.OutboundMessage, error) {
	parts, err := scanTurnParts(q(ctx, d.Q(`SELECT `+TurnCols+` FROM turns WHERE id = ?`), id))
	if err != nil {
		return nil, err
	}
	if j >= len(parts) {
		return nil, sql.ErrNoRows
	}
	return parts[j], nil
}

// ---- Inbound messages consumed by turns.

// Sweeper collects the ids of inbound messages that committed turns
// consumed, so that the store marks them done in bulk, riding a later
// commit (SweepSQL), instead of updating each with its turn: at most once
// every SweepEvery, or when SweepMax have gathered.
type Sweeper struct {
	mu   sync.Mutex
	ids  []int64
	last time.Time
}

const (
	// SweepEvery is how long consumed messages wait for their sweep.
	SweepEvery = time.Second
	// SweepMax is the most ids one sweep marks.
	SweepMax = 500
)

// Add records the inbound ids of committed turns.
func (s *Sweeper) Add(turns []*store.Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range turns {
		if HasRow(t) {
			s.ids = append(s.ids, t.InboundIDs...)
		}
	}
}

// Take returns the ids due for a sweep at now (nil when none are), which
// the caller marks done and then reports with Done.
func (s *Sweeper) Take(now time.Time) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 || (len(s.ids) < SweepMax && now.Sub(s.last) < SweepEvery) {
		return nil
	}
	n := min(len(s.ids), SweepMax)
	ids := s.ids[:n:n]
	s.ids = s.ids[n:]
	if len(s.ids) == 0 {
		s.ids = nil
	}
	s.last = now
	return ids
}

// Done reports how the sweep of ids ended: a failed one is retried.
func (s *Sweeper) Done(ids []int64, ok bool) {
	if ok || len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(ids, s.ids...)
}

// SweepSQL marks n inbound messages done (the ids are its arguments, ?
// placeholders).
func SweepSQL(n int) string {
	return `UPDATE inbound_messages SET state = 'done' WHERE state = 'pending' AND id IN (` +
		strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
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
	for len(done) > 0 {
		n := min(len(done), SweepMax)
		args := make([]any, n)
		for i, id := range done[:n] {
			args[i] = id
		}
		if _, err := db.exec(ctx, SweepSQL(n), args...); err != nil {
			return nil, db.d.Errorf("pending inbound: mark consumed messages done: %w", err)
		}
		done = done[n:]
	}
	return keep, nil
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
