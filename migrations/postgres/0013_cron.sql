-- Cron jobs of repositories (Drone's shape), each run as the user who last set it up (owner).
-- `next` is when it runs next (Unix ms); a server claims a due run by moving `next` on with a
-- compare-and-set, so one run per slot even with several servers. `error` says why the last
-- due run did not start ('' when it did).
CREATE TABLE crons (
    id        BIGSERIAL PRIMARY KEY,
    repo_id   BIGINT  NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name      TEXT    NOT NULL,
    expr      TEXT    NOT NULL,
    zone      TEXT    NOT NULL DEFAULT 'UTC',
    next      BIGINT  NOT NULL,
    prev      BIGINT  NOT NULL DEFAULT 0,
    event     TEXT    NOT NULL DEFAULT 'push',
    branch    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    disabled  BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id  BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    error     TEXT    NOT NULL DEFAULT '',
    created   BIGINT  NOT NULL,
    updated   BIGINT  NOT NULL,
    UNIQUE (repo_id, name)
);
-- The scheduler's one question each tick: enabled jobs whose `next` has come.
CREATE INDEX crons_due ON crons (disabled, next);
