package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"switchboard/store"
)

// The columns the scan functions read, in their order.
const (
	InboundCols  = `id, provider_id, message_sid, idempotency_token, project_id, stage_id, agent_id, from_address, to_address, body, media_urls, profile_name, received_at, state, conversation_id`
	OutboundCols = `id, project_id, conversation_id, provider_id, from_address, to_address, body, part, parts, state, attempts, error_code, error_message, twilio_sid, delivery_status, created_at, updated_at`
	EventCols    = `id, conversation_id, event_type, event_data, created_at`
	ConvCols     = `id, project_id, stage_id, agent_id, user_id, channel_provider_id, channel_address, status, status_details, metadata, deadline, created_at, updated_at, version, direction`
)

// ---- Conversations and events.

// ScanConversation reads a row of ConvCols.
func ScanConversation(s Scanner) (*store.Conversation, error) {
	var c store.Conversation
	var details, metadata sql.NullString
	var d, cr, u Time
	if err := s.Scan(&c.ID, &c.ProjectID, &c.StageID, &c.AgentID, &c.UserID, &c.ChannelProviderID, &c.ChannelAddress,
		&c.Status, &details, &metadata, &d, &cr, &u, &c.Version, &c.Direction); err != nil {
		return nil, err
	}
	c.StatusDetails, c.Metadata = JSONBytes(details), JSONBytes(metadata)
	c.Deadline, c.CreatedAt, c.UpdatedAt = d.Time, cr.Time, u.Time
	return &c, nil
}

// ScanEvent reads a row of EventCols.
func ScanEvent(s Scanner) (*store.Event, error) {
	var e store.Event
	var data sql.NullString
	var c Time
	if err := s.Scan(&e.ID, &e.ConversationID, &e.EventType, &data, &c); err != nil {
		return nil, err
	}
	e.EventData, e.CreatedAt = JSONBytes(data), c.Time
	return &e, nil
}

// ConvRef names a conversation of a project.
func ConvRef(projectID, id string) Ref {
	return Ref{Table: "conversations", What: "conversation", ID: id, ProjectID: projectID, Scoped: true}
}

// convState is ConvRef read through the view conversation_state, whose
// deadline and updatedAt are the last turn's.
func convState(projectID, id string) Ref {
	r := ConvRef(projectID, id)
	r.Table = "conversation_state"
	return r
}

// GetConversation returns the conversation with the id in the project.
func (db *DB) GetConversation(ctx context.Context, projectID, id string) (*store.Conversation, error) {
	return get(ctx, db, convState(projectID, id), ConvCols, ScanConversation)
}

// ListConversations returns a page of the project's conversations and their total.
func (db *DB) ListConversations(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.Conversation, int, error) {
	return listOf(ctx, db, "list conversations", conversationList, ConvCols, "conversation_state", opts, ScanConversation,
		`project_id = ?`, projectID)
}

// DeleteConversation deletes a conversation and its events.
func (db *DB) DeleteConversation(ctx context.Context, projectID, id string, version int64) error {
	return db.remove(ctx, ConvRef(projectID, id), version)
}

// ActiveConversations returns every active conversation, oldest deadline
// first.
func (db *DB) ActiveConversations(ctx context.Context) ([]*store.Conversation, error) {
	return queryAll(ctx, db, "active conversations", `SELECT `+ConvCols+` FROM conversation_state WHERE status = 'active' ORDER BY deadline, id`, nil, ScanConversation)
}

// ListEvents returns a page of a conversation's events.
func (db *DB) ListEvents(ctx context.Context, conversationID string, opts store.ListOptions) ([]*store.Event, int, error) {
	return listOf(ctx, db, "list events", eventList, EventCols, "event_log", opts, ScanEvent, `conversation_id = ?`, conversationID)
}

// GetEvent returns one event of a conversation (Bonsai's event detail
// route); an ID of another conversation's event is not found.
func (db *DB) GetEvent(ctx context.Context, conversationID string, id int64) (*store.Event, error) {
	return getOne(ctx, db, "get event", notFoundMsg("event not found"), ScanEvent,
		`SELECT `+EventCols+` FROM event_log WHERE conversation_id = ? AND id = ?`, conversationID, id)
}

