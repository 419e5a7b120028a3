-- The cost ledger of model calls (plait/store/ledger.py, plait/ai/ledger.py): one row per
-- attempt (retries, fallbacks and re-asks each get theirs). The row of a call's successful
-- attempt is written in the fenced transaction that journals the call; failed attempts and
-- re-asks are written as they happen. A replayed call writes nothing. Costs are computed with
-- the price table in force when the call was made, so later price changes do not rewrite them.
CREATE TABLE model_ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id   TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    seq           INTEGER,                 -- the call's journal position
    step          TEXT NOT NULL,           -- the call's journal name
    model         TEXT NOT NULL,           -- the model asked (provider:model)
    answered_by   TEXT,                    -- the model that answered (a fallback, maybe)
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd      REAL NOT NULL,
    outcome       TEXT NOT NULL,           -- ok | invalid_output | the error's class name
    reask         INTEGER NOT NULL,        -- 0, then 1, 2, ... for each re-ask of a call
    latency_ms    REAL NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX model_ledger_workflow ON model_ledger (workflow_id, seq);
