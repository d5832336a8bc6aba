-- Users are the senders of a project's conversations: the users list
-- groups a project's conversations by user_id, and a user's conversations
-- are listed in created_at order.
CREATE INDEX conversations_user ON conversations (project_id, user_id, created_at, id);
