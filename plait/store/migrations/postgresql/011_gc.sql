-- gc and retention (plait/store/gc.py). The candidates of a collection: top-level workflows
-- that ended, oldest end first (keyset (completed_at, id)); a pass with nothing to collect
-- reads one index entry. Children go with their parent, so they are not in it.
CREATE INDEX workflows_ended ON workflows (completed_at, id)
    WHERE parent_id IS NULL AND status IN ('completed', 'failed', 'cancelled');
-- Records not updated for a kind's retention (Engine(record_retention=...)).
CREATE INDEX records_updated ON records (kind, updated_at);
