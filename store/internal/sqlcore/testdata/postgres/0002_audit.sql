-- The audit log: one row per state-changing API call or security event.
-- seq orders entries written in the same microsecond; old_entity and
-- new_entity are JSON objects (secrets already stripped) or NULL.
CREATE TABLE audit_logs (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	user_id     TEXT,
	action      TEXT NOT NULL,
	entity_type TEXT NOT NULL,
	entity_id   TEXT NOT NULL,
	project_id  TEXT,
	old_entity  TEXT,
	new_entity  TEXT,
	client_ip   TEXT,
	user_agent  TEXT,
	created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_logs_time ON audit_logs (created_at, seq);
CREATE INDEX audit_logs_entity ON audit_logs (entity_type, entity_id, created_at);
CREATE INDEX audit_logs_user ON audit_logs (user_id, created_at);
