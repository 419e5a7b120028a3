-- Schedules: workflows started on a cron expression or an interval (plait/schedules.py).
-- Times are epoch milliseconds. args is the codec's sealed text (an encryption transform
-- covers it); args_hash is the hash start(id=...) compares, blobs the digests args refer to.
CREATE TABLE schedules (
    id               TEXT PRIMARY KEY,
    workflow         TEXT NOT NULL,            -- the workflow's name
    version          TEXT NOT NULL,
    args             TEXT NOT NULL,
    args_hash        TEXT NOT NULL,
    blobs            TEXT NOT NULL DEFAULT '[]',
    cron             TEXT,                     -- a cron expression, or
    every_ms         BIGINT,                   -- an interval (exactly one is set)
    timezone         TEXT NOT NULL,            -- an IANA zone the cron expression is read in
    catchup          TEXT NOT NULL,            -- skip | one | all
    queue            TEXT,
    paused           INTEGER NOT NULL DEFAULT 0,
    next_at          BIGINT NOT NULL,          -- the first tick not yet started
    last_at          BIGINT,                   -- the tick last started
    last_workflow_id TEXT,
    source           TEXT NOT NULL,            -- code (Engine(schedules=...)) | api
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL           -- the definition's last change
);
-- Workers look for due ticks: the unpaused schedules by next tick.
CREATE INDEX schedules_due ON schedules (next_at) WHERE paused = 0;
