-- The pipeline engine: users and tokens, repositories, builds, stages, steps, logs, audit.
-- Timestamps are Unix milliseconds; enums are TEXT; booleans are INTEGER 0/1.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    login       TEXT    NOT NULL UNIQUE,
    email       TEXT    NOT NULL DEFAULT '',
    machine     INTEGER NOT NULL DEFAULT 0,
    admin       INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 1,
    avatar      TEXT    NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    last_login  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    expires     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    last_used   INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE repos (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                       TEXT    NOT NULL DEFAULT '',
    user_id                   INTEGER NOT NULL,
    namespace                 TEXT    NOT NULL,
    name                      TEXT    NOT NULL,
    slug                      TEXT    NOT NULL UNIQUE,
    scm                       TEXT    NOT NULL DEFAULT 'git',
    git_http_url              TEXT    NOT NULL,
    git_ssh_url               TEXT    NOT NULL DEFAULT '',
    link                      TEXT    NOT NULL DEFAULT '',
    default_branch            TEXT    NOT NULL,
    private                   INTEGER NOT NULL DEFAULT 1,
    visibility                TEXT    NOT NULL DEFAULT 'private',
    active                    INTEGER NOT NULL DEFAULT 1,
    config_path               TEXT    NOT NULL,
    trusted                   INTEGER NOT NULL DEFAULT 0,
    protected                 INTEGER NOT NULL DEFAULT 0,
    ignore_forks              INTEGER NOT NULL DEFAULT 0,
    ignore_pull_requests      INTEGER NOT NULL DEFAULT 0,
    auto_cancel_pull_requests INTEGER NOT NULL DEFAULT 0,
    auto_cancel_pushes        INTEGER NOT NULL DEFAULT 0,
    auto_cancel_running       INTEGER NOT NULL DEFAULT 0,
    timeout                   INTEGER NOT NULL DEFAULT 60,
    counter                   INTEGER NOT NULL DEFAULT 0,
    synced                    INTEGER NOT NULL DEFAULT 0,
    created                   INTEGER NOT NULL,
    updated                   INTEGER NOT NULL,
    version                   INTEGER NOT NULL DEFAULT 1,
    archived                  INTEGER NOT NULL DEFAULT 0,
    webhook_secret            TEXT    NOT NULL
);

CREATE TABLE configs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    hash    TEXT    NOT NULL UNIQUE,
    data    TEXT    NOT NULL
);

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id        INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    trigger_by     TEXT    NOT NULL,
    number         INTEGER NOT NULL,
    parent         INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL,
    error          TEXT    NOT NULL DEFAULT '',
    event          TEXT    NOT NULL,
    action         TEXT    NOT NULL DEFAULT '',
    link           TEXT    NOT NULL DEFAULT '',
    timestamp      INTEGER NOT NULL DEFAULT 0,
    title          TEXT    NOT NULL DEFAULT '',
    message        TEXT    NOT NULL DEFAULT '',
    before_sha     TEXT    NOT NULL DEFAULT '',
    after_sha      TEXT    NOT NULL DEFAULT '',
    git_ref        TEXT    NOT NULL DEFAULT '',
    source_repo    TEXT    NOT NULL DEFAULT '',
    source         TEXT    NOT NULL DEFAULT '',
    target         TEXT    NOT NULL DEFAULT '',
    author_login   TEXT    NOT NULL DEFAULT '',
    author_name    TEXT    NOT NULL DEFAULT '',
    author_email   TEXT    NOT NULL DEFAULT '',
    author_avatar  TEXT    NOT NULL DEFAULT '',
    sender         TEXT    NOT NULL DEFAULT '',
    params         TEXT    NOT NULL DEFAULT '{}',
    cron           TEXT    NOT NULL DEFAULT '',
    deploy_to      TEXT    NOT NULL DEFAULT '',
    deploy_id      INTEGER NOT NULL DEFAULT 0,
    started        INTEGER NOT NULL DEFAULT 0,
    finished       INTEGER NOT NULL DEFAULT 0,
    created        INTEGER NOT NULL,
    updated        INTEGER NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    delivery_id    TEXT    NOT NULL DEFAULT '',
    config_id      INTEGER REFERENCES configs(id),
    UNIQUE (repo_id, number)
);
CREATE UNIQUE INDEX builds_delivery ON builds (repo_id, delivery_id) WHERE delivery_id <> '';
CREATE INDEX builds_status ON builds (status);

CREATE TABLE stages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id     INTEGER NOT NULL,
    build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    errignore   INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER NOT NULL DEFAULT 0,
    machine     TEXT    NOT NULL DEFAULT '',
    os          TEXT    NOT NULL,
    arch        TEXT    NOT NULL,
    variant     TEXT    NOT NULL DEFAULT '',
    kernel      TEXT    NOT NULL DEFAULT '',
    limit_n     INTEGER NOT NULL DEFAULT 0,
    started     INTEGER NOT NULL DEFAULT 0,
    stopped     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    on_success  INTEGER NOT NULL DEFAULT 1,
    on_failure  INTEGER NOT NULL DEFAULT 0,
    depends_on  TEXT    NOT NULL DEFAULT '[]',
    labels      TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (build_id, number)
);
CREATE INDEX stages_status ON stages (status);

CREATE TABLE steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stage_id    INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    errignore   INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER NOT NULL DEFAULT 0,
    started     INTEGER NOT NULL DEFAULT 0,
    stopped     INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 1,
    depends_on  TEXT    NOT NULL DEFAULT '[]',
    detached    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (stage_id, number)
);

-- A step's log, in chunks of many lines (not a row per line). `data` is a sequence of
-- (varint seconds since the step started, varint length, bytes) per line.
CREATE TABLE log_chunks (
    step_id     INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    first_pos   INTEGER NOT NULL,
    line_count  INTEGER NOT NULL,
    byte_count  INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    PRIMARY KEY (step_id, seq)
);

-- Append-only: the code has no UPDATE or DELETE for this table.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER,
    actor_name  TEXT    NOT NULL,
    token_id    INTEGER,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT 'null'
);
CREATE INDEX audit_events_time ON audit_events (time);
