-- The phone (CTI) channel: calls reported by the PBX, the agents' extensions, and callbacks owed
-- to players whose call was missed or who left a voicemail.
CREATE TABLE agent_extensions (
    extension   TEXT PRIMARY KEY,
    agent_id    BLOB NOT NULL UNIQUE REFERENCES agents(id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE calls (
    id             BLOB PRIMARY KEY,
    -- the PBX's own id for the call (Asterisk linkedid, FreeSWITCH UUID, …)
    call_id        TEXT NOT NULL UNIQUE,
    direction      TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller         TEXT NOT NULL,
    called         TEXT NOT NULL,
    -- the player's side of the call in E.164; NULL when withheld or not a phone number
    phone          TEXT,
    player_id      BLOB REFERENCES players(id),
    status         TEXT NOT NULL CHECK (status IN ('ringing', 'answered', 'ended', 'missed', 'voicemail')),
    agent_id       BLOB REFERENCES agents(id),
    extension      TEXT,
    started_at     BIGINT NOT NULL,
    answered_at    BIGINT,
    ended_at       BIGINT,
    duration_s     BIGINT,
    cause          TEXT,
    recording_url  TEXT,
    voicemail_url  TEXT,
    complaint_id   BLOB REFERENCES complaints(id),
    callback_id    BLOB,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX calls_player ON calls(player_id, started_at);
CREATE INDEX calls_complaint ON calls(complaint_id);

-- One open callback per phone number: further missed calls from it join the open one.
CREATE TABLE callbacks (
    id            BLOB PRIMARY KEY,
    call_id       BLOB NOT NULL REFERENCES calls(id),
    player_id     BLOB REFERENCES players(id),
    phone         TEXT NOT NULL,
    reason        TEXT NOT NULL CHECK (reason IN ('missed', 'voicemail')),
    -- missed calls from this number the callback answers
    calls         BIGINT NOT NULL DEFAULT 1,
    due_at        BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'done')),
    -- who did it (an actor, as JSON), or the answered call that made it unnecessary
    done_by       TEXT,
    done_at       BIGINT,
    note          TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX callbacks_status ON callbacks(status, due_at);
CREATE UNIQUE INDEX callbacks_open_phone ON callbacks(phone) WHERE status = 'open';
