-- Outbound e-mail templates an administrator replaced (the workspace's settings): one row per
-- template name (`ru/acknowledgment.txt`); a template without a row is the built-in one.
CREATE TABLE mail_templates (
    name     TEXT PRIMARY KEY,
    source   TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
