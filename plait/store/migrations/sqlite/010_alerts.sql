-- Alerts (plait/store/alerts.py, plait/alerts/): an outbox with a row per event and channel.
-- Workers scan for events now and then (failed, blocked and crash-looped workflows; overdue,
-- expired and escalated human tasks) and insert them here; the unique key makes every
-- scanner on every worker insert an event once. A sender claims a pending row with a lease
-- (next_at in the future, attempts bumped: its fencing token), sends it, marks it sent.
-- No foreign keys: an alert outlives the workflow it is about.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,     -- workflow_failed | workflow_blocked | crash_loop
                                     -- | task_overdue | task_escalated
    subject       TEXT NOT NULL,     -- what happened, once: "<workflow>@<run>.<attempt>", ...
    channel       TEXT NOT NULL,     -- webhook | email
    workflow_id   TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    task_id       TEXT,
    message       TEXT NOT NULL,
    at            BIGINT NOT NULL,   -- when it happened
    created_at    BIGINT NOT NULL,
    status        TEXT NOT NULL,     -- pending | sent | failed (gave up)
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,   -- a pending row may be claimed from then (lease, backoff)
    sent_at       BIGINT,
    last_error    TEXT,
    UNIQUE (kind, subject, channel)
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE status = 'pending';

-- How far the scanners have looked (epoch ms), so a scan reads only what changed since.
CREATE TABLE alert_marks (
    name TEXT PRIMARY KEY,
    at   BIGINT NOT NULL
);

-- What a scan reads: only rows in these states enter these partial indexes.
CREATE INDEX workflows_alertable ON workflows (updated_at) WHERE status IN ('failed', 'blocked');
CREATE INDEX human_tasks_open_due ON human_tasks (due_at) WHERE status = 'open';
CREATE INDEX task_events_alertable ON task_events (at) WHERE kind IN ('expired', 'escalated');
