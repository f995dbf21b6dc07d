-- SLA clocks on each complaint: the whole state as JSON (the fold of its sla_* events), the
-- instant the next alarm is due (NULL: none running) for the at-risk list and queues, and
-- whether any deadline was breached.
ALTER TABLE complaints ADD COLUMN sla TEXT;
ALTER TABLE complaints ADD COLUMN sla_next_at BIGINT;
ALTER TABLE complaints ADD COLUMN sla_breached BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX complaints_sla_next ON complaints(sla_next_at) WHERE sla_next_at IS NOT NULL;
CREATE INDEX complaints_sla_breached ON complaints(sla_breached, id) WHERE sla_breached;

-- Runners claim due jobs of the kinds they handle. Without the kind in the index, a claim for
-- SLA timers would step over every pending job of other kinds (acknowledgments waiting for an
-- e-mail relay, say) on each round.
-- It replaces the index on (status, run_at): done jobs (nearly all of them) leave the index, and
-- a claim or a look for due jobs reads only the pending ones of its kinds.
CREATE INDEX jobs_pending_kind ON jobs(kind, run_at) WHERE status = 'pending';
DROP INDEX jobs_due;

-- Auto-assignment: what each agent is good at and how much open work they take, and the count
-- of an agent's open complaints read from an index of open assigned complaints only.
ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN capacity BIGINT NOT NULL DEFAULT 20;
CREATE INDEX complaints_open_assignee ON complaints(assignee)
    WHERE assignee IS NOT NULL AND status IN ('routed', 'in_progress', 'waiting_on_player');
