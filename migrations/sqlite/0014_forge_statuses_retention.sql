-- Commit statuses sent back to the forge, and retention.
--
-- A repository's forge credentials: which API (github or gitea), its base URL ('' = the
-- default: `github_api_url`, or the clone URL's origin for Gitea) and a token sealed with the
-- server key. Never returned by the API.
CREATE TABLE repo_forges (
    repo_id   INTEGER PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL,
    api_url   TEXT    NOT NULL DEFAULT '',
    token     BLOB    NOT NULL,
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL
);

-- The last status posted (or being posted) for each context of a build, with its outcome.
CREATE TABLE forge_statuses (
    build_id     INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    context      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    error        TEXT    NOT NULL DEFAULT '',
    updated      INTEGER NOT NULL,
    PRIMARY KEY (build_id, context)
);

-- When a build's logs were deleted by retention (0: kept). Builds still holding logs are few
-- once retention runs, so the purge looks only at those.
ALTER TABLE builds ADD COLUMN logs_purged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX builds_logs_kept ON builds (id) WHERE logs_purged = 0;
CREATE INDEX builds_repo_finished ON builds (repo_id, finished);
-- Retention deletes a configuration once no build refers to it.
CREATE INDEX builds_config ON builds (config_id);
