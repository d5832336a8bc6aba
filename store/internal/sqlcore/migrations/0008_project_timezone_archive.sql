-- Bonsai's project fields for the prompt's clock and for archiving.
-- timezone is an IANA zone name; NULL (every existing project) means UTC,
-- as in Bonsai. archived_at and archived_by are set together by the
-- archive route and cleared by unarchive; NULL (every existing project)
-- is an active project. archived_by is the operator's id as it was when
-- archiving (no foreign key: deleting an operator keeps the record, as the
-- audit log does). The projects list is short and read whole by the
-- console, so the archived filter needs no index.
ALTER TABLE projects ADD COLUMN timezone TEXT;
ALTER TABLE projects ADD COLUMN archived_at {{.Time}};
ALTER TABLE projects ADD COLUMN archived_by TEXT;
