-- Warm pools: every prepared copy of a template's assets and what became
-- of it, kept in step with its stream (prepared -> taken | expired) in the
-- same transactions. The pool in Redis is only the fast path in front of
-- it; the sweeper and the garbage collector read it.
CREATE TABLE warm_copies (
    copy_id     TEXT        PRIMARY KEY,
    template_id TEXT        NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('ready', 'taken', 'expired')),
    prepared_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX warm_copies_ready ON warm_copies (template_id, prepared_at) WHERE state = 'ready';
CREATE INDEX warm_copies_expiry ON warm_copies (expires_at) WHERE state = 'ready';

-- Every design, warm or cold, with the copy whose objects it owns and the
-- stream its DesignCreated is on (a warm design's is its copy's).
CREATE TABLE designs (
    design_id   TEXT        PRIMARY KEY,
    template_id TEXT        NOT NULL,
    owner_id    TEXT        NOT NULL,
    source      TEXT        NOT NULL,
    copy_id     TEXT        NOT NULL UNIQUE,
    stream_id   TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Every template with its pool's target, kept in step with its stream: the
-- sweeper tops up open templates and drains closed ones.
CREATE TABLE pool_templates (
    template_id TEXT    PRIMARY KEY,
    target      INTEGER NOT NULL,
    closed      BOOLEAN NOT NULL DEFAULT FALSE
);
