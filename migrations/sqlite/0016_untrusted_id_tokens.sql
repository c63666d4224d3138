-- Builds from fork pull requests, and builds whose sender was taken at the forge's word
-- (trigger_policy any_sender), get no ID tokens unless their repository allows it.
ALTER TABLE repos ADD COLUMN untrusted_id_tokens BOOLEAN NOT NULL DEFAULT FALSE;
