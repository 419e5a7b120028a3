-- Human tasks (PostgreSQL): a task per ask_human, and its audit trail. Times are epoch
-- milliseconds; proposal, context, answer and changes are codec text (like journal payloads).
CREATE TABLE human_tasks (
    id             TEXT PRIMARY KEY,              -- "<workflow id>:<seq>"
    workflow_id    TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    title          TEXT NOT NULL,
    status         TEXT NOT NULL,                 -- open | completed | cancelled | expired
    assignee       TEXT,
    claimed_by     TEXT,
    form_name      TEXT NOT NULL,                 -- "module:QualName" of the form type
    form_schema    TEXT NOT NULL,                 -- JSON Schema of the form
    proposal       TEXT,
    context        TEXT,
    answer         TEXT,
    changes        TEXT,                          -- fields changed from the proposal
    completed_by   TEXT,
    comment        TEXT,
    on_timeout     TEXT NOT NULL,                 -- the deadline policy, as JSON
    remind_offsets TEXT NOT NULL DEFAULT '[]',    -- reminders, ms before the deadline
    due_at         BIGINT,
    remind_at      BIGINT,                        -- the next reminder
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    completed_at   BIGINT
);
CREATE INDEX human_tasks_inbox ON human_tasks (status, assignee, created_at);
CREATE INDEX human_tasks_workflow ON human_tasks (workflow_id, seq);

CREATE TABLE task_events (
    id          BIGSERIAL PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES human_tasks (id) ON DELETE CASCADE,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,  -- created | reminded | reassigned | claimed | completed
                                -- | expired | escalated | cancelled
    actor       TEXT,           -- the person, or NULL when plait acted
    at          BIGINT NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX task_events_task ON task_events (task_id, id);
CREATE INDEX task_events_workflow ON task_events (workflow_id, id);
CREATE INDEX task_events_kind ON task_events (kind, id);
