-- What the layers above write (PostgreSQL): the person a workflow is about, the per-workflow
-- event log of client actions, application records and blobs. Times are epoch milliseconds.

-- The person a workflow is about (engine.start(..., subject=)), so erasure can find it.
ALTER TABLE workflows ADD COLUMN subject TEXT;
CREATE INDEX workflows_subject ON workflows (subject, created_at) WHERE subject IS NOT NULL;

-- Who started, signalled, cancelled or resumed a workflow, and when. Written in the
-- transaction of the action. No foreign key: the log outlives the workflow's deletion
-- (gc and erasure keep who did what).
CREATE TABLE workflow_events (
    id          BIGSERIAL PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    kind        TEXT NOT NULL,             -- started | signalled | cancelled | resumed
    actor       TEXT NOT NULL,             -- by=: a user name, or 'system'
    at          BIGINT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}' -- JSON: signal name, dedup key, ...
);
CREATE INDEX workflow_events_workflow ON workflow_events (workflow_id, id);

-- engine.records: durable application state that is not a workflow. value is codec text.
CREATE TABLE records (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    subject    TEXT,                       -- the person the record is about
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX records_subject ON records (subject, kind, key) WHERE subject IS NOT NULL;

-- Blobs: bytes stored once per SHA-256 digest; blob_refs says who keeps each one alive (a
-- workflow, a subject, or both). A blob with no reference is an orphan once touched_at is
-- older than the collection's age.
CREATE TABLE blobs (
    digest       TEXT PRIMARY KEY,         -- 'sha256:<hex>' of data
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,            -- as given at the first put
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    touched_at   BIGINT NOT NULL           -- the last put or adoption
);
CREATE INDEX blobs_touched ON blobs (touched_at);
CREATE TABLE blob_refs (
    digest      TEXT NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    workflow_id TEXT REFERENCES workflows (id) ON DELETE CASCADE,
    subject     TEXT,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX blob_refs_unique
    ON blob_refs (digest, COALESCE(workflow_id, ''), COALESCE(subject, ''));
CREATE INDEX blob_refs_workflow ON blob_refs (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX blob_refs_subject ON blob_refs (subject) WHERE subject IS NOT NULL;
