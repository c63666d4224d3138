-- Cron jobs of repositories (Drone's shape), each run as the user who last set it up (owner).
-- `next` is when it runs next (Unix ms); a server claims a due run by moving `next` on with a
-- compare-and-set, so one run per slot even with several servers. `error` says why the last
-- due run did not start ('' when it did).
CREATE TABLE crons (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id   INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name      TEXT    NOT NULL,
    expr      TEXT    NOT NULL,
    zone      TEXT    NOT NULL DEFAULT 'UTC',
    next      INTEGER NOT NULL,
    prev      INTEGER NOT NULL DEFAULT 0,
    event     TEXT    NOT NULL DEFAULT 'push',
    branch    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    disabled  BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    error     TEXT    NOT NULL DEFAULT '',
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    UNIQUE (repo_id, name)
);
-- The scheduler's one question each tick: enabled jobs whose `next` has come.
CREATE INDEX crons_due ON crons (disabled, next);