// CountUserMessages counts a conversation's user message events.
func (db *DB) CountUserMessages(ctx context.Context, conversationID string) (int, error) {
	return db.count(ctx, "count user messages", `SELECT COUNT(*) FROM event_log
		WHERE conversation_id = ? AND event_type = 'message' AND `+db.d.JSONField("event_data", "role")+` = 'user'`, conversationID)
}

// ---- Inbound messages.

// ScanInbound reads a row of InboundCols.
func ScanInbound(s Scanner) (*store.InboundMessage, error) {
	var m store.InboundMessage
	var media sql.NullString
	var r Time
	if err := s.Scan(&m.ID, &m.ProviderID, &m.MessageSID, &m.IdempotencyToken, &m.ProjectID, &m.StageID, &m.AgentID,
		&m.From, &m.To, &m.Body, &media, &m.ProfileName, &r, &m.State, &m.ConversationID); err != nil {
		return nil, err
	}
	var err error
	if m.MediaURLs, err = ParseList(media); err != nil {
		return nil, err
	}
	m.ReceivedAt = r.Time
	return &m, nil
}

// ---- Outbox.

// ScanOutbound reads a row of OutboundCols.
func ScanOutbound(s Scanner) (*store.OutboundMessage, error) {
	var o store.OutboundMessage
	var c, u Time
	if err := s.Scan(&o.ID, &o.ProjectID, &o.ConversationID, &o.ProviderID, &o.From, &o.To, &o.Body, &o.Part, &o.Parts, &o.State,
		&o.Attempts, &o.ErrorCode, &o.ErrorMessage, &o.TwilioSID, &o.DeliveryStatus, &c, &u); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = c.Time, u.Time
	return &o, nil
}

// PendingOutbox returns every pending outbox row in ID order: the older
// layout's, then the pending parts of the turns in turns_unsent. A turn
// there whose parts all have their results (the process stopped before
// the sweep) leaves it here.
func (db *DB) PendingOutbox(ctx context.Context) ([]*store.OutboundMessage, error) {
	rows, err := queryAll(ctx, db, "pending outbox", `SELECT `+OutboundCols+` FROM outbound_messages WHERE state = 'pending' ORDER BY id`, nil, ScanOutbound)
	if err != nil {
		return nil, err
	}
	parts, err := db.d.TurnParts(ctx, db.reader, `SELECT `+TurnCols+` FROM turns WHERE unsent > 0 ORDER BY id`)
	if err != nil {
		return nil, db.d.Errorf("pending outbox: %w", err)
	}
	var done []int64
	for i, p := range parts {
		if p.State == store.OutboxPending {
			rows = append(rows, p)
		}
		if turn := p.ID / TurnStride; i == len(parts)-1 || parts[i+1].ID/TurnStride != turn {
			done = append(done, turn)
		}
	}
	if err := db.sweepNow(ctx, UnsentSQL, done); err != nil {
		return nil, db.d.Errorf("pending outbox: %w", err)
	}
	return rows, nil
}

// DeliveryRank is the SQL that ranks the delivery status expr, so that a
// late callback never moves a message back (Twilio may deliver "sent"
// after "delivered"). Every status Twilio documents for a message has its
// rank: none yet (0); accepted, scheduled, queued, sending (1, the ELSE);
// sent (2); the final outcomes delivered, undelivered, failed,
// partially_delivered and canceled (3); read, which only follows a
// delivery (4).
func DeliveryRank(expr string) string {
	return `(CASE ` + expr + ` WHEN '' THEN 0 WHEN 'sent' THEN 2 WHEN 'delivered' THEN 3 WHEN 'undelivered' THEN 3
		WHEN 'failed' THEN 3 WHEN 'partially_delivered' THEN 3 WHEN 'canceled' THEN 3 WHEN 'read' THEN 4 ELSE 1 END)`
}

