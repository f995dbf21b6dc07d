-- Second factor: an agent's TOTP secret once confirmed, the one being set up, and the last
-- time step used (a code is good once).
ALTER TABLE agents ADD COLUMN totp_secret BLOB;
ALTER TABLE agents ADD COLUMN totp_pending BLOB;
ALTER TABLE agents ADD COLUMN totp_last_step BIGINT;
