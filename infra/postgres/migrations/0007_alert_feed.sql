-- What the residents of each complex are told, in order: every event of an
-- alert takes the next position of its complex's feed, in the transaction
-- that stores it. The primary key makes two writers that picked the same
-- position conflict (one retries), so positions are dense and follow commit
-- order. The payload is the exact JSON pushed over STOMP (json keeps the
-- bytes), so the catch-up serves the same bytes as the push.
CREATE TABLE alert_feed (
    complex_id TEXT        NOT NULL,
    position   BIGINT      NOT NULL,
    alert_id   TEXT        NOT NULL,
    type       TEXT        NOT NULL,
    payload    JSON        NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT alert_feed_pkey PRIMARY KEY (complex_id, position)
);
