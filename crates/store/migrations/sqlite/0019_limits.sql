-- Budgets that outlive any one code, request or connection: uses counted per key and per fixed
-- time window (wrong tracking-code guesses per complaint and per client address, codes e-mailed
-- per complaint, mail sent to an address that never wrote to the desk). Shared by every node.
CREATE TABLE rate_counts (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
