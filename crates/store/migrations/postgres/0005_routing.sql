-- Routing: every saved version of the rule set (the newest is in force; the older ones are its
-- history), and the classifier models trained on resolved complaints, one per target.
CREATE TABLE routing_rules (
    version     BIGINT PRIMARY KEY,
    -- the rule set as JSON (the RuleSetSpec), already compiled and checked when saved
    spec        TEXT NOT NULL,
    rules       BIGINT NOT NULL,
    saved_by    TEXT NOT NULL,
    saved_at    BIGINT NOT NULL
);

CREATE TABLE classifier_models (
    -- 'department' or 'category'
    target      TEXT PRIMARY KEY,
    model       BYTEA NOT NULL,
    examples    BIGINT NOT NULL,
    labels      BIGINT NOT NULL,
    trained_at  BIGINT NOT NULL
);

-- Training reads resolved complaints, newest first.
CREATE INDEX complaints_resolved ON complaints(resolved_at) WHERE resolved_at IS NOT NULL;
