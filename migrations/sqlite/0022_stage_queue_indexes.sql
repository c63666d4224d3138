-- The stage queue's indexes. A lease takes the oldest pending stage a runner matches: through
-- `stages_pending` it reads the head of the queue instead of walking every stage leased before
-- it by id (which made each lease slower as a queue drained). A stage with a `limit:` counts
-- the running stages of its name in its repository through `stages_running_name`.
CREATE INDEX stages_pending ON stages (id) WHERE status = 'pending';
CREATE INDEX stages_running_name ON stages (repo_id, name) WHERE status = 'running';
