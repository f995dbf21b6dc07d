-- Sign-in lock-out: failed attempts in a row, and until when the login is locked after too many.
ALTER TABLE agents ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN locked_until BIGINT;
