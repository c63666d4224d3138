-- Clone credentials of private repositories (Drone's netrc): the username and the token, sealed
-- with AES-256-GCM under the server key named by key_id. The machine is the clone URL's host,
-- so it is not stored. The token never leaves the server except into git and the clone step.
CREATE TABLE repo_netrc (
    repo_id   BIGINT  PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    username  TEXT    NOT NULL,
    password  BYTEA   NOT NULL,
    key_id    TEXT    NOT NULL,
    created   BIGINT  NOT NULL,
    updated   BIGINT  NOT NULL
);
