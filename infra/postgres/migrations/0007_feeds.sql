-- Feeds: what the clients of a key are told, in order (the residents of a
-- complex, the members of a chat room). Every event appended to a feed takes
-- the next position of its feed, in the transaction that stores the event.
-- The primary key makes two writers that picked the same position conflict
-- (one retries), so positions are dense and follow commit order: a client
-- resumes after the last position it saw, with no gap and no duplicate. The
-- payload is the exact JSON pushed (json keeps the bytes), so a catch-up
-- serves the same bytes as the push.
CREATE TABLE feeds (
    feed     TEXT        NOT NULL, -- "complex/A", "room/r1"
    position BIGINT      NOT NULL,
    kind     TEXT        NOT NULL, -- what the client is told: alert, accept, message, reaction, ...
    ref      TEXT        NOT NULL, -- the alert, the message it is about
    tag      TEXT        NOT NULL DEFAULT '', -- a reaction's emoji
    payload  JSON        NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT feeds_pkey PRIMARY KEY (feed, position)
);
CREATE INDEX feeds_ref ON feeds (feed, ref);
