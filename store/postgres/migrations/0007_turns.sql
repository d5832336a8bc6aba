-- The message layout (issue 12): one row per AI turn. The same layout as
-- SQLite's 0007_turns (see its comments): a turn's events, outbox parts and
-- consumed inbound ids are JSON (as text) in its row, a send result is a
-- row of sends, and the views merge the turns with the older tables.
--
-- Ids: turn_ids numbers the turns, and the rows still written to the events
-- table take nextval(turn_ids) * 1024; it starts above every id the older
-- layout gave (events and outbox).
CREATE SEQUENCE turn_ids;
SELECT setval('turn_ids', GREATEST(
	(SELECT COALESCE(MAX(id), 0) FROM events),
	(SELECT COALESCE(MAX(id), 0) FROM outbound_messages)) / 1024 + 1, false);
ALTER TABLE events ALTER COLUMN id DROP IDENTITY;
ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('turn_ids') * 1024;

CREATE TABLE turns (
	id              BIGINT PRIMARY KEY DEFAULT nextval('turn_ids'),
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	project_id      TEXT NOT NULL,
	provider_id     TEXT NOT NULL,
	from_address    TEXT NOT NULL,
	to_address      TEXT NOT NULL,
	inbound_ids     TEXT,
	events          TEXT NOT NULL,
	parts           TEXT NOT NULL,
	unsent          INTEGER NOT NULL,
	deadline        TIMESTAMPTZ,
	created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX turns_conversation ON turns (conversation_id, id);
CREATE INDEX turns_unsent ON turns (id) WHERE unsent > 0;

CREATE TABLE sends (
	turn_id         BIGINT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
	part            INTEGER NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	error_code      INTEGER NOT NULL,
	error_message   TEXT NOT NULL,
	twilio_sid      TEXT NOT NULL,
	delivery_status TEXT NOT NULL,
	event           TEXT,
	event_at        TIMESTAMPTZ,
	updated_at      TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (turn_id, part)
);

CREATE VIEW conversation_state AS
SELECT c.id, c.project_id, c.stage_id, c.agent_id, c.user_id, c.channel_provider_id, c.channel_address,
	c.status, c.status_details, c.metadata,
	COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = c.id AND t.deadline IS NOT NULL
		ORDER BY t.id DESC LIMIT 1), c.deadline) AS deadline,
	c.created_at,
	GREATEST(c.updated_at, (SELECT t.created_at FROM turns t WHERE t.conversation_id = c.id AND t.deadline IS NOT NULL
		ORDER BY t.id DESC LIMIT 1)) AS updated_at,
	c.version
FROM conversations c;

-- Times in the JSON are microseconds since the epoch. json (not jsonb)
-- keeps each event's data as it was written.
CREATE VIEW event_log AS
SELECT id, conversation_id, event_type, event_data, created_at FROM events
UNION ALL
SELECT t.id * 1024 + e.k - 1, t.conversation_id, e.v ->> 'type', (e.v -> 'data')::text,
	COALESCE(timestamptz 'epoch' + (e.v ->> 'at')::bigint * interval '1 microsecond', t.created_at)
FROM turns t CROSS JOIN LATERAL json_array_elements(t.events::json) WITH ORDINALITY AS e(v, k)
UNION ALL
SELECT t.id * 1024 + json_array_length(t.events::json) + s.part, t.conversation_id, 'delivery', s.event, s.event_at
FROM turns t JOIN sends s ON s.turn_id = t.id
WHERE s.event IS NOT NULL;

CREATE VIEW outbox_log AS
SELECT id, project_id, conversation_id, provider_id, from_address, to_address, body, part, parts, state, attempts,
	error_code, error_message, twilio_sid, delivery_status, created_at, updated_at
FROM outbound_messages
UNION ALL
SELECT t.id * 1024 + p.k - 1, t.project_id, t.conversation_id, t.provider_id, t.from_address, t.to_address,
	p.v ->> 'body', (p.v ->> 'part')::integer, (p.v ->> 'parts')::integer, COALESCE(s.state, p.v ->> 'state'),
	COALESCE(s.attempts, 0), COALESCE(s.error_code, 0), COALESCE(s.error_message, ''), COALESCE(s.twilio_sid, ''),
	COALESCE(s.delivery_status, ''), t.created_at, COALESCE(s.updated_at, t.created_at)
FROM turns t CROSS JOIN LATERAL json_array_elements(t.parts::json) WITH ORDINALITY AS p(v, k)
	LEFT JOIN sends s ON s.turn_id = t.id AND s.part = p.k - 1;

DROP INDEX inbound_idempotency;
CREATE UNIQUE INDEX inbound_idempotency ON inbound_messages (idempotency_token)
	WHERE idempotency_token <> '' AND message_sid = '';
