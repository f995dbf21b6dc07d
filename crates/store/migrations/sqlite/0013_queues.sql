-- Queues at a million complaints. Almost every complaint in a store that has run for years is
-- resolved; the workspace's queues show open ones, newest first. These partial indexes hold the
-- open complaints only, so a queue reads a few dozen index entries whatever the history. The
-- store writes its open-status and flag terms exactly as they are written here (SQLite uses a
-- partial index only when the query repeats its WHERE terms): see `queries::OPEN`.
-- Newest first, carrying what visibility checks (department, assignee) so that an agent's
-- "my departments" queue and its count read the index alone until they have their rows.
CREATE INDEX complaints_open ON complaints(id, department, assignee)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
CREATE INDEX complaints_open_department ON complaints(department, id)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
CREATE INDEX complaints_open_assigned ON complaints(assignee, id, department)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
CREATE INDEX complaints_open_breached ON complaints(id, department, assignee)
    WHERE sla_breached AND status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
CREATE INDEX complaints_open_escalated ON complaints(id, department, assignee)
    WHERE escalated AND status IN ('new', 'routed', 'in_progress', 'waiting_on_player');

-- Search: a trigram index over the lower-cased reference, subject and description, so that a
-- word of three or more characters finds its complaints without reading the others. It
-- follows the complaints table (external content) through the triggers below.
CREATE VIRTUAL TABLE complaints_search USING fts5(
    search_text, content = 'complaints', content_rowid = 'rowid', tokenize = 'trigram', detail = 'none'
);
CREATE TRIGGER complaints_search_insert AFTER INSERT ON complaints BEGIN
    INSERT INTO complaints_search(rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER complaints_search_delete AFTER DELETE ON complaints BEGIN
    INSERT INTO complaints_search(complaints_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER complaints_search_update AFTER UPDATE OF search_text ON complaints BEGIN
    INSERT INTO complaints_search(complaints_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO complaints_search(rowid, search_text) VALUES (new.rowid, new.search_text);
END;
INSERT INTO complaints_search(complaints_search) VALUES ('rebuild');

-- The same index over open complaints only, for searches in the queues: they walk a few
-- thousand open complaints newest first instead of every complaint that ever had the word.
CREATE VIRTUAL TABLE open_complaints_search USING fts5(
    search_text, content = 'complaints', content_rowid = 'rowid', tokenize = 'trigram', detail = 'none'
);
CREATE TRIGGER open_complaints_search_insert AFTER INSERT ON complaints
WHEN new.status IN ('new', 'routed', 'in_progress', 'waiting_on_player') BEGIN
    INSERT INTO open_complaints_search(rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER open_complaints_search_delete AFTER DELETE ON complaints
WHEN old.status IN ('new', 'routed', 'in_progress', 'waiting_on_player') BEGIN
    INSERT INTO open_complaints_search(open_complaints_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER open_complaints_search_leave AFTER UPDATE OF status, search_text ON complaints
WHEN old.status IN ('new', 'routed', 'in_progress', 'waiting_on_player') BEGIN
    INSERT INTO open_complaints_search(open_complaints_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER open_complaints_search_enter AFTER UPDATE OF status, search_text ON complaints
WHEN new.status IN ('new', 'routed', 'in_progress', 'waiting_on_player') BEGIN
    INSERT INTO open_complaints_search(rowid, search_text) VALUES (new.rowid, new.search_text);
END;
INSERT INTO open_complaints_search(rowid, search_text)
    SELECT rowid, search_text FROM complaints WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
