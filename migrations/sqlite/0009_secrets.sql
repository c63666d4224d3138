-- Secrets of repositories (repo_id set) and of organisations (repo_id 0, namespace = the owner),
-- sealed with AES-256-GCM under the server key named by key_id. Values never leave the server
-- except into the steps that name them.
CREATE TABLE secrets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace          TEXT    NOT NULL,
    repo_id            INTEGER NOT NULL DEFAULT 0,
    name               TEXT    NOT NULL,
    data               BLOB    NOT NULL,
    key_id             TEXT    NOT NULL,
    pull_request       BOOLEAN NOT NULL DEFAULT FALSE,
    pull_request_push  BOOLEAN NOT NULL DEFAULT FALSE,
    branches           TEXT    NOT NULL DEFAULT '[]',
    targets            TEXT    NOT NULL DEFAULT '[]',
    created            INTEGER NOT NULL,
    updated            INTEGER NOT NULL,
    UNIQUE (namespace, repo_id, name)
);

-- A running step's right to ask for workload ID tokens: the bearer it was given, hashed, bound
-- to its build and step.
CREATE TABLE id_token_grants (
    hash        TEXT    PRIMARY KEY,
    build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    step_id     INTEGER NOT NULL,
    stage_name  TEXT    NOT NULL,
    step_name   TEXT    NOT NULL,
    created     INTEGER NOT NULL
);
CREATE INDEX id_token_grants_build ON id_token_grants (build_id);
