-- No query reads events by type (replay reads by position, streams by
-- stream id); the index only slowed every append (docs/benchmarks.md).
DROP INDEX IF EXISTS events_type_idx;
