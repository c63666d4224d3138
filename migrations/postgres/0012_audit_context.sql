-- Where an audited change came from: the request id, the client's address and user agent (a
-- JSON object; NULL for changes no request made, such as the scheduler's).
ALTER TABLE audit_events ADD COLUMN context TEXT;
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_actor ON audit_events (actor_name, id);

-- Where each audit sink (file, HTTP, syslog) has got to: the last chain position it delivered.
CREATE TABLE audit_sink_positions (
    sink  TEXT    PRIMARY KEY,
    seq   BIGINT  NOT NULL
);

-- Whether a token's expiry is in the audit trail yet (each expiry is recorded once, by one
-- server).
ALTER TABLE tokens ADD COLUMN expiry_audited BOOLEAN NOT NULL DEFAULT FALSE;
