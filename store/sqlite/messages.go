package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"
)

// prepare prepares the hot-path statements: the writes on the writer
// connection, which transactions reuse through Tx.StmtContext without
// re-preparing because the writer has a single connection, and the hot
// reads on the read pool.
func (db *DB) prepare(ctx context.Context) error {
	for _, p := range []struct {
		on  *sql.DB
		dst *(*sql.Stmt)
		sql string
	}{
		{nil, &db.insInbound, `INSERT INTO inbound_messages (provider_id, message_sid, idempotency_token, project_id, stage_id, agent_id,
			from_address, to_address, body, media_urls, profile_name, received_at, state, conversation_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', '') ON CONFLICT DO NOTHING`},
		{nil, &db.dupBySID, `SELECT id, state = 'pending' FROM inbound_messages WHERE provider_id = ? AND message_sid = ? AND message_sid <> ''`},
		{nil, &db.dupByToken, `SELECT id, state = 'pending' FROM inbound_messages WHERE idempotency_token = ? AND idempotency_token <> '' AND message_sid = ''`},
		{nil, &db.insEvent, `INSERT INTO events (id, conversation_id, event_type, event_data, created_at) VALUES (?, ?, ?, ?, ?)`},
		{nil, &db.doneInbound, `UPDATE inbound_messages SET state = 'done', conversation_id = ? WHERE id = ?`},
		{nil, &db.insTurn, `INSERT INTO turns (id, conversation_id, project_id, provider_id, from_address, to_address, inbound_ids,
			events, parts, unsent, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{nil, &db.insSend, sqlcore.SendSQL},
		{nil, &db.setDeliveryPart, sqlSetDeliveryPart},
		// Ending keeps the last turn's deadline on the row, so that the
		// view conversation_state reads a finished conversation's
		// deadline and updatedAt from the row alone.
		{nil, &db.endConv, `UPDATE conversations SET status = 'finished', status_details = ?, updated_at = ?, version = version + 1,
			deadline = COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = conversations.id AND t.deadline IS NOT NULL ORDER BY t.id DESC LIMIT 1), deadline)
			WHERE id = ? AND status = 'active'`},
		{nil, &db.updateOutbox, `UPDATE outbound_messages SET state = ?, attempts = ?, error_code = ?, error_message = ?, twilio_sid = ?, updated_at = ? WHERE id = ?`},
		{nil, &db.insConv, `INSERT INTO conversations (` + convCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{db.reader, &db.readActive, `SELECT ` + convCols + ` FROM conversation_state
			WHERE project_id = ? AND channel_provider_id = ? AND channel_address = ? AND user_id = ? AND status = 'active'`},
		{db.reader, &db.readOptedOut, sqlcore.OptOutQuery},
		{db.reader, &db.readRecent, `SELECT ` + eventCols + ` FROM event_log
			WHERE conversation_id = ? AND event_type = 'message' ORDER BY id DESC LIMIT ?`},
	} {
		on := p.on
		if on == nil {
			on = db.writer
		}
		s, err := on.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.dst = s
	}
	return nil
}

// ---- Conversations and events.

// insertEvent appends e to the events table with the prepared statement
// ins, filling its ID (the next number of the turn counter, times
// TurnStride: turns.go) and (when zero) CreatedAt.
func (db *DB) insertEvent(ctx context.Context, ins *sql.Stmt, e *store.Event, at time.Time) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = at
	} else {
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	id := db.nextSeq() * sqlcore.TurnStride
	if _, err := ins.ExecContext(ctx, id, e.ConversationID, e.EventType, jsonText(e.EventData), micros(e.CreatedAt)); err != nil {
		if isForeignKey(err) {
			return notFound("conversation", e.ConversationID)
		}
		return fmt.Errorf("sqlite: append event: %w", err)
	}
	e.ID = id
	return nil
}

// insertConversation inserts c, active, with the Meta m and the deadline,
// through the prepared statement ins. A session key that already has an
// active conversation is ECONFLICT.
func insertConversation(ctx context.Context, ins *sql.Stmt, c *store.Conversation, m store.Meta, deadline time.Time) error {
	_, err := ins.ExecContext(ctx, m.ID, c.ProjectID, c.StageID, c.AgentID, c.UserID, c.ChannelProviderID, c.ChannelAddress, store.ConversationActive,
		jsonText(c.StatusDetails), jsonText(c.Metadata), micros(deadline), micros(m.CreatedAt), micros(m.UpdatedAt), m.Version, store.DirectionOf(c))
	if err != nil {
		if isUnique(err) {
			return store.Errorf(store.ECONFLICT, "the session already has an active conversation")
		}
		return writeErr("create conversation", "conversation", err)
	}
	return nil
}

// CreateConversation stores c as active with its start event. A session
// key that already has an active conversation is ECONFLICT.
func (db *DB) CreateConversation(ctx context.Context, c *store.Conversation, start store.Event) error {
	m := newMeta(c.Meta, store.PrefixConversation)
	err := db.inTx(ctx, "create conversation", func(tx *sql.Tx) error {
		if err := insertConversation(ctx, tx.StmtContext(ctx, db.insConv), c, m, c.Deadline); err != nil {
			return err
		}
		start.ConversationID = m.ID
		if start.EventType == "" {
			start.EventType = store.EventConversationStart
		}
		return db.insertEvent(ctx, tx.StmtContext(ctx, db.insEvent), &start, m.CreatedAt)
	})
	if err != nil {
		return err
	}
	c.Meta = m
	c.Status, c.Direction = store.ConversationActive, store.DirectionOf(c)
	c.Deadline = c.Deadline.UTC().Truncate(time.Microsecond)
	return nil
}

// ActiveConversation returns the active conversation of a session key.
func (db *DB) ActiveConversation(ctx context.Context, key store.SessionKey) (*store.Conversation, error) {
	c, err := scanConversation(db.readActive.QueryRowContext(ctx, key.ProjectID, key.ChannelProviderID, key.To, key.From))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no active conversation")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: active conversation: %w", err)
	}
	return c, nil
}

// EndConversation marks an active conversation finished and appends end;
// a conversation that is not active is left alone.
func (db *DB) EndConversation(ctx context.Context, id string, details json.RawMessage, end store.Event) error {
	return db.inTx(ctx, "end conversation", func(tx *sql.Tx) error {
		ended, err := db.endConversation(ctx, tx.StmtContext(ctx, db.endConv), tx.StmtContext(ctx, db.insEvent), id, details, &end, now())
		if err != nil || ended {
			return err
		}
		// Not active: a no-op if it exists at all.
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("conversation", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: end conversation: %w", err)
		}
		return nil
	})
}

// endConversation finishes conversation id if it is active, appending ev
// (when not nil), and reports whether it did.
func (db *DB) endConversation(ctx context.Context, endStmt, evStmt *sql.Stmt, id string, details json.RawMessage, ev *store.Event, t time.Time) (bool, error) {
	res, err := endStmt.ExecContext(ctx, jsonText(details), micros(t), id)
	if err != nil {
		return false, fmt.Errorf("sqlite: end conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if ev == nil {
		return true, nil
	}
	ev.ConversationID = id
	if ev.EventType == "" {
		ev.EventType = store.EventConversationEnd
	}
	return true, db.insertEvent(ctx, evStmt, ev, t)
}

// RecentMessages returns the last limit message events of a conversation,
// oldest first.
func (db *DB) RecentMessages(ctx context.Context, conversationID string, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return []*store.Event{}, nil
	}
	rows, err := db.readRecent.QueryContext(ctx, conversationID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent messages: %w", err)
	}
	defer rows.Close()
	evs := []*store.Event{} // not sized by limit: callers pass large limits
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: recent messages: %w", err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: recent messages: %w", err)
	}
	slices.Reverse(evs)
	return evs, nil
}

// AppendEvents appends events in one transaction, filling their IDs and
// (when zero) CreatedAt. An unknown conversation is ENOTFOUND.
func (db *DB) AppendEvents(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	return db.inTx(ctx, "append events", func(tx *sql.Tx) error {
		ins := tx.StmtContext(ctx, db.insEvent)
		t := now()
		for i := range events {
			if err := db.insertEvent(ctx, ins, &events[i], t); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- Inbound messages.

// CommitInbound stores msgs in one transaction. Duplicates — by provider
// and MessageSid, or by non-empty idempotency token, including repeats
// within msgs — are detected by the unique indexes (INSERT ... ON CONFLICT
// DO NOTHING) and reported with the original's ID.
func (db *DB) CommitInbound(ctx context.Context, msgs []*store.InboundMessage) ([]store.InboundResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	return db.CommitBatch(ctx, msgs, nil)
}

// insertInbound inserts msgs in tx, filling results; duplicates are found
// and reported, not inserted.
func (db *DB) insertInbound(ctx context.Context, tx *sql.Tx, msgs []*store.InboundMessage, results []store.InboundResult) error {
	ins := tx.StmtContext(ctx, db.insInbound)
	var bySID, byToken *sql.Stmt
	t := now()
	for i, m := range msgs {
		received := m.ReceivedAt
		if received.IsZero() {
			received = t
		}
		res, err := ins.ExecContext(ctx, m.ProviderID, m.MessageSID, m.IdempotencyToken, m.ProjectID, m.StageID, m.AgentID,
			m.From, m.To, m.Body, listText(m.MediaURLs), m.ProfileName, micros(received))
		db.dur.Statements.Add(1)
		if err != nil {
			return fmt.Errorf("sqlite: commit inbound: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: commit inbound: %w", err)
		}
		if n == 1 {
			id, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("sqlite: commit inbound: %w", err)
			}
			results[i] = store.InboundResult{ID: id}
			continue
		}
		// A duplicate: find the original.
		var id int64
		var pending bool
		err = sql.ErrNoRows
		if m.MessageSID != "" {
			if bySID == nil {
				bySID = tx.StmtContext(ctx, db.dupBySID)
			}
			err = bySID.QueryRowContext(ctx, m.ProviderID, m.MessageSID).Scan(&id, &pending)
			db.dur.Statements.Add(1)
		}
		if errors.Is(err, sql.ErrNoRows) && m.IdempotencyToken != "" {
			if byToken == nil {
				byToken = tx.StmtContext(ctx, db.dupByToken)
			}
			err = byToken.QueryRowContext(ctx, m.IdempotencyToken).Scan(&id, &pending)
			db.dur.Statements.Add(1)
		}
		if err != nil {
			return fmt.Errorf("sqlite: commit inbound: find original of duplicate: %w", err)
		}
		results[i] = store.InboundResult{ID: id, Duplicate: true, Pending: pending}
	}
	return nil
}

// finishInbound writes the committed state back into msgs.
func finishInbound(msgs []*store.InboundMessage, results []store.InboundResult) {
	t := now()
	for i, m := range msgs {
		m.ID = results[i].ID
		if !results[i].Duplicate {
			m.State = store.InboundPending
			if m.ReceivedAt.IsZero() {
				m.ReceivedAt = t
			}
		}
	}
}

// turnStmts are the prepared statements of CommitTurns bound to its
// transaction, each bound when first needed.
type turnStmts struct {
	ctx context.Context
	tx  *sql.Tx
	m   map[*sql.Stmt]*sql.Stmt
}

func (s *turnStmts) get(st *sql.Stmt) *sql.Stmt {
	if b, ok := s.m[st]; ok {
		return b
	}
	b := s.tx.StmtContext(s.ctx, st)
	s.m[st] = b
	return b
}

// CommitTurns commits turns in one transaction with the prepared
// statements of the hot path. Per turn: the new conversation is created,
// the conversation touched when the turn has a deadline (ENOTFOUND if it
// does not exist), events appended, inbound messages marked done, outbox
// rows inserted and outbox updates applied. A failed batch commits
// nothing. A bare turn (no ConversationID) only marks its inbound messages
// done.
func (db *DB) CommitTurns(ctx context.Context, turns []*store.Turn) error {
	if len(turns) == 0 {
		return nil
	}
	_, err := db.CommitBatch(ctx, nil, turns)
	return err
}

// CommitBatch commits inbound messages and turns in one transaction (one
// fsync): the engine's group committer hands it everything that queued up
// while the previous commit ran. It is all or nothing.
func (db *DB) CommitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return db.commitBatch(ctx, msgs, turns, false)
}

// commitBatch is CommitBatch, or CommitBatchDeferred when deferred. The
// inbound messages that earlier turns consumed are marked done in the
// same transaction when their sweep is due (sqlcore.Sweeper).
func (db *DB) commitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn, deferred bool) ([]store.InboundResult, error) {
	if err := store.CheckTurns(turns); err != nil {
		return nil, err
	}
	results := make([]store.InboundResult, len(msgs))
	t := now()
	sweep := db.sweep.Take(t)
	err := db.hotTx(ctx, deferred, func(tx *sql.Tx) error {
		if len(msgs) > 0 {
			if err := db.insertInbound(ctx, tx, msgs, results); err != nil {
				return err
			}
		}
		if len(turns) > 0 {
			if err := db.writeTurns(ctx, tx, turns, t); err != nil {
				return err
			}
		}
		qs, args := sweep.Statements()
		for i, q := range qs {
			db.dur.Statements.Add(1)
			if _, err := tx.ExecContext(ctx, q, args[i]...); err != nil {
				return fmt.Errorf("sqlite: sweep: %w", err)
			}
		}
		return nil
	})
	db.sweep.Done(sweep, err == nil)
	if err != nil {
		return nil, err
	}
	db.sweep.Add(turns)
	finishInbound(msgs, results)
	store.CommittedNewConversations(turns, t)
	return results, nil
}

// writeTurns writes turns in tx at time t.
func (db *DB) writeTurns(ctx context.Context, tx *sql.Tx, turns []*store.Turn, t time.Time) error {
	st := &turnStmts{ctx: ctx, tx: tx, m: make(map[*sql.Stmt]*sql.Stmt, 8)}
	for _, turn := range turns {
		if err := db.commitTurn(ctx, st, turn, t); err != nil {
			return err
		}
	}
	return nil
}

// commitTurn writes one turn of a commit at time t: its new conversation,
// its row (sqlcore.EncodeTurn: one INSERT for its events, parts, consumed
// messages and deadline), its send results, its status callback and its
// end. A bare turn marks its inbound messages done at once.
func (db *DB) commitTurn(ctx context.Context, st *turnStmts, turn *store.Turn, t time.Time) error {
	if c := turn.NewConversation; c != nil {
		meta := store.Meta{ID: c.ID, CreatedAt: t, UpdatedAt: t, Version: 1}
		db.dur.Statements.Add(1)
		if err := insertConversation(ctx, st.get(db.insConv), c, meta, turn.NewConversationDeadline()); err != nil {
			return err
		}
	}
	if sqlcore.HasRow(turn) {
		row, err := sqlcore.EncodeTurn(turn, t)
		if err != nil {
			return err
		}
		var deadline any
		if row.Deadline != nil {
			deadline = micros(*row.Deadline)
		}
		id := db.nextSeq()
		db.dur.Statements.Add(1)
		if _, err := st.get(db.insTurn).ExecContext(ctx, id, turn.ConversationID, row.ProjectID, row.ProviderID, row.From, row.To,
			row.Inbound, row.Events, row.Parts, row.Unsent, deadline, micros(t)); err != nil {
			if isForeignKey(err) {
				return notFound("conversation", turn.ConversationID)
			}
			return fmt.Errorf("sqlite: commit turns: %w", err)
		}
		turn.AssignIDs(id)
	} else {
		for _, id := range turn.InboundIDs {
			db.dur.Statements.Add(1)
			if _, err := st.get(db.doneInbound).ExecContext(ctx, turn.ConversationID, id); err != nil {
				return fmt.Errorf("sqlite: commit turns: mark inbound done: %w", err)
			}
		}
	}
	// An update of a missing row (its conversation deleted) is ignored.
	for _, u := range turn.OutboxUpdates {
		if _, err := db.applySendResult(ctx, st, u, t); err != nil {
			return err
		}
	}
	if d := turn.Delivery; d != nil {
		found, err := db.applyDelivery(ctx, st.tx, d, t)
		if err != nil {
			return err
		}
		d.Found = found
	}
	if turn.End != nil {
		ended, err := db.endConversation(ctx, st.get(db.endConv), st.get(db.insEvent), turn.ConversationID, turn.End, turn.EndEvent, t)
		db.dur.Statements.Add(1)
		if ended && turn.EndEvent != nil {
			db.dur.Statements.Add(1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextSeq returns the next number of the turn counter.
func (db *DB) nextSeq() int64 { return db.seq.Add(1) - 1 }

// startCounter starts the turn counter above every turn and every id the
// events and outbox tables hold, and notes the older outbox's last id.
func (db *DB) startCounter(ctx context.Context) error {
	stride := strconv.Itoa(sqlcore.TurnStride)
	var next, legacy int64
	err := db.writer.QueryRowContext(ctx, `SELECT max(COALESCE((SELECT MAX(id) FROM turns), 0) + 1,
		COALESCE((SELECT MAX(id) FROM events), 0) / `+stride+` + 1,
		COALESCE((SELECT MAX(id) FROM outbound_messages), 0) / `+stride+` + 1),
		COALESCE((SELECT MAX(id) FROM outbound_messages), 0)`).Scan(&next, &legacy)
	if err != nil {
		return fmt.Errorf("sqlite: start the turn counter: %w", err)
	}
	db.seq.Store(next)
	db.legacyOutbox = legacy
	return nil
}

// ---- Outbox.

// applySendResult records a send result u at t, with its delivery event:
// as the part's sends row, or on a row of the older layout. It reports whether
// there was such a row.
func (db *DB) applySendResult(ctx context.Context, st *turnStmts, u store.OutboxUpdate, t time.Time) (bool, error) {
	db.dur.Statements.Add(1)
	if u.ID > db.legacyOutbox {
		turn, j := sqlcore.SplitOutboxID(u.ID)
		args := append(append([]any{turn, j}, dialect.SendArgs(u, t)...), turn)
		res, err := st.get(db.insSend).ExecContext(ctx, args...)
		if err != nil {
			return false, fmt.Errorf("sqlite: send result: %w", err)
		}
		n, _ := res.RowsAffected()
		return n > 0, nil
	}
	res, err := st.get(db.updateOutbox).ExecContext(ctx, u.State, u.Attempts, u.ErrorCode, u.ErrorMessage, u.TwilioSID, micros(t), u.ID)
	if err != nil {
		return false, fmt.Errorf("sqlite: update outbox: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if len(u.Event) > 0 {
		at := u.EventAt
		if at.IsZero() {
			at = t
		}
		db.dur.Statements.Add(1)
		if _, err := st.tx.ExecContext(ctx, `INSERT INTO events (id, conversation_id, event_type, event_data, created_at)
			SELECT ?, conversation_id, ?, ?, ? FROM outbound_messages WHERE id = ?`,
			db.nextSeq()*sqlcore.TurnStride, store.EventDelivery, string(u.Event), micros(at.UTC()), u.ID); err != nil {
			return false, fmt.Errorf("sqlite: update outbox: delivery event: %w", err)
		}
	}
	return true, nil
}

// UpdateOutbox records a send attempt's result.
func (db *DB) UpdateOutbox(ctx context.Context, u store.OutboxUpdate) error {
	return db.inTx(ctx, "update outbox", func(tx *sql.Tx) error {
		st := &turnStmts{ctx: ctx, tx: tx, m: map[*sql.Stmt]*sql.Stmt{}}
		found, err := db.applySendResult(ctx, st, u, now())
		if err != nil {
			return err
		}
		if !found {
			return store.Errorf(store.ENOTFOUND, "outbound message %d not found", u.ID)
		}
		return nil
	})
}

// sqlSetDelivery records a status callback on the (latest) outbox row of
// the older layout that the channel provider sent with the Twilio SID: ?1
// status, ?2 error code, ?3 time, ?4 SID, ?5 provider.
var sqlSetDelivery = `UPDATE outbound_messages SET
		delivery_status = CASE WHEN ` + deliveryRank("?1") + ` >= ` + deliveryRank("delivery_status") + ` THEN ?1 ELSE delivery_status END,
		error_code = CASE WHEN ?2 <> 0 THEN ?2 ELSE error_code END,
		updated_at = ?3
	WHERE id = (SELECT id FROM outbound_messages WHERE twilio_sid = ?4 AND twilio_sid <> '' AND provider_id = ?5 ORDER BY id DESC LIMIT 1)`

// sqlSetDeliveryPart records a status callback on the send result of
// part ?5 of turn ?4, if channel provider ?7 sent it as Twilio SID ?6: ?1
// status, ?2 error code, ?3 time. A status ranking below the stored one is
// ignored; a non-zero error code is kept.
var sqlSetDeliveryPart = `UPDATE sends SET
		delivery_status = CASE WHEN ` + deliveryRank("?1") + ` >= ` + deliveryRank("delivery_status") + ` THEN ?1 ELSE delivery_status END,
		error_code = CASE WHEN ?2 <> 0 THEN ?2 ELSE error_code END,
		updated_at = ?3
	WHERE turn_id = ?4 AND part = ?5 AND twilio_sid = ?6 AND twilio_sid <> ''
		AND EXISTS (SELECT 1 FROM turns WHERE id = ?4 AND provider_id = ?7)`

// applyDelivery records the status callback d at t in tx and reports
// whether it found the message: by its outbox id when the callback names
// one of the turns layout, else by SID among the older layout's rows.
func (db *DB) applyDelivery(ctx context.Context, tx *sql.Tx, d *store.DeliveryUpdate, t time.Time) (bool, error) {
	db.dur.Statements.Add(1)
	var res sql.Result
	var err error
	if d.OutboundID > db.legacyOutbox {
		turn, j := sqlcore.SplitOutboxID(d.OutboundID)
		res, err = tx.StmtContext(ctx, db.setDeliveryPart).ExecContext(ctx, d.Status, d.ErrorCode, micros(t), turn, j, d.TwilioSID, d.ProviderID)
	} else {
		res, err = tx.ExecContext(ctx, sqlSetDelivery, d.Status, d.ErrorCode, micros(t), d.TwilioSID, d.ProviderID)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: delivery status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetDeliveryStatus records a status callback and returns the message it
// updated. A status ranking below the stored one (sent after delivered)
// is ignored; a non-zero errorCode is kept.
func (db *DB) SetDeliveryStatus(ctx context.Context, d store.DeliveryUpdate) (*store.OutboundMessage, error) {
	var o *store.OutboundMessage
	err := db.inTx(ctx, "set delivery status", func(tx *sql.Tx) error {
		found, err := db.applyDelivery(ctx, tx, &d, now())
		if err != nil {
			return err
		}
		if !found {
			return store.Errorf(store.ENOTFOUND, "no outbound message of that provider with that twilio sid")
		}
		if d.OutboundID > db.legacyOutbox {
			turn, j := sqlcore.SplitOutboxID(d.OutboundID)
			o, err = dialect.TurnPart(ctx, tx, turn, j)
		} else {
			o, err = scanOutbound(tx.QueryRowContext(ctx, `SELECT `+outboundCols+` FROM outbound_messages
				WHERE twilio_sid = ? AND provider_id = ? ORDER BY id DESC LIMIT 1`, d.TwilioSID, d.ProviderID))
		}
		if err != nil {
			return fmt.Errorf("sqlite: set delivery status: %w", err)
		}
		return nil
	})
	return o, err
}

// IsOptedOut reports whether the address opted out of the channel
// provider, with the statement prepared among the engine's hot reads.
func (db *DB) IsOptedOut(ctx context.Context, providerID, address string) (bool, error) {
	return dialect.OptedOut(db.readOptedOut.QueryRowContext(ctx, providerID, address))
}
