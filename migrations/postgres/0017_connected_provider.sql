-- The login provider connected from the browser (`/admin/identity`): the draft an
-- administrator enters and tests, and the active copy logins use once it is switched on. The
-- client secret is sealed with the server key (re-sealed by `hangar secret rotate-key`) and
-- never returned. Providers set in the config file or the environment win over these rows.
CREATE TABLE identity_providers (
    slot            TEXT    PRIMARY KEY CHECK (slot IN ('draft', 'active')),
    issuer          TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    client_secret   BYTEA   NOT NULL,
    -- Space-separated; '' asks for the default set.
    scopes          TEXT    NOT NULL DEFAULT '',
    groups_claim    TEXT    NOT NULL,
    -- Goes up with every change of the draft; a test login is good for one revision.
    revision        BIGINT  NOT NULL,
    secret_updated  BIGINT  NOT NULL,
    updated         BIGINT  NOT NULL,
    tested_revision BIGINT  NOT NULL DEFAULT 0,
    tested          BIGINT  NOT NULL DEFAULT 0,
    -- JSON: the subject, claims, groups and roles the last good test login saw.
    test_result     TEXT    NOT NULL DEFAULT ''
);

-- The scopes a provider granted at its last login (`listed`: the token response named them;
-- otherwise they are the ones asked, as RFC 6749 says).
CREATE TABLE identity_scopes_granted (
    issuer  TEXT    PRIMARY KEY,
    scopes  TEXT    NOT NULL,
    listed  BOOLEAN NOT NULL,
    time    BIGINT  NOT NULL
);
