-- The embedded OpenID provider: login transactions waiting for a password, provider sessions
-- (the `hangar_oidc_sso` cookie), opaque access tokens, and grant families so a replayed code or
-- a reused refresh token can revoke everything issued from the same grant.

-- An authorization request waiting for the login form. `id_hash` is the hash of the form's
-- transaction token; `browser_hash` the hash of the cookie that binds it to one browser.
CREATE TABLE issuer_logins (
    id_hash         TEXT    PRIMARY KEY,
    browser_hash    TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    nonce           TEXT    NOT NULL,
    code_challenge  TEXT    NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    expires         INTEGER NOT NULL
);
CREATE INDEX issuer_logins_expires ON issuer_logins (expires);

-- Signed in at the provider: `sid` is public (it goes into ID tokens), the cookie is stored hashed.
CREATE TABLE issuer_sessions (
    sid          TEXT    PRIMARY KEY,
    cookie_hash  TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    expires      INTEGER NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX issuer_sessions_user ON issuer_sessions (user_id);

-- Access tokens for the provider's own endpoints (userinfo); opaque, short-lived, hashed. Kept
-- apart from `tokens` so they are never accepted by Hangar's API (audience restriction).
CREATE TABLE issuer_access_tokens (
    hash          TEXT    PRIMARY KEY,
    client_id     TEXT    NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope         TEXT    NOT NULL,
    grant_id      TEXT    NOT NULL,
    provider_sid  TEXT    NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    expires       INTEGER NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX issuer_access_tokens_grant ON issuer_access_tokens (grant_id);
CREATE INDEX issuer_access_tokens_expires ON issuer_access_tokens (expires);

-- Refresh tokens remember their grant (the code they descend from) and the original login time.
ALTER TABLE refresh_tokens ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_sid ON refresh_tokens (provider_sid);

-- Clients: where they may send people after logout; the built-in client's secret, sealed with
-- the server's key so Hangar's own relying party can read it back.
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN secret_sealed BLOB;

CREATE INDEX authorization_codes_expires ON authorization_codes (expires);
