-- The player's side: a rating of the resolution on each complaint (the fold of its `rated`
-- events: JSON, and the score alone for reports), the one-time codes players open their
-- complaint with, and the desk's own secrets (the key tracking links and codes are signed with).
ALTER TABLE complaints ADD COLUMN rating TEXT;
ALTER TABLE complaints ADD COLUMN csat SMALLINT;

-- At most one code per complaint is live: a new request replaces it. The code itself is never
-- stored; it is derived from the nonce with the desk's secret.
CREATE TABLE track_codes (
    complaint_id BLOB PRIMARY KEY REFERENCES complaints(id),
    nonce        BLOB NOT NULL,
    issued_at    BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE desk_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
