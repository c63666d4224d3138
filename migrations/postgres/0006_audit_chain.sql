-- Tamper evidence for the audit trail, kept beside it so audit rows are never updated: each
-- entry's place in the chain and its SHA-256 (over the previous hash and the entry), and
-- periodic checkpoints signed with the server's key.
CREATE TABLE audit_chain (
    seq       BIGINT PRIMARY KEY,
    audit_id  BIGINT NOT NULL UNIQUE,
    hash      TEXT    NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT    NOT NULL,
    time       BIGINT NOT NULL,
    signature  TEXT    NOT NULL
);
