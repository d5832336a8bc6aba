-- Every token names the session (login) it belongs to: the hash of that
-- login's refresh token. Tokens from before have none ('').
ALTER TABLE tokens ADD COLUMN session TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_session ON tokens (operator_id, session);
-- A refresh token stored before names its own session.
UPDATE tokens SET session = hash WHERE kind = 'refresh';
