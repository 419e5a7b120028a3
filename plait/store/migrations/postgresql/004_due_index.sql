-- Ready and due workflows by time, whatever their queue (the same index as SQLite's 004).
-- 001 made workflows_due on (available_at) for pending and waiting rows; it also held every
-- workflow waiting without a deadline (available_at NULL). Rebuilt without those, so the
-- claim's ready query and next_due's min(available_at) read only rows that have a time.
DROP INDEX IF EXISTS workflows_due;
CREATE INDEX workflows_due ON workflows (available_at)
    WHERE status IN ('pending', 'waiting') AND available_at IS NOT NULL;
