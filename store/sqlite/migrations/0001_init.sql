-- Switchboard schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch (UTC). JSON fields are
-- TEXT; NULL stands for a nil Go value so that nil and empty lists differ.

CREATE TABLE operators (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	roles         TEXT,
	is_active     INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	version       INTEGER NOT NULL
);
CREATE INDEX operators_list ON operators (created_at, id);

CREATE TABLE tokens (
	hash        TEXT PRIMARY KEY,
	operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
	kind        TEXT NOT NULL,
	expires_at  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX tokens_operator ON tokens (operator_id);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE providers (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	description   TEXT NOT NULL,
	provider_type TEXT NOT NULL,
	api_type      TEXT NOT NULL,
	config        TEXT,
	tags          TEXT,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	version       INTEGER NOT NULL
);
CREATE INDEX providers_list ON providers (created_at, id);

CREATE TABLE projects (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX projects_list ON projects (created_at, id);

CREATE TABLE agents (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	prompt      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX agents_list ON agents (project_id, created_at, id);

-- A stage's LLM provider may not be deleted while the stage exists
-- (RESTRICT → ECONFLICT). agent_id is not a foreign key: stages and agents
-- are deleted together with their project in no defined order.
CREATE TABLE stages (
	id              TEXT PRIMARY KEY,
	project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name            TEXT NOT NULL,
	description     TEXT NOT NULL,
	prompt          TEXT NOT NULL,
	llm_provider_id TEXT REFERENCES providers (id) ON DELETE RESTRICT,
	llm_settings    TEXT NOT NULL,
	agent_id        TEXT NOT NULL,
	enter_behavior  TEXT NOT NULL,
	metadata        TEXT,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	version         INTEGER NOT NULL
);
CREATE INDEX stages_list ON stages (project_id, created_at, id);
CREATE INDEX stages_provider ON stages (llm_provider_id);

CREATE TABLE api_keys (
	id               TEXT PRIMARY KEY,
	project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name             TEXT NOT NULL,
	key_hash         TEXT NOT NULL UNIQUE,
	key_preview      TEXT NOT NULL,
	is_active        INTEGER NOT NULL,
	allowed_channels TEXT,
	allowed_features TEXT,
	metadata         TEXT,
	last_used_at     INTEGER,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	version          INTEGER NOT NULL
);
CREATE INDEX api_keys_list ON api_keys (created_at, id);
CREATE INDEX api_keys_project_list ON api_keys (project_id, created_at, id);

CREATE TABLE conversations (
	id                  TEXT PRIMARY KEY,
	project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	stage_id            TEXT NOT NULL,
	agent_id            TEXT NOT NULL,
	user_id             TEXT NOT NULL,
	channel_provider_id TEXT NOT NULL,
	channel_address     TEXT NOT NULL,
	status              TEXT NOT NULL,
	status_details      TEXT,
	metadata            TEXT,
	deadline            INTEGER NOT NULL,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	version             INTEGER NOT NULL
);
CREATE INDEX conversations_list ON conversations (project_id, created_at, id);
-- At most one active conversation per session key; also the index of
-- ActiveConversation.
CREATE UNIQUE INDEX conversations_active ON conversations
	(project_id, channel_provider_id, channel_address, user_id) WHERE status = 'active';
CREATE INDEX conversations_session ON conversations
	(project_id, channel_provider_id, channel_address, user_id, status);

CREATE TABLE events (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	event_type      TEXT NOT NULL,
	event_data      TEXT,
	created_at      INTEGER NOT NULL
);
CREATE INDEX events_conversation ON events (conversation_id, id);

-- The durable inbox. Not tied to projects by foreign keys: it is a log that
-- the hot path appends to.
CREATE TABLE inbound_messages (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	provider_id       TEXT NOT NULL,
	message_sid       TEXT NOT NULL,
	idempotency_token TEXT NOT NULL,
	project_id        TEXT NOT NULL,
	stage_id          TEXT NOT NULL,
	agent_id          TEXT NOT NULL,
	from_address      TEXT NOT NULL,
	to_address        TEXT NOT NULL,
	body              TEXT NOT NULL,
	media_urls        TEXT,
	profile_name      TEXT NOT NULL,
	received_at       INTEGER NOT NULL,
	state             TEXT NOT NULL,
	conversation_id   TEXT NOT NULL
);
CREATE UNIQUE INDEX inbound_sid ON inbound_messages (provider_id, message_sid) WHERE message_sid <> '';
CREATE UNIQUE INDEX inbound_idempotency ON inbound_messages (idempotency_token) WHERE idempotency_token <> '';
CREATE INDEX inbound_pending ON inbound_messages (id) WHERE state = 'pending';

CREATE TABLE outbound_messages (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id      TEXT NOT NULL DEFAULT '',
	conversation_id TEXT NOT NULL,
	provider_id     TEXT NOT NULL,
	from_address    TEXT NOT NULL,
	to_address      TEXT NOT NULL,
	body            TEXT NOT NULL,
	part            INTEGER NOT NULL,
	parts           INTEGER NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	error_code      INTEGER NOT NULL,
	error_message   TEXT NOT NULL,
	twilio_sid      TEXT NOT NULL,
	delivery_status TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX outbound_pending ON outbound_messages (id) WHERE state = 'pending';
CREATE INDEX outbound_conversation ON outbound_messages (conversation_id, id);
CREATE INDEX outbound_twilio_sid ON outbound_messages (twilio_sid) WHERE twilio_sid <> '';

CREATE TABLE opt_outs (
	provider_id TEXT NOT NULL,
	address     TEXT NOT NULL,
	opted_out   INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (provider_id, address)
);
