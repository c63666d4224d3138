-- Remote runners' leases in the database, so that every server sharing it answers a runner the
-- same way: which runner holds lease number `lease` of a stage, since when, and whether and why
-- it ended. A runner may then talk to any server, and a restarted server leaves the leases of
-- live runners alone; a runner whose heartbeat (`runners.last_seen`) stops loses them.
CREATE TABLE stage_leases (
    stage_id   BIGINT NOT NULL,
    lease      BIGINT NOT NULL,
    runner_id  BIGINT NOT NULL,
    leased_at  BIGINT NOT NULL,
    ended      BIGINT NOT NULL DEFAULT 0,
    why        TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (stage_id, lease)
);
CREATE INDEX stage_leases_open ON stage_leases (runner_id) WHERE ended = 0;

-- A step handed its credentials (just before its process starts) may have started: a stage
-- with such a step is never put back in the queue.
ALTER TABLE steps ADD COLUMN handed BIGINT NOT NULL DEFAULT 0;
