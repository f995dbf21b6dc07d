-- E-mail: every message received or sent, for threading (Message-ID → complaint) and as the
-- record of what was exchanged; the original bytes of inbound mail are kept.
CREATE TABLE mail_messages (
    id            BLOB PRIMARY KEY,
    complaint_id  BLOB NOT NULL REFERENCES complaints(id),
    -- the thread message this mail carried (NULL: the complaint's first description)
    message_id    BLOB,
    direction     TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    header_id     TEXT NOT NULL,
    sender        TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    size          BIGINT NOT NULL,
    raw           BLOB,
    created_at    BIGINT NOT NULL
);
CREATE INDEX mail_messages_header ON mail_messages(header_id);
CREATE INDEX mail_messages_complaint ON mail_messages(complaint_id, created_at);

-- Files that came with a message (e-mail attachments, later chat uploads).
CREATE TABLE attachments (
    id            BLOB PRIMARY KEY,
    complaint_id  BLOB NOT NULL REFERENCES complaints(id),
    message_id    BLOB,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        BLOB NOT NULL,
    data          BLOB NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attachments_complaint ON attachments(complaint_id);
