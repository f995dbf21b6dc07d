-- Complaints the FAQ answered before they were sent: the player said an article answered the
-- question, per day and language.
CREATE TABLE faq_deflections (
    day       TEXT NOT NULL,
    language  TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (day, language)
);
