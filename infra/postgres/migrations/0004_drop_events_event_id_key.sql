-- event_id is a random UUID minted by the append itself, so it is unique by
-- construction; what stops an event being stored twice is the
-- (stream_id, stream_version) constraint. The unique index on a random key
-- touched a random leaf page on every append (write-ahead log and full-page
-- images after each checkpoint) for no lookup anyone makes
-- (docs/benchmarks.md).
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key;
