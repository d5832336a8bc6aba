package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/store"
	"switchboard/store/internal/sqlcore"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Hot-path statements, written once with $n placeholders; pgx prepares
// and caches them per connection.
var (
	sqlInsInbound = `INSERT INTO inbound_messages (provider_id, message_sid, idempotency_token, project_id, stage_id, agent_id,
		from_address, to_address, body, media_urls, profile_name, received_at, state, conversation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', '') ON CONFLICT DO NOTHING RETURNING id`
	sqlDupBySID    = `SELECT id, state = 'pending' FROM inbound_messages WHERE provider_id = $1 AND message_sid = $2 AND message_sid <> ''`
	sqlDupByToken  = `SELECT id, state = 'pending' FROM inbound_messages WHERE idempotency_token = $1 AND idempotency_token <> '' AND message_sid = ''`
	sqlInsEvent    = `INSERT INTO events (conversation_id, event_type, event_data, created_at) VALUES ($1, $2, $3, $4) RETURNING id`
	sqlDoneInbound = `UPDATE inbound_messages SET state = 'done', conversation_id = $1 WHERE id = $2`
	sqlInsTurn     = `INSERT INTO turns (conversation_id, project_id, provider_id, from_address, to_address, inbound_ids,
		events, parts, unsent, deadline, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`
	// sqlSendResult records a send result (sqlcore.SendSQL, with the
	// types PostgreSQL cannot infer from a SELECT list).
	sqlSendResult = `INSERT INTO sends (turn_id, part, state, attempts, error_code, error_message, twilio_sid, delivery_status,
			event, event_at, updated_at)
		SELECT $1::bigint, $2::integer, $3::text, $4::integer, $5::integer, $6::text, $7::text, '', $8::text, $9::timestamptz, $10::timestamptz
		WHERE EXISTS (SELECT 1 FROM turns WHERE id = $11)
		ON CONFLICT (turn_id, part) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,
			error_code = excluded.error_code, error_message = excluded.error_message, twilio_sid = excluded.twilio_sid,
			event = COALESCE(excluded.event, sends.event), event_at = COALESCE(excluded.event_at, sends.event_at),
			updated_at = excluded.updated_at`
	// sqlEndConvInTurn ends an active conversation and, when $4, appends
	// its end event, in one statement.
	sqlEndConvInTurn = `WITH u AS (UPDATE conversations SET status = 'finished', status_details = $1, updated_at = $2, version = version + 1,
			deadline = COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = conversations.id AND t.deadline IS NOT NULL ORDER BY t.id DESC LIMIT 1), deadline)
		WHERE id = $3 AND status = 'active' RETURNING id)
		INSERT INTO events (conversation_id, event_type, event_data, created_at) SELECT id, $5, $6, $2 FROM u WHERE $4`
	sqlInsConv = `INSERT INTO conversations (` + convCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
)

// ---- Conversations and events.

// eventTime fills in e.CreatedAt (now when zero) and returns it.
func eventTime(e *store.Event, at time.Time) time.Time {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = at
	} else {
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	return e.CreatedAt
}

// insertEvent appends e, filling its ID and (when zero) CreatedAt.
func insertEvent(ctx context.Context, q querier, e *store.Event, at time.Time) error {
	err := q.QueryRow(ctx, sqlInsEvent, e.ConversationID, e.EventType, jsonText(e.EventData), eventTime(e, at)).Scan(&e.ID)
	if pgCode(err) == pgForeignKeyViolation {
		return notFound("conversation", e.ConversationID)
	}
	if err != nil {
		return fmt.Errorf("postgres: append event: %w", err)
	}
	return nil
}

// convErr classifies an error of inserting a conversation: a session key
// that already has an active conversation is ECONFLICT.
func convErr(err error) error {
	if pgCode(err) == pgUniqueViolation {
		return store.Errorf(store.ECONFLICT, "the session already has an active conversation")
	}
	return writeErr("create conversation", "conversation", err)
}

