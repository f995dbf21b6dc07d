-- Addresses our mail bounces from (a DSN or an NDR came back). Shown on the complaints of
-- their players; cleared when the address writes to us again or a later mail is delivered.
CREATE TABLE bouncing_addresses (
    address TEXT PRIMARY KEY,
    complaint_id BLOB,
    reason TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    bounces BIGINT NOT NULL
);
