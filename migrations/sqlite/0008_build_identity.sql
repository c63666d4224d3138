-- Builds carry identity: who each build acts as (a user and the token or session it came
-- through, or an unverified forge sender), what its credential is bound to, why it waits for
-- approval and who approved it; forge logins linked to users; each repository's trigger policy.

ALTER TABLE builds ADD COLUMN actor_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN actor_user_id INTEGER;
ALTER TABLE builds ADD COLUMN actor_login TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN actor_token_id INTEGER;
ALTER TABLE builds ADD COLUMN actor_session_id INTEGER;
ALTER TABLE builds ADD COLUMN actor_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN actor_entitled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN token_expires INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN blocked_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';

ALTER TABLE repos ADD COLUMN trigger_policy TEXT NOT NULL DEFAULT 'known_senders';

-- Whether the identity provider vouched for the user's email (webhook senders map by it).
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- A forge login (`github:octocat`) belongs to at most one user.
CREATE TABLE forge_links (
    forge    TEXT    NOT NULL,
    login    TEXT    NOT NULL,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created  INTEGER NOT NULL,
    PRIMARY KEY (forge, login)
);
CREATE INDEX forge_links_user ON forge_links (user_id);
