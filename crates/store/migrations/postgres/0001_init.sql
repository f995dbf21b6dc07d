-- ombuds schema, PostgreSQL flavour. Instants are BIGINT microseconds since the Unix epoch (UTC);
-- ids are UUIDs (native uuid here); JSON columns are TEXT.
CREATE TABLE departments (
    code        TEXT PRIMARY KEY,
    name_en     TEXT NOT NULL,
    name_ru     TEXT NOT NULL,
    name_kk     TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE agents (
    id              UUID PRIMARY KEY,
    login           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    email           TEXT,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    departments     TEXT NOT NULL DEFAULT '[]',
    languages       TEXT NOT NULL DEFAULT '[]',
    password_hash   TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    agent_id    UUID NOT NULL REFERENCES agents(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_agent ON sessions(agent_id);

CREATE TABLE api_tokens (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_by  UUID,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE players (
    id           UUID PRIMARY KEY,
    external_id  TEXT UNIQUE,
    name         TEXT,
    email        TEXT,
    phone        TEXT,
    language     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX players_email ON players(email);
CREATE INDEX players_phone ON players(phone);

CREATE TABLE complaints (
    id                 UUID PRIMARY KEY,
    ref                TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL,
    channel            TEXT NOT NULL,
    player_id          UUID NOT NULL REFERENCES players(id),
    subject            TEXT NOT NULL,
    description        TEXT NOT NULL,
    language           TEXT NOT NULL,
    department         TEXT REFERENCES departments(code),
    category           TEXT,
    priority           TEXT NOT NULL,
    assignee           UUID REFERENCES agents(id),
    tags               TEXT NOT NULL DEFAULT '[]',
    escalation         TEXT,
    escalated          BOOLEAN NOT NULL DEFAULT FALSE,
    resolution         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    first_response_at  BIGINT,
    resolved_at        BIGINT,
    closed_at          BIGINT,
    version            BIGINT NOT NULL,
    -- lower-cased reference, subject and description, for case-insensitive search in any script
    search_text        TEXT NOT NULL
);
CREATE INDEX complaints_status ON complaints(status, id);
CREATE INDEX complaints_department ON complaints(department, id);
CREATE INDEX complaints_assignee ON complaints(assignee, id);
CREATE INDEX complaints_player ON complaints(player_id, id);
CREATE INDEX complaints_created ON complaints(created_at);

CREATE TABLE messages (
    id            UUID PRIMARY KEY,
    complaint_id  UUID NOT NULL REFERENCES complaints(id),
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    author        TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX messages_complaint ON messages(complaint_id, created_at);

-- The append-only, hash-chained event log. `seq` has no gaps; `event_chain` holds the head.
CREATE TABLE events (
    seq           BIGINT PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    complaint_id  UUID NOT NULL REFERENCES complaints(id),
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    data          TEXT NOT NULL,
    at            BIGINT NOT NULL,
    prev_hash     BYTEA NOT NULL,
    hash          BYTEA NOT NULL
);
CREATE INDEX events_complaint ON events(complaint_id, seq);

CREATE TABLE event_chain (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);
INSERT INTO event_chain (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- The outbox: follow-up work written in the same transaction as the change that caused it.
CREATE TABLE jobs (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL,
    complaint_id  UUID REFERENCES complaints(id),
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    run_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    lease_until   BIGINT,
    leased_by     TEXT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(status, run_at);
CREATE INDEX jobs_complaint ON jobs(complaint_id);

CREATE TABLE idempotency_keys (
    principal     TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    complaint_id  UUID NOT NULL REFERENCES complaints(id),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);
