-- The event store: the source of truth. position is the global order used
-- by replay; (stream_id, stream_version) is unique, which is the optimistic
-- concurrency check of every append.
CREATE TABLE events (
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    stream_id       TEXT        NOT NULL,
    stream_version  INTEGER     NOT NULL CHECK (stream_version > 0),
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         JSONB       NOT NULL,
    correlation_id  TEXT        NOT NULL DEFAULT '',
    causation_id    TEXT        NOT NULL DEFAULT '',
    occurred_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_type_idx ON events (event_type, position);
