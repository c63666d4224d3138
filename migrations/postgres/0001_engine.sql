-- The pipeline engine: users and tokens, repositories, builds, stages, steps, logs, audit.
-- Timestamps are Unix milliseconds; enums are TEXT; booleans are BOOLEAN.

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    login       TEXT    NOT NULL UNIQUE,
    email       TEXT    NOT NULL DEFAULT '',
    machine     BOOLEAN NOT NULL DEFAULT FALSE,
    admin       BOOLEAN NOT NULL DEFAULT FALSE,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    avatar      TEXT    NOT NULL DEFAULT '',
    created     BIGINT  NOT NULL,
    updated     BIGINT  NOT NULL,
    last_login  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    expires     BIGINT  NOT NULL DEFAULT 0,
    created     BIGINT  NOT NULL,
    last_used   BIGINT  NOT NULL DEFAULT 0,
    revoked     BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE repos (
    id                        BIGSERIAL PRIMARY KEY,
    uid                       TEXT    NOT NULL DEFAULT '',
    user_id                   BIGINT  NOT NULL,
    namespace                 TEXT    NOT NULL,
    name                      TEXT    NOT NULL,
    slug                      TEXT    NOT NULL UNIQUE,
    scm                       TEXT    NOT NULL DEFAULT 'git',
    git_http_url              TEXT    NOT NULL,
    git_ssh_url               TEXT    NOT NULL DEFAULT '',
    link                      TEXT    NOT NULL DEFAULT '',
    default_branch            TEXT    NOT NULL,
    private                   BOOLEAN NOT NULL DEFAULT TRUE,
    visibility                TEXT    NOT NULL DEFAULT 'private',
    active                    BOOLEAN NOT NULL DEFAULT TRUE,
    config_path               TEXT    NOT NULL,
    trusted                   BOOLEAN NOT NULL DEFAULT FALSE,
    protected                 BOOLEAN NOT NULL DEFAULT FALSE,
    ignore_forks              BOOLEAN NOT NULL DEFAULT FALSE,
    ignore_pull_requests      BOOLEAN NOT NULL DEFAULT FALSE,
    auto_cancel_pull_requests BOOLEAN NOT NULL DEFAULT FALSE,
    auto_cancel_pushes        BOOLEAN NOT NULL DEFAULT FALSE,
    auto_cancel_running       BOOLEAN NOT NULL DEFAULT FALSE,
    timeout                   BIGINT  NOT NULL DEFAULT 60,
    counter                   BIGINT  NOT NULL DEFAULT 0,
    synced                    BIGINT  NOT NULL DEFAULT 0,
    created                   BIGINT  NOT NULL,
    updated                   BIGINT  NOT NULL,
    version                   BIGINT  NOT NULL DEFAULT 1,
    archived                  BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_secret            TEXT    NOT NULL
);

CREATE TABLE configs (
    id      BIGSERIAL PRIMARY KEY,
    hash    TEXT    NOT NULL UNIQUE,
    data    TEXT    NOT NULL
);

CREATE TABLE builds (
    id             BIGSERIAL PRIMARY KEY,
    repo_id        BIGINT  NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    trigger_by     TEXT    NOT NULL,
    number         BIGINT  NOT NULL,
    parent         BIGINT  NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL,
    error          TEXT    NOT NULL DEFAULT '',
    event          TEXT    NOT NULL,
    action         TEXT    NOT NULL DEFAULT '',
    link           TEXT    NOT NULL DEFAULT '',
    timestamp      BIGINT  NOT NULL DEFAULT 0,
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
    deploy_id      BIGINT  NOT NULL DEFAULT 0,
    started        BIGINT  NOT NULL DEFAULT 0,
    finished       BIGINT  NOT NULL DEFAULT 0,
    created        BIGINT  NOT NULL,
    updated        BIGINT  NOT NULL,
    version        BIGINT  NOT NULL DEFAULT 1,
    delivery_id    TEXT    NOT NULL DEFAULT '',
    config_id      BIGINT  REFERENCES configs(id),
    UNIQUE (repo_id, number)
);
CREATE UNIQUE INDEX builds_delivery ON builds (repo_id, delivery_id) WHERE delivery_id <> '';
CREATE INDEX builds_status ON builds (status);

CREATE TABLE stages (
    id          BIGSERIAL PRIMARY KEY,
    repo_id     BIGINT  NOT NULL,
    build_id    BIGINT  NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    number      BIGINT  NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    errignore   BOOLEAN NOT NULL DEFAULT FALSE,
    exit_code   BIGINT  NOT NULL DEFAULT 0,
    machine     TEXT    NOT NULL DEFAULT '',
    os          TEXT    NOT NULL,
    arch        TEXT    NOT NULL,
    variant     TEXT    NOT NULL DEFAULT '',
    kernel      TEXT    NOT NULL DEFAULT '',
    limit_n     BIGINT  NOT NULL DEFAULT 0,
    started     BIGINT  NOT NULL DEFAULT 0,
    stopped     BIGINT  NOT NULL DEFAULT 0,
    created     BIGINT  NOT NULL,
    updated     BIGINT  NOT NULL,
    version     BIGINT  NOT NULL DEFAULT 1,
    on_success  BOOLEAN NOT NULL DEFAULT TRUE,
    on_failure  BOOLEAN NOT NULL DEFAULT FALSE,
    depends_on  TEXT    NOT NULL DEFAULT '[]',
    labels      TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (build_id, number)
);
CREATE INDEX stages_status ON stages (status);

CREATE TABLE steps (
    id          BIGSERIAL PRIMARY KEY,
    stage_id    BIGINT  NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    number      BIGINT  NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    errignore   BOOLEAN NOT NULL DEFAULT FALSE,
    exit_code   BIGINT  NOT NULL DEFAULT 0,
    started     BIGINT  NOT NULL DEFAULT 0,
    stopped     BIGINT  NOT NULL DEFAULT 0,
    version     BIGINT  NOT NULL DEFAULT 1,
    depends_on  TEXT    NOT NULL DEFAULT '[]',
    detached    BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (stage_id, number)
);

-- A step's log, in chunks of many lines (not a row per line). `data` is a sequence of
-- (varint seconds since the step started, varint length, bytes) per line.
CREATE TABLE log_chunks (
    step_id     BIGINT  NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
    seq         BIGINT  NOT NULL,
    first_pos   BIGINT  NOT NULL,
    line_count  BIGINT  NOT NULL,
    byte_count  BIGINT  NOT NULL,
    data        BYTEA   NOT NULL,
    PRIMARY KEY (step_id, seq)
);

-- Append-only: the code has no UPDATE or DELETE for this table.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    time        BIGINT  NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    BIGINT,
    actor_name  TEXT    NOT NULL,
    token_id    BIGINT,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT 'null'
);
CREATE INDEX audit_events_time ON audit_events (time);
