-- Hangar's own OAuth grants for API access: the device authorization grant (RFC 8628) behind
-- `hangar login`, and the refresh tokens it hands out. Access tokens themselves are API tokens
-- (`tokens`, kind `access`). Every code and token is stored only as a SHA-256 hash.

-- The unused draft of 0002 kept the user code in clear; it never held a row.
DROP TABLE device_authorizations;

-- One device authorization: pending until a signed-in person approves or denies its user code
-- at /device, then redeemed once by the device's poll.
CREATE TABLE device_grants (
    device_code_hash  TEXT    PRIMARY KEY,
    user_code_hash    TEXT    NOT NULL UNIQUE,
    client_id         TEXT    NOT NULL,
    -- JSON list of Hangar scopes; NULL = all of the approving user's rights.
    scopes            TEXT,
    created           INTEGER NOT NULL,
    expires           INTEGER NOT NULL,
    -- The polling interval in milliseconds; grows by 5 s on each `slow_down`.
    interval_ms       INTEGER NOT NULL,
    last_poll         INTEGER NOT NULL DEFAULT 0,
    user_id           INTEGER REFERENCES users(id) ON DELETE CASCADE,
    approved          INTEGER NOT NULL DEFAULT 0,
    denied            INTEGER NOT NULL DEFAULT 0,
    used              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX device_grants_expires ON device_grants (expires);

-- Refresh tokens of API access: rotated on every use. `family` names the chain (every token
-- descended from one device approval), so a revoked token coming back revokes the whole chain
-- and the access tokens issued from it (`access_token_id`).
CREATE TABLE api_refresh_tokens (
    hash             TEXT    PRIMARY KEY,
    family           TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes           TEXT,
    access_token_id  INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    expires          INTEGER NOT NULL,
    revoked          INTEGER NOT NULL DEFAULT 0,
    replaced_by      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX api_refresh_tokens_family ON api_refresh_tokens (family);
