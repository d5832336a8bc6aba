-- Deferred durability (durable.go): every open store writes a random token
-- here. The table is UNLOGGED, so PostgreSQL empties it when it recovers
-- from a crash — exactly when asynchronously committed transactions that
-- were not yet flushed are lost. A flush that no longer finds the token
-- knows that writes it was meant to make durable may be gone.
CREATE UNLOGGED TABLE durability_epochs (
	token      TEXT PRIMARY KEY,
	created_at TIMESTAMPTZ NOT NULL
);
