-- Tamper evidence for the audit trail, kept beside it so audit rows are never updated: each
-- entry's place in the chain and its SHA-256 (over the previous hash and the entry), and
-- periodic checkpoints signed with the server's key.
CREATE TABLE audit_chain (
    seq       INTEGER PRIMARY KEY,
    audit_id  INTEGER NOT NULL UNIQUE,
    hash      TEXT    NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT    NOT NULL,
    time       INTEGER NOT NULL,
    signature  TEXT    NOT NULL
);
