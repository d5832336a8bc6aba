-- Conversations the business starts (POST /api/twilio/messaging/send).
-- direction is Bonsai's conversation field: every existing conversation
-- was started by the user's text. The view is recreated to expose it,
-- and to read a finished conversation's deadline and updatedAt from its
-- row (ending a conversation writes its last turn's deadline there), so
-- that lists over many ended conversations (the users page) look up no
-- turns for them.
ALTER TABLE conversations ADD COLUMN direction TEXT NOT NULL DEFAULT 'incoming';
DROP VIEW conversation_state;
CREATE VIEW conversation_state AS
SELECT c.id, c.project_id, c.stage_id, c.agent_id, c.user_id, c.channel_provider_id, c.channel_address,
	c.status, c.status_details, c.metadata,
	CASE WHEN c.status = 'active' THEN COALESCE((SELECT t.deadline FROM turns t WHERE t.conversation_id = c.id
		AND t.deadline IS NOT NULL ORDER BY t.id DESC LIMIT 1), c.deadline) ELSE c.deadline END AS deadline,
	c.created_at,
	CASE WHEN c.status = 'active' THEN max(c.updated_at, COALESCE((SELECT t.created_at FROM turns t WHERE t.conversation_id = c.id
		AND t.deadline IS NOT NULL ORDER BY t.id DESC LIMIT 1), 0)) ELSE c.updated_at END AS updated_at,
	c.version, c.direction
FROM conversations c;

-- A start request, stored before it is answered (store.Start). Its
-- conversation id is chosen here; the conversation row appears with the
-- opening turn. (project_id, idempotency_key) makes a repeated or
-- concurrent request one start. Pending starts are re-run after a restart
-- (starts_pending); a job's recipients are read in order (starts_job).
CREATE TABLE conversation_starts (
	id              TEXT PRIMARY KEY,
	project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	idempotency_key TEXT NOT NULL,
	job_id          TEXT,
	seq             INTEGER NOT NULL,
	provider_id     TEXT NOT NULL,
	to_address      TEXT NOT NULL,
	from_address    TEXT NOT NULL,
	stage_id        TEXT NOT NULL,
	agent_id        TEXT NOT NULL,
	conversation_id TEXT NOT NULL,
	request         TEXT NOT NULL,
	state           TEXT NOT NULL,
	error           TEXT,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX starts_key ON conversation_starts (project_id, idempotency_key);
CREATE INDEX starts_pending ON conversation_starts (created_at, id) WHERE state = 'pending';
CREATE INDEX starts_job ON conversation_starts (job_id, seq) WHERE job_id IS NOT NULL;

-- A bulk start (store.StartJob); its recipients are conversation_starts.
CREATE TABLE start_jobs (
	id              TEXT PRIMARY KEY,
	project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	idempotency_key TEXT NOT NULL,
	provider_id     TEXT NOT NULL,
	total           INTEGER NOT NULL,
	created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX start_jobs_key ON start_jobs (project_id, idempotency_key);
