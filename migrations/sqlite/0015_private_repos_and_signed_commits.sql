-- Clone credentials of private repositories (Drone's netrc): the username and the token, sealed
-- with AES-256-GCM under the server key named by key_id. The machine is the clone URL's host,
-- so it is not stored. The token never leaves the server except into git and the clone step.
CREATE TABLE repo_netrc (
    repo_id   INTEGER PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    username  TEXT    NOT NULL,
    password  BLOB    NOT NULL,
    key_id    TEXT    NOT NULL,
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL
);

-- Verified commits: with verify_commits on, a build's head commit must carry a good signature by
-- a key registered to an active user, or the build waits for approval.
ALTER TABLE repos ADD COLUMN verify_commits BOOLEAN NOT NULL DEFAULT FALSE;

-- Public keys users sign commits with: SSH (fingerprint SHA256:...) or OpenPGP (the primary
-- key's fingerprint), each registered to one user.
CREATE TABLE user_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL UNIQUE,
    public_key   TEXT    NOT NULL,
    created      INTEGER NOT NULL
);
CREATE INDEX user_keys_user ON user_keys (user_id);
