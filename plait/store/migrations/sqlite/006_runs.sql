-- continue_as_new: a workflow's run number, and the runs it finished before the current one
-- (each with its arguments and its journal, so the runs stay linked and readable).
ALTER TABLE workflows ADD COLUMN run INTEGER NOT NULL DEFAULT 1;
-- The positions before the current run's first: the runs of a workflow number their journal
-- entries on from one another, so a position (and the ids made of it: a human task's, a
-- child's, an idempotency key) is never used twice by one workflow.
ALTER TABLE workflows ADD COLUMN seq_base INTEGER NOT NULL DEFAULT 0;

CREATE TABLE workflow_runs (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    run         INTEGER NOT NULL,
    input       TEXT NOT NULL,   -- the run's arguments (codec text)
    journal     TEXT NOT NULL,   -- JSON: the run's journal rows, in order
    attempts    TEXT NOT NULL,   -- JSON: its recorded step attempts
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, run)
);
