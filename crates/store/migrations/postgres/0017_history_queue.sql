-- Queue filters and the "all" view at a million complaints. Each index carries department and
-- assignee (what the reader may see) and channel and priority (the queue's filters), so a walk
-- newest first checks them without reading rows and stops at the page's end.
--
-- Every complaint, old ones too: the "all" view. Without it an agent's "all" gathered each of
-- their departments' complaints and sorted them (1.5 s at a million).
CREATE INDEX complaints_visible ON complaints(id, department, assignee, channel, priority);
-- A priority filter: its complaints newest first (a priority no complaint has costs nothing).
CREATE INDEX complaints_priority ON complaints(priority, id, department, assignee, channel);
-- The open complaints, now with the filters' columns too.
DROP INDEX complaints_open;
CREATE INDEX complaints_open ON complaints(id, department, assignee, channel, priority)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
CREATE INDEX complaints_open_priority ON complaints(priority, id, department, assignee, channel)
    WHERE status IN ('new', 'routed', 'in_progress', 'waiting_on_player');
