-- What each node's membership provider shows it (issue 13): the actor
-- addresses of the members it sees, and when it said so. A node that the
-- other live nodes no longer see (Proto.Actor removed it from their
-- membership for good) finds out here and steps down (actors/cluster.go).
ALTER TABLE cluster_nodes ADD COLUMN view TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE cluster_nodes ADD COLUMN view_at TIMESTAMPTZ;
