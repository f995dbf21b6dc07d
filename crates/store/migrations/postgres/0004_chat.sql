-- Live chat: a chat is a complaint (channel 'chat') with a session the player's widget holds
-- (by a secret) and a place in the agents' queue. Messages are the complaint's thread.
CREATE TABLE chats (
    id            UUID PRIMARY KEY,
    complaint_id  UUID NOT NULL UNIQUE REFERENCES complaints(id),
    player_id     UUID NOT NULL REFERENCES players(id),
    player_name   TEXT,
    -- SHA-256 of the secret the widget presents
    secret_hash   BYTEA NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'ended')),
    department    TEXT,
    language      TEXT NOT NULL,
    agent_id      UUID REFERENCES agents(id),
    created_at    BIGINT NOT NULL,
    accepted_at   BIGINT,
    ended_at      BIGINT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX chats_status ON chats(status, created_at);
CREATE INDEX chats_agent ON chats(agent_id, status);

-- Which agents have the chat console open, on which node (several nodes share one database).
-- A row not seen for a minute is a node that died without saying goodbye.
CREATE TABLE agent_presence (
    agent_id      UUID NOT NULL REFERENCES agents(id),
    node          TEXT NOT NULL,
    connections   BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL,
    PRIMARY KEY (agent_id, node)
);
