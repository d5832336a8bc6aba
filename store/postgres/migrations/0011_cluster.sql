-- Cluster ownership and fencing (issue 13; store/postgres/cluster.go).
--
-- A node incarnation (a new id per process start) holds a lease, renewed
-- while it lives; a slot (store.Slots of them) has one owner at a time.
-- Every time is the database's clock, clock_timestamp() (the time of the
-- call, not of the transaction's start as now() is), so the nodes' clocks
-- need not agree. A lease that has expired is never renewed.
CREATE TABLE cluster_nodes (
	node        TEXT PRIMARY KEY,
	addr        TEXT NOT NULL,
	lease_until TIMESTAMPTZ NOT NULL,
	joined_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- owner '' is a free slot; epoch counts the slot's changes of owner.
CREATE TABLE cluster_slots (
	slot  INTEGER PRIMARY KEY,
	owner TEXT NOT NULL DEFAULT '',
	epoch BIGINT NOT NULL DEFAULT 0
);
INSERT INTO cluster_slots (slot) SELECT generate_series(0, 255);

-- cluster_fence is the first statement of a fenced commit: it fails the
-- commit's transaction (SQLSTATE SBFNC) unless node me's lease is valid
-- and me owns every one of slots (distinct). It raises an error rather
-- than returning a verdict because the commit is one pipeline, sent
-- whole: only an error stops the statements after it. It locks the slots' rows FOR SHARE until
-- the commit ends, and changing a slot's owner is an UPDATE of its row, so
-- a commit in progress and a change of owner of one of its slots are
-- serialised: a node taking the slot (AcquireSlots) or its owner giving it
-- up (ReleaseSlots) waits for the commit, and a commit that starts while
-- the owner changes waits for that change and then sees the new owner
-- (READ COMMITTED re-reads a locked row that changed). Commits of one
-- node share the locks and do not wait for each other, nor for lease
-- renewals, which write cluster_nodes only.
CREATE FUNCTION cluster_fence(me TEXT, slots INTEGER[]) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
	live  BOOLEAN;
	owned INTEGER;
BEGIN
	SELECT lease_until > clock_timestamp() INTO live FROM cluster_nodes WHERE node = me;
	IF live IS NOT TRUE THEN
		RAISE EXCEPTION USING ERRCODE = 'SBFNC', MESSAGE = format('node %s has no valid lease', me);
	END IF;
	SELECT count(*) INTO owned FROM (SELECT slot FROM cluster_slots WHERE slot = ANY(slots) AND owner = me
		ORDER BY slot FOR SHARE) o;
	IF owned < cardinality(slots) THEN
		RAISE EXCEPTION USING ERRCODE = 'SBFNC', MESSAGE = format('node %s does not own slot %s', me,
			(SELECT string_agg(s::text, ', ' ORDER BY s) FROM unnest(slots) s
			WHERE s NOT IN (SELECT slot FROM cluster_slots WHERE owner = me)));
	END IF;
END
$$;
