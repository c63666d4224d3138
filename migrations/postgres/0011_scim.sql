-- SCIM 2.0 provisioning: the provisioning clients' bearer tokens (hashed), the users a provider
-- provisioned (the SCIM side of a row of `users`), and groups with their members. A provisioned
-- user's `users.groups` is the display names of the groups they are a member of.

CREATE TABLE scim_tokens (
    id       BIGSERIAL PRIMARY KEY,
    name     TEXT    NOT NULL,
    hash     TEXT    NOT NULL UNIQUE,
    prefix   TEXT    NOT NULL,
    created  BIGINT NOT NULL,
    revoked  BIGINT NOT NULL DEFAULT 0
);

-- `user_name_key` is `user_name` in lower case (userName is not case-exact); a deleted user keeps
-- its row (so a later login through the provider is still refused) but frees its userName.
CREATE TABLE scim_users (
    user_id       BIGINT  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    scim_id       TEXT    NOT NULL UNIQUE,
    user_name     TEXT    NOT NULL,
    user_name_key TEXT    NOT NULL,
    external_id   TEXT,
    display_name  TEXT    NOT NULL DEFAULT '',
    resource      TEXT    NOT NULL DEFAULT '{}',
    deleted       BIGINT NOT NULL DEFAULT 0,
    created       BIGINT NOT NULL,
    updated       BIGINT NOT NULL
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (user_name_key) WHERE deleted = 0;
CREATE INDEX scim_users_external_id ON scim_users (external_id);

CREATE TABLE scim_groups (
    id            BIGSERIAL PRIMARY KEY,
    scim_id       TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL UNIQUE,
    external_id   TEXT,
    created       BIGINT NOT NULL,
    updated       BIGINT NOT NULL
);

CREATE TABLE scim_members (
    group_id  BIGINT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_members_user ON scim_members (user_id);
