package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/store"
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
		{nil, &db.dupBySID, `SELECT id FROM inbound_messages WHERE provider_id = ? AND message_sid = ? AND message_sid <> ''`},
		{nil, &db.dupByToken, `SELECT id FROM inbound_messages WHERE idempotency_token = ? AND idempotency_token <> ''`},
		{nil, &db.insEvent, `INSERT INTO events (conversation_id, event_type, event_data, created_at) VALUES (?, ?, ?, ?)`},
		{nil, &db.doneInbound, `UPDATE inbound_messages SET state = 'done', conversation_id = ? WHERE id = ?`},
		{nil, &db.insOutbound, `INSERT INTO outbound_messages (project_id, conversation_id, provider_id, from_address, to_address, body, part, parts,
			state, attempts, error_code, error_message, twilio_sid, delivery_status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{nil, &db.touchConv, `UPDATE conversations SET deadline = ?, updated_at = ? WHERE id = ?`},
		{nil, &db.endConv, `UPDATE conversations SET status = 'finished', status_details = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND status = 'active'`},
		{nil, &db.updateOutbox, `UPDATE outbound_messages SET state = ?, attempts = ?, error_code = ?, error_message = ?, twilio_sid = ?, updated_at = ? WHERE id = ?`},
		{nil, &db.insConv, `INSERT INTO conversations (` + convCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{db.reader, &db.readActive, `SELECT ` + convCols + ` FROM conversations
			WHERE project_id = ? AND channel_provider_id = ? AND channel_address = ? AND user_id = ? AND status = 'active'`},
		{db.reader, &db.readOptedOut, `SELECT opted_out FROM opt_outs WHERE provider_id = ? AND address = ?`},
		{db.reader, &db.readRecent, `SELECT ` + eventCols + ` FROM events
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

// insertEvent appends e with the prepared statement ins, filling its ID
// and (when zero) CreatedAt.
func insertEvent(ctx context.Context, ins *sql.Stmt, e *store.Event, at time.Time) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = at
	} else {
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	res, err := ins.ExecContext(ctx, e.ConversationID, e.EventType, jsonText(e.EventData), micros(e.CreatedAt))
	if err != nil {
		if isForeignKey(err) {
			return notFound("conversation", e.ConversationID)
		}
		return fmt.Errorf("sqlite: append event: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("sqlite: append event: %w", err)
	}
	return nil
}

// insertConversation inserts c, active, with the Meta m and the deadline,
// through the prepared statement ins. A session key that already has an
// active conversation is ECONFLICT.
func insertConversation(ctx context.Context, ins *sql.Stmt, c *store.Conversation, m store.Meta, deadline time.Time) error {
	_, err := ins.ExecContext(ctx, m.ID, c.ProjectID, c.StageID, c.AgentID, c.UserID, c.ChannelProviderID, c.ChannelAddress, store.ConversationActive,
		jsonText(c.StatusDetails), jsonText(c.Metadata), micros(deadline), micros(m.CreatedAt), micros(m.UpdatedAt), m.Version)
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
		return insertEvent(ctx, tx.StmtContext(ctx, db.insEvent), &start, m.CreatedAt)
	})
	if err != nil {
		return err
	}
	c.Meta = m
	c.Status = store.ConversationActive
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
		ended, err := endConversation(ctx, tx.StmtContext(ctx, db.endConv), tx.StmtContext(ctx, db.insEvent), id, details, &end, now())
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
func endConversation(ctx context.Context, endStmt, evStmt *sql.Stmt, id string, details json.RawMessage, ev *store.Event, t time.Time) (bool, error) {
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
	return true, insertEvent(ctx, evStmt, ev, t)
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
			if err := insertEvent(ctx, ins, &events[i], t); err != nil {
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
		err = sql.ErrNoRows
		if m.MessageSID != "" {
			if bySID == nil {
				bySID = tx.StmtContext(ctx, db.dupBySID)
			}
			err = bySID.QueryRowContext(ctx, m.ProviderID, m.MessageSID).Scan(&id)
			db.dur.Statements.Add(1)
		}
		if errors.Is(err, sql.ErrNoRows) && m.IdempotencyToken != "" {
			if byToken == nil {
				byToken = tx.StmtContext(ctx, db.dupByToken)
			}
			err = byToken.QueryRowContext(ctx, m.IdempotencyToken).Scan(&id)
			db.dur.Statements.Add(1)
		}
		if err != nil {
			return fmt.Errorf("sqlite: commit inbound: find original of duplicate: %w", err)
		}
		results[i] = store.InboundResult{ID: id, Duplicate: true}
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

// commitBatch is CommitBatch, or CommitBatchDeferred when deferred.
func (db *DB) commitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn, deferred bool) ([]store.InboundResult, error) {
	if err := store.CheckTurns(turns); err != nil {
		return nil, err
	}
	results := make([]store.InboundResult, len(msgs))
	t := now()
	err := db.hotTx(ctx, deferred, func(tx *sql.Tx) error {
		if len(msgs) > 0 {
			if err := db.insertInbound(ctx, tx, msgs, results); err != nil {
				return err
			}
		}
		if len(turns) > 0 {
			return db.writeTurns(ctx, tx, turns, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
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

// commitTurn writes one turn of a commit at time t.
func (db *DB) commitTurn(ctx context.Context, st *turnStmts, turn *store.Turn, t time.Time) error {
	if c := turn.NewConversation; c != nil {
		meta := store.Meta{ID: c.ID, CreatedAt: t, UpdatedAt: t, Version: 1}
		db.dur.Statements.Add(1)
		if err := insertConversation(ctx, st.get(db.insConv), c, meta, turn.NewConversationDeadline()); err != nil {
			return err
		}
	} else if turn.ConversationID != "" && !turn.Deadline.IsZero() {
		db.dur.Statements.Add(1)
		res, err := st.get(db.touchConv).ExecContext(ctx, micros(turn.Deadline), micros(t), turn.ConversationID)
		if err != nil {
			return fmt.Errorf("sqlite: commit turns: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("conversation", turn.ConversationID)
		}
	}
	for i := range turn.Events {
		e := &turn.Events[i]
		if e.ConversationID == "" {
			e.ConversationID = turn.ConversationID
		}
		db.dur.Statements.Add(1)
		if err := insertEvent(ctx, st.get(db.insEvent), e, t); err != nil {
			return err
		}
	}
	for _, id := range turn.InboundIDs {
		db.dur.Statements.Add(1)
		if _, err := st.get(db.doneInbound).ExecContext(ctx, turn.ConversationID, id); err != nil {
			return fmt.Errorf("sqlite: commit turns: mark inbound done: %w", err)
		}
	}
	for _, o := range turn.Outbox {
		if o.ConversationID == "" {
			o.ConversationID = turn.ConversationID
		}
		if o.State == "" {
			o.State = store.OutboxPending
		}
		o.CreatedAt, o.UpdatedAt = t, t
		db.dur.Statements.Add(1)
		res, err := st.get(db.insOutbound).ExecContext(ctx, o.ProjectID, o.ConversationID, o.ProviderID, o.From, o.To, o.Body, o.Part, o.Parts,
			o.State, o.Attempts, o.ErrorCode, o.ErrorMessage, o.TwilioSID, o.DeliveryStatus, micros(t), micros(t))
		if err != nil {
			return fmt.Errorf("sqlite: commit turns: insert outbox: %w", err)
		}
		if o.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: commit turns: insert outbox: %w", err)
		}
	}
	// An update of a missing row (its conversation deleted) is ignored.
	for _, u := range turn.OutboxUpdates {
		db.dur.Statements.Add(1)
		if _, err := st.get(db.updateOutbox).ExecContext(ctx, u.State, u.Attempts, u.ErrorCode, u.ErrorMessage, u.TwilioSID, micros(t), u.ID); err != nil {
			return fmt.Errorf("sqlite: commit turns: update outbox: %w", err)
		}
	}
	if d := turn.Delivery; d != nil {
		db.dur.Statements.Add(1)
		res, err := st.tx.ExecContext(ctx, sqlSetDelivery, d.Status, d.ErrorCode, micros(t), d.TwilioSID, d.ProviderID)
		if err != nil {
			return fmt.Errorf("sqlite: commit turns: delivery status: %w", err)
		}
		n, _ := res.RowsAffected()
		d.Found = n > 0
	}
	if turn.End != nil {
		ended, err := endConversation(ctx, st.get(db.endConv), st.get(db.insEvent), turn.ConversationID, turn.End, turn.EndEvent, t)
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

// ---- Outbox.

// UpdateOutbox records a send attempt's result.
func (db *DB) UpdateOutbox(ctx context.Context, u store.OutboxUpdate) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	res, err := db.updateOutbox.ExecContext(ctx, u.State, u.Attempts, u.ErrorCode, u.ErrorMessage, u.TwilioSID, micros(now()), u.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update outbox: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Errorf(store.ENOTFOUND, "outbound message %d not found", u.ID)
	}
	db.wroteOne()
	return db.flush()
}

// sqlSetDelivery records a status callback on the (latest) outbox row the
// channel provider sent with the Twilio SID: ?1 status, ?2 error code, ?3
// time, ?4 SID, ?5 provider.
var sqlSetDelivery = `UPDATE outbound_messages SET
		delivery_status = CASE WHEN ` + deliveryRank("?1") + ` >= ` + deliveryRank("delivery_status") + ` THEN ?1 ELSE delivery_status END,
		error_code = CASE WHEN ?2 <> 0 THEN ?2 ELSE error_code END,
		updated_at = ?3
	WHERE id = (SELECT id FROM outbound_messages WHERE twilio_sid = ?4 AND twilio_sid <> '' AND provider_id = ?5 ORDER BY id DESC LIMIT 1)`

// SetDeliveryStatus records a status callback on the (latest) outbox row
// the channel provider sent with the Twilio SID and returns it. A status ranking below the stored
// one (sent after delivered) is ignored; a non-zero errorCode is kept.
func (db *DB) SetDeliveryStatus(ctx context.Context, providerID, twilioSID, status string, errorCode int) (*store.OutboundMessage, error) {
	if err := db.errFailed(); err != nil {
		return nil, err
	}
	o, err := scanOutbound(db.writer.QueryRowContext(ctx, sqlSetDelivery+` RETURNING `+outboundCols, status, errorCode, micros(now()), twilioSID, providerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no outbound message of that provider with that twilio sid")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: set delivery status: %w", err)
	}
	db.wroteOne()
	if err := db.flush(); err != nil {
		return nil, err
	}
	return o, nil
}

// IsOptedOut reports whether the address opted out of the channel
// provider, with the statement prepared among the engine's hot reads.
func (db *DB) IsOptedOut(ctx context.Context, providerID, address string) (bool, error) {
	return dialect.OptedOut(db.readOptedOut.QueryRowContext(ctx, providerID, address))
}
