-- Remote runners: each its own identity and token (stored hashed), scoped to one label set and,
-- optionally, to repositories; revoked, never deleted. A lease records its runner and its
-- number (each lease of a stage counts up), so a runner that lost its lease is refused.
CREATE TABLE runners (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    prefix      TEXT    NOT NULL,
    labels      TEXT    NOT NULL DEFAULT '{}',
    repos       TEXT    NOT NULL DEFAULT '[]',
    os          TEXT    NOT NULL DEFAULT '',
    arch        TEXT    NOT NULL DEFAULT '',
    capacity    INTEGER NOT NULL DEFAULT 0,
    version     TEXT    NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    created_by  TEXT    NOT NULL DEFAULT '',
    last_seen   INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX runners_live_name ON runners (name) WHERE revoked = 0;

ALTER TABLE stages ADD COLUMN runner_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stages ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stages ADD COLUMN requeued INTEGER NOT NULL DEFAULT 0;
