-- Identity: who users are at their provider, their groups, tokens with scopes, browser sessions,
-- login transactions, and the embedded OpenID provider's keys, codes and clients.

-- A user is one identity at one provider, keyed on (iss, sub); machine and service accounts
-- have no provider.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN iss TEXT;
ALTER TABLE users ADD COLUMN sub TEXT;
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN groups_updated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN forge_logins TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX users_provider_identity ON users (iss, sub);

-- Local users of the embedded provider: an Argon2id hash and their groups.
CREATE TABLE local_accounts (
    user_id        BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    password_hash  TEXT    NOT NULL,
    groups         TEXT    NOT NULL DEFAULT '[]',
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT NOT NULL DEFAULT 0,
    created        BIGINT NOT NULL,
    updated        BIGINT NOT NULL
);

-- Tokens: scopes (JSON list; NULL = all of the owner's rights), a display prefix, who made it.
ALTER TABLE tokens ADD COLUMN scopes TEXT;
ALTER TABLE tokens ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN created_by BIGINT;
CREATE INDEX tokens_user ON tokens (user_id);

-- Browser sessions, stored server-side; the cookie holds only a random id, stored hashed.
CREATE TABLE sessions (
    id                 BIGSERIAL PRIMARY KEY,
    hash               TEXT    NOT NULL UNIQUE,
    user_id            BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider           TEXT    NOT NULL,
    provider_sid       TEXT    NOT NULL DEFAULT '',
    id_token_jti       TEXT    NOT NULL DEFAULT '',
    auth_time          BIGINT NOT NULL DEFAULT 0,
    refresh_token      BYTEA,
    id_token_hint      BYTEA,
    provider_expires   BIGINT NOT NULL DEFAULT 0,
    csrf_token         TEXT    NOT NULL,
    created            BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    absolute_expires   BIGINT NOT NULL,
    revalidate_at      BIGINT NOT NULL,
    failing_since      BIGINT NOT NULL DEFAULT 0,
    revoked            BIGINT NOT NULL DEFAULT 0,
    revoked_reason     TEXT    NOT NULL DEFAULT '',
    user_agent         TEXT    NOT NULL DEFAULT '',
    source_ip          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revalidate ON sessions (revalidate_at);

-- A login in progress: state (hashed), nonce, PKCE verifier (sealed), the issuer it went to,
-- where to return; bound to the browser by a cookie holding the state.
CREATE TABLE login_transactions (
    state_hash     TEXT    PRIMARY KEY,
    provider       TEXT    NOT NULL,
    issuer         TEXT    NOT NULL,
    nonce          TEXT    NOT NULL,
    pkce_verifier  BYTEA    NOT NULL,
    return_to      TEXT    NOT NULL DEFAULT '/',
    purpose        TEXT    NOT NULL DEFAULT 'login',
    created        BIGINT NOT NULL,
    expires        BIGINT NOT NULL
);

-- The embedded provider: signing keys (private part sealed), clients, codes, refresh tokens,
-- device authorizations.
CREATE TABLE signing_keys (
    kid          TEXT    PRIMARY KEY,
    alg          TEXT    NOT NULL,
    private_key  BYTEA    NOT NULL,
    public_jwk   TEXT    NOT NULL,
    created      BIGINT NOT NULL,
    retired      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE oauth_clients (
    client_id      TEXT    PRIMARY KEY,
    secret_hash    TEXT    NOT NULL DEFAULT '',
    name           TEXT    NOT NULL,
    redirect_uris  TEXT    NOT NULL DEFAULT '[]',
    grant_types    TEXT    NOT NULL DEFAULT '[]',
    user_id        BIGINT REFERENCES users(id) ON DELETE CASCADE,
    scopes         TEXT,
    created        BIGINT NOT NULL,
    revoked        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE authorization_codes (
    code_hash       TEXT    PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    nonce           TEXT    NOT NULL DEFAULT '',
    code_challenge  TEXT    NOT NULL,
    auth_time       BIGINT NOT NULL,
    provider_sid    TEXT    NOT NULL DEFAULT '',
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE refresh_tokens (
    hash          TEXT    PRIMARY KEY,
    client_id     TEXT    NOT NULL,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope         TEXT    NOT NULL,
    provider_sid  TEXT    NOT NULL DEFAULT '',
    created       BIGINT NOT NULL,
    expires       BIGINT NOT NULL,
    revoked       BIGINT NOT NULL DEFAULT 0,
    replaced_by   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE device_authorizations (
    device_code_hash  TEXT    PRIMARY KEY,
    user_code         TEXT    NOT NULL UNIQUE,
    client_id         TEXT    NOT NULL,
    scope             TEXT    NOT NULL,
    created           BIGINT NOT NULL,
    expires           BIGINT NOT NULL,
    interval_secs     BIGINT NOT NULL,
    last_poll         BIGINT NOT NULL DEFAULT 0,
    user_id           BIGINT REFERENCES users(id) ON DELETE CASCADE,
    denied            BIGINT NOT NULL DEFAULT 0,
    used              BIGINT NOT NULL DEFAULT 0
);
