-- Projections are caught up from the event store, so an event Kafka lost
-- after it was forwarded still reaches every read model. The catch-up reads
-- in (transaction id, position) order and only transactions older than every
-- one still running (pg_snapshot_xmin), as watermill-sql's subscriber does:
-- positions are handed out at insert time, not at commit, so reading by
-- position alone could step over an event whose transaction commits late.
ALTER TABLE events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_transaction_position ON events (transaction_id, position);

-- How far each reader has caught up.
CREATE TABLE projection_checkpoints (
    name           TEXT        PRIMARY KEY,
    transaction_id xid8        NOT NULL,
    position       BIGINT      NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
