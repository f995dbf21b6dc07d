-- Macros (canned responses): a title, an optional department, and the text per language as a
-- JSON object {"ru": "...", "kk": "...", "en": "..."}.
CREATE TABLE macros (
    id         UUID PRIMARY KEY,
    title      TEXT NOT NULL,
    department TEXT REFERENCES departments(code),
    texts      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- SLA at risk: a running clock has passed its warning but not its deadline (derived from the
-- sla column on every write, like sla_breached; a complaint warned before this migration is
-- flagged at its next change). The workspace's "at risk" queue reads the open ones by index.
ALTER TABLE complaints ADD COLUMN sla_at_risk BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX complaints_open_at_risk ON complaints(id, department, assignee)
    WHERE sla_at_risk AND status IN ('new', 'routed', 'in_progress', 'waiting_on_player');

-- Who has a complaint open in the workspace, and whether they are writing to the player: each
-- page beats every few seconds; a beat older than half a minute no longer counts.
CREATE TABLE presence (
    complaint_id UUID NOT NULL REFERENCES complaints(id),
    agent_id     UUID NOT NULL REFERENCES agents(id),
    state        TEXT NOT NULL,
    seen_at      BIGINT NOT NULL,
    PRIMARY KEY (complaint_id, agent_id)
);
