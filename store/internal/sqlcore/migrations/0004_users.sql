-- Users are the senders of a project's conversations. The users list
-- groups a project's conversations by user_id; one user's conversations
-- are read in created_at order (a user's page, its latest conversation);
-- channel_provider_id, last, lets a user's opt-outs be looked up from the
-- index alone. updated_at is left out on purpose: it changes on every turn,
-- and an index holding it would be rewritten on every turn.
CREATE INDEX conversations_user ON conversations (project_id, user_id, created_at, id, channel_provider_id);
