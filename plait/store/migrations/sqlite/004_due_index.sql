-- Ready and due workflows by time, whatever their queue. The claim's ready query
-- (status IN ('pending', 'waiting') AND available_at <= now) and next_due's
-- min(available_at) take every queue when a worker serves them all, so workflows_ready,
-- which starts with queue, does not help them: without this index both read every waiting
-- row (10,000 workflows waiting for a signal have available_at NULL). Partial on
-- available_at IS NOT NULL so those rows are not in it at all. It leads with status so that
-- SQLite's planner, which has no statistics (no ANALYZE), prefers it to workflows_status
-- (status, created_at): equality on status and a range on available_at against equality alone.
CREATE INDEX workflows_due ON workflows (status, available_at)
    WHERE status IN ('pending', 'waiting') AND available_at IS NOT NULL;
