-- Indexes for the API's list filters (Bonsai's pagination contract) on
-- the long lists. A project's conversations newest first need none:
-- conversations_list (project_id, created_at, id) is read backwards.
-- The console's dashboard counts a project's conversations by status and
-- its conversation page filters by status, newest first: without this
-- index both read every conversation of the project. status changes once
-- per conversation (when it ends), never on a turn.
CREATE INDEX conversations_status ON conversations (project_id, status, created_at, id);
-- The audit log of one project, newest first (the console's audit page
-- and the dashboard's recent activity with a project selected), and of
-- one action (its action filter). The audit log is append-only, so these
-- cost one index entry each per entry written.
CREATE INDEX audit_logs_project ON audit_logs (project_id, created_at, seq);
CREATE INDEX audit_logs_action ON audit_logs (action, created_at, seq);
