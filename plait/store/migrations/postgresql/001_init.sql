-- plait schema, version 1 (PostgreSQL). Mirrors sqlite/001_init.sql so the shared SQL runs on
-- both: times are epoch milliseconds (BIGINT), payloads are codec text (TEXT: the codec may
-- encrypt them, so they are not JSONB), flags are INTEGER 0/1. One extra index (workflows_due)
-- serves the idle workers' "next due time" query across queues.
CREATE TABLE workflows (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    queue            TEXT NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    concurrency_key  TEXT,
    status           TEXT NOT NULL,
    input            TEXT NOT NULL,
    input_hash       TEXT NOT NULL,
    output           TEXT,
    error            TEXT,
    waiting_on       TEXT,
    available_at     BIGINT,
    deadline_at      BIGINT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    recoveries       INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    parent_id        TEXT REFERENCES workflows (id) ON DELETE CASCADE,
    status_text      TEXT,
    attributes       TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    completed_at     BIGINT
);
CREATE INDEX workflows_ready ON workflows (queue, priority DESC, available_at)
    WHERE status IN ('pending', 'waiting');
CREATE INDEX workflows_due ON workflows (available_at)
    WHERE status IN ('pending', 'waiting');
CREATE INDEX workflows_leases ON workflows (lease_expires_at) WHERE status = 'running';
CREATE INDEX workflows_owner ON workflows (lease_owner) WHERE status = 'running';
CREATE INDEX workflows_status ON workflows (status, created_at);
CREATE INDEX workflows_name ON workflows (name, created_at);
CREATE INDEX workflows_created ON workflows (created_at);
CREATE INDEX workflows_parent ON workflows (parent_id);

CREATE TABLE journal (
    workflow_id    TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    output         TEXT,
    error          TEXT,
    wake_at        BIGINT,
    attempts       INTEGER NOT NULL DEFAULT 1,
    worker_attempt INTEGER NOT NULL,
    started_at     BIGINT NOT NULL,
    completed_at   BIGINT,
    fingerprint    TEXT,
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE step_attempts (
    workflow_id    TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    attempt        INTEGER NOT NULL,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT NOT NULL,
    error          TEXT,
    worker_attempt INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, seq, attempt)
);

CREATE TABLE signals (
    id           BIGSERIAL PRIMARY KEY,
    workflow_id  TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    payload      TEXT,
    dedup_key    TEXT,
    consumed_seq INTEGER,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX signals_dedup ON signals (workflow_id, dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE INDEX signals_unconsumed ON signals (workflow_id, name, id) WHERE consumed_seq IS NULL;

CREATE TABLE workers (
    id            TEXT PRIMARY KEY,
    hostname      TEXT,
    pid           INTEGER,
    process_start TEXT,
    info          TEXT,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
CREATE INDEX workers_host ON workers (hostname);
