-- SLA settings saved through the API: every version kept, the newest in force (over the
-- configuration file's [sla], which is only the starting point).
CREATE TABLE sla_settings (
    version     BIGINT PRIMARY KEY,
    -- the SlaSpec as JSON, checked when saved
    spec        TEXT NOT NULL,
    saved_by    TEXT NOT NULL,
    saved_at    BIGINT NOT NULL
);
