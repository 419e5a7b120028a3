-- The server's reads (plait/store/views.py).
-- Pages of workflows, newest first: ORDER BY created_at DESC, id DESC with the keyset
-- (created_at, id) < (?, ?) of the page before. workflows_created (created_at) could not
-- break ties without a sort; this index serves the whole order and everything the old one
-- served, so it replaces it (no more index to keep up on each write).
DROP INDEX IF EXISTS workflows_created;
CREATE INDEX workflows_page ON workflows (created_at, id);
-- The change feed: workflows whose status changed at or after a time.
CREATE INDEX workflows_updated ON workflows (updated_at);