// convArgs are sqlInsConv's arguments for c, stored as active with meta m
// and the given deadline.
func convArgs(c *store.Conversation, m store.Meta, deadline time.Time) []any {
	return []any{m.ID, c.ProjectID, c.StageID, c.AgentID, c.UserID, c.ChannelProviderID, c.ChannelAddress, store.ConversationActive,
		jsonText(c.StatusDetails), jsonText(c.Metadata), deadline, m.CreatedAt, m.UpdatedAt, m.Version, store.DirectionOf(c)}
}

// CreateConversation stores c as active with its start event. A session
// key that already has an active conversation is ECONFLICT.
func (db *DB) CreateConversation(ctx context.Context, c *store.Conversation, start store.Event) error {
	m := newMeta(c.Meta, store.PrefixConversation)
	err := db.inTx(ctx, "create conversation", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sqlInsConv, convArgs(c, m, c.Deadline)...)
		if err != nil {
			return convErr(err)
		}
		start.ConversationID = m.ID
		if start.EventType == "" {
			start.EventType = store.EventConversationStart
		}
		return insertEvent(ctx, tx, &start, m.CreatedAt)
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
	c, err := scanConversation(rb(db.pool).QueryRow(ctx, `SELECT `+convCols+` FROM conversation_state
		WHERE project_id = ? AND channel_provider_id = ? AND channel_address = ? AND user_id = ? AND status = 'active'`,
		key.ProjectID, key.ChannelProviderID, key.To, key.From))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no active conversation")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: active conversation: %w", err)
	}
	return c, nil
}

