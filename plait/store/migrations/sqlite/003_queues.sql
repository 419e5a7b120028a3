-- Queues and limits (SQLite). Times are epoch milliseconds.
-- A queue's row holds the limits every worker applies to it (written by Engine(queues=[...])
-- when an engine opens; the last one wins) and the state of its rate limit. A queue without
-- a row has no limits, except one running workflow per concurrency key.
CREATE TABLE queues (
    name                TEXT PRIMARY KEY,
    concurrency         INTEGER,                  -- running workflows at once, all workers
    per_key_concurrency INTEGER NOT NULL DEFAULT 1,
    rate_limit          INTEGER,                  -- at most rate_limit starts ...
    rate_per_ms         BIGINT,                   -- ... in any window of rate_per_ms
    tat                 BIGINT NOT NULL DEFAULT 0, -- GCRA: the earliest time of the next start
    updated_at          BIGINT NOT NULL
);
-- Counting running workflows per queue and per (queue, concurrency key) in the claim.
CREATE INDEX workflows_running ON workflows (queue, concurrency_key) WHERE status = 'running';

-- The keyed limiter (plait.limit): a row per key (its rate state, and the lock that
-- serializes its slots) and a row per held slot, a lease that frees itself at expires_at.
CREATE TABLE limits (
    key        TEXT PRIMARY KEY,
    tat        BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE TABLE limit_slots (
    key        TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, holder)
);