// GetOutbound returns the outbox row with the id: a row of the older
// layout, else a part of a turn.
func (db *DB) GetOutbound(ctx context.Context, id int64) (*store.OutboundMessage, error) {
	missing := func() error { return store.Errorf(store.ENOTFOUND, "outbound message %d not found", id) }
	o, err := getOne(ctx, db, "get outbound", missing, ScanOutbound, `SELECT `+OutboundCols+` FROM outbound_messages WHERE id = ?`, id)
	if store.ErrorCode(err) != store.ENOTFOUND || id < 0 {
		return o, err
	}
	turn, j := SplitOutboxID(id)
	o, err = db.d.TurnPart(ctx, db.reader, turn, j)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, missing()
	}
	if err != nil {
		return nil, db.d.Errorf("get outbound: %w", err)
	}
	return o, nil
}

// ListOutbound returns a page of a conversation's outbox rows.
func (db *DB) ListOutbound(ctx context.Context, conversationID string, opts store.ListOptions) ([]*store.OutboundMessage, int, error) {
	rows, total, err := listOf(ctx, db, "list outbound", outboundList, OutboundCols, "outbox_log", opts, ScanOutbound,
		`conversation_id = ?`, conversationID)
	if err != nil || len(rows) == 0 {
		return rows, total, err
	}
	if err := db.partExtras(ctx, rows); err != nil {
		return nil, 0, db.d.Errorf("list outbound: %w", err)
	}
	return rows, total, nil
}

// partExtras fills in what a page of outbox rows read through the view
// outbox_log does not carry: the media and Content template of the parts
// of turns, which only their row's parts JSON holds (one query a page; no
// view change, so no migration). Rows of the older layout never match: the
// turn counter starts above every id it gave.
func (db *DB) partExtras(ctx context.Context, rows []*store.OutboundMessage) error {
	byTurn := map[int64][]*store.OutboundMessage{}
	var turns []any
	for _, o := range rows {
		t := o.ID / TurnStride
		if _, ok := byTurn[t]; !ok {
			turns = append(turns, t)
		}
		byTurn[t] = append(byTurn[t], o)
	}
	q, err := db.reader.QueryContext(ctx, db.d.Q(`SELECT id, parts FROM turns WHERE id IN (`+placeholders(len(turns))+`)`), turns...)
	if err != nil {
		return err
	}
	defer q.Close()
	for q.Next() {
		var id int64
		var parts string
		if err := q.Scan(&id, &parts); err != nil {
			return err
		}
		var ps []turnPart
		if err := json.Unmarshal([]byte(parts), &ps); err != nil {
			return err
		}
		for _, o := range byTurn[id] {
			if j := int(o.ID % TurnStride); j < len(ps) {
				o.MediaURLs, o.ContentSID, o.ContentVariables = ps[j].Media, ps[j].ContentSID, ps[j].ContentVariables
			}
		}
	}
	return q.Err()
}

// ---- Opt-outs.

// SetOptOut records whether the address opted out of the channel provider.
func (db *DB) SetOptOut(ctx context.Context, providerID, address string, optedOut bool) error {
	_, err := db.exec(ctx, `INSERT INTO opt_outs (provider_id, address, opted_out, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (provider_id, address) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at`,
		providerID, address, optedOut, db.d.Time(Now()))
	if err != nil {
		return db.d.Errorf("set opt-out: %w", err)
	}
	return nil
}

// OptOutQuery reads whether an address (the second argument) opted out of
// a channel provider (the first); SQLite prepares it among its hot reads.
const OptOutQuery = `SELECT opted_out FROM opt_outs WHERE provider_id = ? AND address = ?`

// IsOptedOut reports whether the address opted out of the channel provider.
func (db *DB) IsOptedOut(ctx context.Context, providerID, address string) (bool, error) {
	return db.d.OptedOut(db.row(ctx, OptOutQuery, providerID, address))
}

// OptedOut reads the row of OptOutQuery: no row is not opted out. It is
// the dialect's, not the DB's, so that it is not promoted into a store's
// API.
func (d *Dialect) OptedOut(row *sql.Row) (bool, error) {
	var out bool
	err := row.Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, d.Errorf("is opted out: %w", err)
	}
	return out, nil
}
