-- The message layout (issue 12): one row per AI turn.
--
-- A turn used to write a row per event (the user's text, the reply, ...),
-- a row per outbox part, an update of each inbound message it consumed and
-- of its conversation's deadline, and later a delivery event and an outbox
-- update per send result: eight statements and five index insertions at
-- random positions per answered message. A turn is now one row, written
-- by one INSERT: its events, its outbox parts and the inbound messages it
-- consumed are JSON in the row, its deadline a column. A send result is one
-- narrow row of the sends table (keyed by turn and part, appended at the
-- right edge of its B-tree), which also carries the part's delivery event;
-- a status callback updates it. The events, the outbox and
-- a conversation's deadline are read through the views below, which merge
-- these rows with the tables the older layout wrote (kept as they are: no
-- data moves).
--
-- Ids. A turn's id is a number from one counter (the store's, in memory:
-- SQLite has one writer) that also numbers every row still written to the
-- events table, multiplied by 1024 there. The k-th event of turn t has id
-- t*1024+k, its j-th part is outbox row t*1024+j and that part's delivery
-- event is event t*1024+(number of events)+j; so a conversation's events,
-- old and new, keep one order by id, and an id names its turn (id/1024).
-- The counter starts above every id the older layout gave.
--
-- Inbound messages consumed by a turn are marked done in bulk, after the
-- turn (a sweep, at most once a second or every few hundred turns); a
-- restart finds the pending messages a turn consumed before the crash
-- through the turns' inbound_ids (store/sqlite/turns.go).
CREATE TABLE turns (
	id              INTEGER PRIMARY KEY,
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	project_id      TEXT NOT NULL,
	provider_id     TEXT NOT NULL,
	from_address    TEXT NOT NULL,
	to_address      TEXT NOT NULL,
	inbound_ids     TEXT,
	events          TEXT NOT NULL,
	parts           TEXT NOT NULL,
	-- unsent is how many parts were pending when the turn was written;
	-- the sweep sets it to 0 once each has its result (in sends), so that
	-- turns_unsent lists the turns a restart must finish sending.
	unsent          INTEGER NOT NULL,
	deadline        INTEGER,
	created_at      INTEGER NOT NULL
);
CREATE INDEX turns_conversation ON turns (conversation_id, id);
CREATE INDEX turns_unsent ON turns (id) WHERE unsent > 0;

-- The result of sending part `part` of turn `turn_id` (its outbox id is
-- turn_id*1024+part), and what status callbacks said of it.
CREATE TABLE sends (
	turn_id         INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
	part            INTEGER NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	error_code      INTEGER NOT NULL,
	error_message   TEXT NOT NULL,
	twilio_sid      TEXT NOT NULL,
	delivery_status TEXT NOT NULL,
	event           TEXT,
	event_at        INTEGER,
	updated_at      INTEGER NOT NULL,
	PRIMARY KEY (turn_id, part)
) WITHOUT ROWID;

-- A conversation's deadline and updatedAt are its last turn's.
CREATE VIEW conversation_state AS
SELECT c.id, c.project_id, c.stage_id, c.agent_id, c.user_id, c.channel_provider_id, c.channel_address,
	c.status, c.status_details, c.metadata,
	COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = c.id AND t.deadline IS NOT NULL
		ORDER BY t.id DESC LIMIT 1), c.deadline) AS deadline,
	c.created_at,
	max(c.updated_at, COALESCE((SELECT t.created_at FROM turns t WHERE t.conversation_id = c.id AND t.deadline IS NOT NULL
		ORDER BY t.id DESC LIMIT 1), 0)) AS updated_at,
	c.version
FROM conversations c;

-- Every event: the events table's, each turn's, and a delivery event for
-- each part whose send result is recorded.
CREATE VIEW event_log AS
SELECT id, conversation_id, event_type, event_data, created_at FROM events
UNION ALL
SELECT t.id * 1024 + e.key, t.conversation_id, e.value ->> 'type', e.value -> 'data', COALESCE(e.value ->> 'at', t.created_at)
FROM turns t, json_each(t.events) e
UNION ALL
SELECT t.id * 1024 + json_array_length(t.events) + s.part, t.conversation_id, 'delivery', s.event, s.event_at
FROM turns t JOIN sends s ON s.turn_id = t.id
WHERE s.event IS NOT NULL;

-- Every outbox row: the older table's and each turn's parts.
CREATE VIEW outbox_log AS
SELECT id, project_id, conversation_id, provider_id, from_address, to_address, body, part, parts, state, attempts,
	error_code, error_message, twilio_sid, delivery_status, created_at, updated_at
FROM outbound_messages
UNION ALL
SELECT t.id * 1024 + p.key, t.project_id, t.conversation_id, t.provider_id, t.from_address, t.to_address,
	p.value ->> 'body', p.value ->> 'part', p.value ->> 'parts', COALESCE(s.state, p.value ->> 'state'),
	COALESCE(s.attempts, 0), COALESCE(s.error_code, 0), COALESCE(s.error_message, ''), COALESCE(s.twilio_sid, ''),
	COALESCE(s.delivery_status, ''), t.created_at, COALESCE(s.updated_at, t.created_at)
FROM turns t JOIN json_each(t.parts) p LEFT JOIN sends s ON s.turn_id = t.id AND s.part = p.key;

-- A retried webhook carries the same MessageSid, which inbound_sid finds;
-- the idempotency token is the key only of requests without one (a second
-- unique index on every message was a second random insertion).
DROP INDEX inbound_idempotency;
CREATE UNIQUE INDEX inbound_idempotency ON inbound_messages (idempotency_token)
	WHERE idempotency_token <> '' AND message_sid = '';