// EndConversation marks an active conversation finished and appends end;
// a conversation that is not active is left alone.
func (db *DB) EndConversation(ctx context.Context, id string, details json.RawMessage, end store.Event) error {
	return db.inTx(ctx, "end conversation", func(tx pgx.Tx) error {
		t := now()
		res, err := tx.Exec(ctx, `UPDATE conversations SET status = 'finished', status_details = $1, updated_at = $2, version = version + 1,
			deadline = COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = conversations.id AND t.deadline IS NOT NULL ORDER BY t.id DESC LIMIT 1), deadline)
			WHERE id = $3 AND status = 'active'`, jsonText(details), t, id)
		if err != nil {
			return fmt.Errorf("postgres: end conversation: %w", err)
		}
		if res.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1)`, id).Scan(&exists); err != nil {
				return fmt.Errorf("postgres: end conversation: %w", err)
			}
			if !exists {
				return notFound("conversation", id)
			}
			return nil
		}
		end.ConversationID = id
		if end.EventType == "" {
			end.EventType = store.EventConversationEnd
		}
		return insertEvent(ctx, tx, &end, t)
	})
}

// RecentMessages returns the last limit message events of a conversation,
// oldest first.
func (db *DB) RecentMessages(ctx context.Context, conversationID string, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return []*store.Event{}, nil
	}
	evs, err := queryAll(ctx, rb(db.pool), "recent messages", `SELECT `+eventCols+` FROM event_log
		WHERE conversation_id = ? AND event_type = 'message' ORDER BY id DESC LIMIT ?`, []any{conversationID, limit}, scanEvent)
	if err != nil {
		return nil, err
	}
	slices.Reverse(evs)
	if evs == nil {
		evs = []*store.Event{}
	}
	return evs, nil
}

// AppendEvents appends events in one transaction (one pipeline), filling
// their IDs and (when zero) CreatedAt. An unknown conversation is
// ENOTFOUND.
func (db *DB) AppendEvents(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	t := now()
	b := &pgx.Batch{}
	for i := range events {
		e := &events[i]
		b.Queue(sqlInsEvent, e.ConversationID, e.EventType, jsonText(e.EventData), eventTime(e, t))
	}
	ids := make([]int64, len(events))
	err := sendBatch(ctx, db.pool, b, func(br pgx.BatchResults) error {
		for i := range events {
			if err := br.QueryRow().Scan(&ids[i]); err != nil {
				if pgCode(err) == pgForeignKeyViolation {
					return notFound("conversation", events[i].ConversationID)
				}
				return fmt.Errorf("postgres: append events: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range events {
		events[i].ID = ids[i]
	}
	return nil
}

// sendBatch sends b through pool as one pipeline, which PostgreSQL runs
// as one implicit transaction, and reads its results with read.
func sendBatch(ctx context.Context, pool *pgxpool.Pool, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := pool.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("postgres: batch: %w", cerr)
	}
	return err
}

// ---- Inbound messages.

// CommitInbound stores msgs in one transaction: a single pipeline of
// INSERT ... ON CONFLICT DO NOTHING RETURNING id. Duplicates — by provider
// and MessageSid, or by non-empty idempotency token, including repeats
// within msgs — insert nothing and are then looked up. A deadlock between
// two batches racing on the same messages in different orders is retried.
func (db *DB) CommitInbound(ctx context.Context, msgs []*store.InboundMessage) ([]store.InboundResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	return db.CommitBatch(ctx, msgs, nil)
}

// CommitBatch commits inbound messages and turns as one pipeline, one
// implicit transaction (store.BatchCommitter): the semantics of
// CommitInbound followed by CommitTurns, all or nothing. A deadlock
// between concurrent batches is retried.
func (db *DB) CommitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return db.commitBatch(ctx, msgs, turns, false)
}

// commitBatch is CommitBatch, or CommitBatchDeferred when deferred. A
// synchronous batch that also flushes deferred commits checks the epoch
// token in its own transaction (durable.go). Once FenceAs has been called,
// a batch with turns of conversations starts with the fence (cluster.go):
// one more statement, which fails the batch with EFENCED.
func (db *DB) commitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn, deferred bool) ([]store.InboundResult, error) {
	if err := store.CheckTurns(turns); err != nil {
		return nil, err
	}
	if err := db.errFailed(); err != nil {
		return nil, err
	}
	fenceNode, fenceSlots, fenced, err := db.fenceOf(turns)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		t := now()
		results := make([]store.InboundResult, len(msgs))
		b := &pgx.Batch{}
		if deferred {
			b.Queue(sqlDeferred)
		}
		if fenced {
			b.Queue(sqlFence, fenceNode, fenceSlots)
		}
		queueInbound(b, msgs, t)
		if err := db.queueTurns(b, turns, t); err != nil {
			return nil, err
		}
		sweep := db.sweep.Take(t)
		qs, qargs := sweep.Statements()
		for i, q := range qs {
			b.Queue(dialect.Q(q), qargs[i]...)
		}
		n := b.Len()
		if deferred {
			n-- // the setting is not counted among the statements
		}
		if n == 0 {
			return results, nil // only bare turns without inbound messages
		}
		flushes := !deferred && db.dur.unsynced.Swap(false)
		if flushes {
			b.Queue(sqlEpochCheck, db.dur.token)
		}
		var dups []int
		epochOK := true
		err := sendBatch(ctx, db.pool, b, func(br pgx.BatchResults) error {
			if deferred {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("postgres: commit: %w", err)
				}
			}
			if fenced {
				if _, err := br.Exec(); err != nil {
					return fenceErr(err, turns)
				}
			}
			var err error
			if dups, err = readInbound(br, msgs, results); err != nil {
				return err
			}
			if err := readTurns(br, turns); err != nil {
				return err
			}
			for range qs {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("postgres: sweep: %w", err)
				}
			}
			if flushes {
				return br.QueryRow().Scan(&epochOK)
			}
			return nil
		})
		if err != nil && flushes {
			db.dur.unsynced.Store(true)
		}
		db.sweep.Done(sweep, err == nil)
		if c := pgCode(err); (c == pgDeadlockDetected || c == pgSerializationFail) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		db.dur.Commits.Add(1)
		db.dur.Statements.Add(uint64(n + len(dups)))
		if deferred {
			db.dur.unsynced.Store(true)
		} else {
			db.dur.Syncs.Add(1)
		}
		if !epochOK {
			return nil, db.epochLost()
		}
		if err := db.findOriginals(ctx, msgs, dups, results); err != nil {
			return nil, err
		}
		finishInbound(msgs, results, t)
		finishTurns(turns, t)
		db.sweep.Add(turns)
		return results, nil
	}
}

func queueInbound(b *pgx.Batch, msgs []*store.InboundMessage, t time.Time) {
	for _, m := range msgs {
		received := m.ReceivedAt
		if received.IsZero() {
			received = t
		}
		b.Queue(sqlInsInbound, m.ProviderID, m.MessageSID, m.IdempotencyToken, m.ProjectID, m.StageID, m.AgentID,
			m.From, m.To, m.Body, listText(m.MediaURLs), m.ProfileName, received)
	}
}

// readInbound reads the inbound inserts' ids and returns the indexes of
// the duplicates, which inserted nothing.
func readInbound(br pgx.BatchResults, msgs []*store.InboundMessage, results []store.InboundResult) ([]int, error) {
	var dups []int
	for i := range msgs {
		err := br.QueryRow().Scan(&results[i].ID)
		if errors.Is(err, pgx.ErrNoRows) {
			dups = append(dups, i)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: commit inbound: %w", err)
		}
	}
	return dups, nil
}

// findOriginals fills in the ids of the duplicates' originals, committed
// by now (by this batch or an earlier one).
func (db *DB) findOriginals(ctx context.Context, msgs []*store.InboundMessage, dups []int, results []store.InboundResult) error {
	for _, i := range dups {
		m := msgs[i]
		err := pgx.ErrNoRows
		if m.MessageSID != "" {
			err = db.pool.QueryRow(ctx, sqlDupBySID, m.ProviderID, m.MessageSID).Scan(&results[i].ID, &results[i].Pending)
		}
		if errors.Is(err, pgx.ErrNoRows) && m.IdempotencyToken != "" {
			err = db.pool.QueryRow(ctx, sqlDupByToken, m.IdempotencyToken).Scan(&results[i].ID, &results[i].Pending)
		}
		if err != nil {
			return fmt.Errorf("postgres: commit inbound: find original of duplicate: %w", err)
		}
		results[i].Duplicate = true
	}
	return nil
}

// finishInbound writes back what the commit at t stored of msgs.
func finishInbound(msgs []*store.InboundMessage, results []store.InboundResult, t time.Time) {
	for i, m := range msgs {
		m.ID = results[i].ID
		if !results[i].Duplicate {
			m.State = store.InboundPending
			if m.ReceivedAt.IsZero() {
				m.ReceivedAt = t
			} else {
				m.ReceivedAt = m.ReceivedAt.UTC().Truncate(time.Microsecond)
			}
		}
	}
}

// CommitTurns commits turns as one pipeline, which PostgreSQL runs as one
// implicit transaction: any failing statement (a missing conversation, a
// second active conversation of a session key) aborts the whole batch.
// Per turn: the new conversation is created, the conversation touched
// when the turn has a deadline, events appended, inbound messages marked
// done, outbox rows inserted and outbox updates applied. A bare turn (no
// ConversationID) only marks its inbound messages done.
func (db *DB) CommitTurns(ctx context.Context, turns []*store.Turn) error {
	if len(turns) == 0 {
		return nil
	}
	_, err := db.CommitBatch(ctx, nil, turns)
	return err
}

// queueTurns queues the statements of turns committed at t: per turn its
// new conversation, its row (one INSERT: sqlcore.EncodeTurn), its send
// results, its end and its status callback. A bare turn marks its inbound
// messages done at once.
func (db *DB) queueTurns(b *pgx.Batch, turns []*store.Turn, t time.Time) error {
	for _, turn := range turns {
		if c := turn.NewConversation; c != nil {
			b.Queue(sqlInsConv, convArgs(c, store.Meta{ID: c.ID, CreatedAt: t, UpdatedAt: t, Version: 1}, turn.NewConversationDeadline())...)
		}
		if sqlcore.HasRow(turn) {
			row, err := sqlcore.EncodeTurn(turn, t)
			if err != nil {
				return err
			}
			b.Queue(sqlInsTurn, turn.ConversationID, row.ProjectID, row.ProviderID, row.From, row.To, row.Inbound,
				row.Events, row.Parts, row.Unsent, row.Deadline, t)
		} else {
			for _, id := range turn.InboundIDs {
				b.Queue(sqlDoneInbound, turn.ConversationID, id)
			}
		}
		for _, u := range turn.OutboxUpdates {
			db.queueSendResult(b, u, t)
		}
		if turn.End != nil {
			typ, data := store.EventConversationEnd, []byte(nil)
			withEvent := turn.EndEvent != nil
			if withEvent {
				if turn.EndEvent.EventType != "" {
					typ = turn.EndEvent.EventType
				}
				data = turn.EndEvent.EventData
			}
			b.Queue(sqlEndConvInTurn, jsonText(turn.End), t, turn.ConversationID, withEvent, typ, jsonText(data))
		}
		if d := turn.Delivery; d != nil {
			db.queueDelivery(b, d, t)
		}
	}
	return nil
}

// finishTurns writes back what the commit at t stored of turns.
func finishTurns(turns []*store.Turn, t time.Time) {
	store.CommittedNewConversations(turns, t)
}

// readTurns reads the results of queueTurns's statements in queue order.
func readTurns(br pgx.BatchResults, turns []*store.Turn) error {
	for _, turn := range turns {
		if turn.NewConversation != nil {
			if _, err := br.Exec(); err != nil {
				return convErr(err)
			}
		}
		if sqlcore.HasRow(turn) {
			var id int64
			if err := br.QueryRow().Scan(&id); err != nil {
				if pgCode(err) == pgForeignKeyViolation {
					return notFound("conversation", turn.ConversationID)
				}
				return fmt.Errorf("postgres: commit turns: %w", err)
			}
			turn.AssignIDs(id)
		} else {
			for range turn.InboundIDs {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("postgres: commit turns: mark inbound done: %w", err)
				}
			}
		}
		// An update of a missing row (its conversation deleted) is ignored.
		for range turn.OutboxUpdates {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("postgres: commit turns: send result: %w", err)
			}
		}
		if turn.End != nil {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("postgres: commit turns: end conversation: %w", err)
			}
		}
		if d := turn.Delivery; d != nil {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("postgres: commit turns: delivery status: %w", err)
			}
			d.Found = tag.RowsAffected() > 0
		}
	}
	return nil
}

// ---- Outbox.

// queueSendResult queues a send result u at t with its delivery event: the
// part's sends row, or, for a row of the older layout, its update
// and an event appended to its conversation.
func (db *DB) queueSendResult(b *pgx.Batch, u store.OutboxUpdate, t time.Time) {
	if u.ID > db.legacyOutbox {
		turn, j := sqlcore.SplitOutboxID(u.ID)
		b.Queue(sqlSendResult, append(append([]any{turn, j}, dialect.SendArgs(u, t)...), turn)...)
		return
	}
	at := u.EventAt
	if at.IsZero() {
		at = t
	}
	b.Queue(sqlUpdateLegacyOutbox, u.State, u.Attempts, u.ErrorCode, u.ErrorMessage, u.TwilioSID, t, u.ID,
		len(u.Event) > 0, store.EventDelivery, jsonText(u.Event), at.UTC())
}

// sqlUpdateLegacyOutbox records a send result on a row of the older
// layout and, when $8, appends its delivery event ($9 type, $10 data, $11
// time) to the row's conversation.
var sqlUpdateLegacyOutbox = `WITH u AS (UPDATE outbound_messages SET state = $1, attempts = $2, error_code = $3, error_message = $4,
		twilio_sid = $5, updated_at = $6 WHERE id = $7 RETURNING conversation_id),
	e AS (INSERT INTO events (conversation_id, event_type, event_data, created_at) SELECT conversation_id, $9, $10, $11 FROM u WHERE $8)
	SELECT COUNT(*) FROM u`

// UpdateOutbox records a send attempt's result.
func (db *DB) UpdateOutbox(ctx context.Context, u store.OutboxUpdate) error {
	if err := db.errFailed(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	db.queueSendResult(b, u, now())
	found := false
	err := sendBatch(ctx, db.pool, b, func(br pgx.BatchResults) error {
		if u.ID > db.legacyOutbox {
			tag, err := br.Exec()
			found = tag.RowsAffected() > 0
			return err
		}
		var n int64
		err := br.QueryRow().Scan(&n)
		found = n > 0
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: update outbox: %w", err)
	}
	if !found {
		return store.Errorf(store.ENOTFOUND, "outbound message %d not found", u.ID)
	}
	return nil
}

// sqlSetDelivery records a status callback on the (latest) outbox row of
// the older layout that the channel provider sent with the Twilio SID: $1
// status, $2 error code, $3 time, $4 SID, $5 provider.
var sqlSetDelivery = `UPDATE outbound_messages SET
		delivery_status = CASE WHEN ` + deliveryRank("$1::text") + ` >= ` + deliveryRank("delivery_status") + ` THEN $1::text ELSE delivery_status END,
		error_code = CASE WHEN $2::integer <> 0 THEN $2::integer ELSE error_code END,
		updated_at = $3
	WHERE id = (SELECT id FROM outbound_messages WHERE twilio_sid = $4 AND twilio_sid <> '' AND provider_id = $5 ORDER BY id DESC LIMIT 1)`

// sqlSetDeliveryPart records a status callback on the send result of
// part $5 of turn $4, if channel provider $7 sent it as Twilio SID $6: $1
// status, $2 error code, $3 time. A status ranking below the stored one is
// ignored; a non-zero error code is kept.
var sqlSetDeliveryPart = `UPDATE sends SET
		delivery_status = CASE WHEN ` + deliveryRank("$1::text") + ` >= ` + deliveryRank("delivery_status") + ` THEN $1::text ELSE delivery_status END,
		error_code = CASE WHEN $2::integer <> 0 THEN $2::integer ELSE error_code END,
		updated_at = $3
	WHERE turn_id = $4 AND part = $5 AND twilio_sid = $6::text AND twilio_sid <> ''
		AND EXISTS (SELECT 1 FROM turns WHERE id = $4 AND provider_id = $7)`

// queueDelivery queues the status callback d at t: by its outbox id when
// the callback names one of the turns layout, else by SID among the older
// layout's rows.
func (db *DB) queueDelivery(b *pgx.Batch, d *store.DeliveryUpdate, t time.Time) {
	if d.OutboundID > db.legacyOutbox {
		turn, j := sqlcore.SplitOutboxID(d.OutboundID)
		b.Queue(sqlSetDeliveryPart, d.Status, d.ErrorCode, t, turn, j, d.TwilioSID, d.ProviderID)
		return
	}
	b.Queue(sqlSetDelivery, d.Status, d.ErrorCode, t, d.TwilioSID, d.ProviderID)
}

// SetDeliveryStatus records a status callback and returns the message it
// updated. A status ranking below the stored one (sent after delivered)
// is ignored; a non-zero errorCode is kept.
func (db *DB) SetDeliveryStatus(ctx context.Context, d store.DeliveryUpdate) (*store.OutboundMessage, error) {
	if err := db.errFailed(); err != nil {
		return nil, err
	}
	_, err := db.commitBatch(ctx, nil, []*store.Turn{{Delivery: &d}}, false)
	if err != nil {
		return nil, err
	}
	if !d.Found {
		return nil, store.Errorf(store.ENOTFOUND, "no outbound message of that provider with that twilio sid")
	}
	if d.OutboundID > db.legacyOutbox {
		return db.GetOutbound(ctx, d.OutboundID)
	}
	o, err := scanOutbound(db.pool.QueryRow(ctx, `SELECT `+outboundCols+` FROM outbound_messages
		WHERE twilio_sid = $1 AND provider_id = $2 ORDER BY id DESC LIMIT 1`, d.TwilioSID, d.ProviderID))
	if err != nil {
		return nil, fmt.Errorf("postgres: set delivery status: %w", err)
	}
	return o, nil
}
