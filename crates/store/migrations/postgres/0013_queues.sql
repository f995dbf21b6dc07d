-- Queues at a million complaints. Almost every complaint in a store that has run for years is
-- resolved; the workspace's queues show open ones, newest first. These partial indexes hold the
-- open complaints only, so a queue reads a few dozen index entries whatever the history. The
-- store writes its open-status and flag terms as they are written here: see `queries::OPEN`.
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

-- Search: a trigram index over the lower-cased reference, subject and description, so that
-- `search_text LIKE '%word%'` reads the index instead of every complaint (pg_trgm ships with
-- PostgreSQL and is a trusted extension: the database's owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX complaints_search ON complaints USING gin (search_text gin_trgm_ops);
-- The same over open complaints only, for searches in the queues.
CREATE INDEX complaints_open_search ON complaints USING gin (search_text gin_trgm_ops)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
