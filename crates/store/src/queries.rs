//! Reads of complaints, players, threads and events.

use crate::db::P;
use crate::rows::*;
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::*;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Agent(Uuid),
    Nobody,
}

/// Filters for the complaint list. Everything given must match.
#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    pub statuses: Vec<Status>,
    pub department: Option<DepartmentCode>,
    pub unrouted: bool,
    pub assignee: Option<AssigneeFilter>,
    pub channel: Option<Channel>,
    pub kind: Option<Kind>,
    pub priority: Option<Priority>,
    pub player_id: Option<Uuid>,
    pub escalated: Option<bool>,
    /// Complaints with (or without) a breached SLA deadline.
    pub sla_breached: Option<bool>,
    /// Complaints (not) at risk: a running SLA clock passed its warning, not its deadline.
    pub sla_at_risk: Option<bool>,
    pub created_from: Option<jiff::Timestamp>,
    pub created_to: Option<jiff::Timestamp>,
    /// Words that must all appear in the reference, subject or description (any case).
    pub text: Option<String>,
}

/// Newest first; `after` is the id of the last complaint of the previous page.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

/// A stored event with its place in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: Event,
    pub hash: String,
}

pub(crate) fn stored_event_from(r: &crate::db::Row) -> Result<StoredEvent, StoreError> {
    let bad = |e: serde_json::Error| StoreError::Corrupt(format!("event: {e}"));
    Ok(StoredEvent {
        seq: r.i64("seq")?,
        event: Event {
            id: r.uuid("id")?,
            complaint_id: r.uuid("complaint_id")?,
            at: from_micros(r.i64("at")?),
            actor: serde_json::from_str(&r.text("actor")?).map_err(bad)?,
            data: serde_json::from_str(&r.text("data")?).map_err(bad)?,
        },
        hash: hex_string(&r.bytes("hash")?),
    })
}

/// The open statuses as the store writes them in a query, the same text as the partial
/// indexes' `WHERE` in migration 0013 (a test keeps the two equal).
pub(crate) const OPEN: &str = "status IN ('new', 'routed', 'in_progress', 'waiting_on_player')";

/// The words of a search, lower-cased, at most eight; a reference typed with dashes becomes its
/// stored compact form.
fn search_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == '-' || c == '.'))
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| ComplaintRef::parse(w).map(|r| r.compact().to_lowercase()).unwrap_or_else(|_| w.to_string()))
        .collect()
}

/// The complaint columns named through the alias `c` (for queries that join another table
/// with a column of the same name).
fn qualified_complaint_cols() -> &'static str {
    static COLS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLS.get_or_init(|| COMPLAINT_COLS.split(',').map(|c| format!("c.{}", c.trim())).collect::<Vec<_>>().join(", "))
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends a filter's WHERE clauses and parameters.
struct Where {
    clauses: Vec<String>,
    params: Vec<P>,
}

impl Where {
    /// The terms ask for open complaints (written as the partial indexes say it).
    fn is_open(&self) -> bool {
        self.clauses.iter().any(|c| c == OPEN)
    }

    fn push(&mut self, clause: impl FnOnce(usize) -> String, p: P) {
        self.params.push(p);
        self.clauses.push(clause(self.params.len()));
    }
}

/// The WHERE terms of a complaint list without its text and page: `None` when `visibility`
/// lets nothing through.
/// `thread(id)`: the complaint `$1` and every complaint merged into it, at any depth (a merge
/// target may itself be merged later). Read through the partial index on `merged_into`.
pub(crate) const THREAD: &str = "WITH RECURSIVE thread(id) AS (SELECT id FROM complaints WHERE id = $1 \
     UNION SELECT c.id FROM complaints c JOIN thread t ON c.merged_into = t.id)";

fn complaint_where(f: &ComplaintFilter, visibility: &Visibility) -> Option<Where> {
    let mut w = Where { clauses: vec![], params: vec![] };
    match visibility {
        Visibility::All => {}
        Visibility::Nothing => return None,
        Visibility::Limited { departments, assignee, unrouted } => {
            let mut any = vec![];
            for d in departments {
                w.params.push(P::from(d.as_str()));
                any.push(format!("${}", w.params.len()));
            }
            let mut ors = vec![];
            if !any.is_empty() {
                ors.push(format!("department IN ({})", any.join(", ")));
            }
            if let Some(a) = assignee {
                w.params.push(P::from(*a));
                ors.push(format!("assignee = ${}", w.params.len()));
            }
            if *unrouted {
                ors.push("department IS NULL".into());
            }
            if ors.is_empty() {
                return None;
            }
            w.clauses.push(format!("({})", ors.join(" OR ")));
        }
    }
    if !f.statuses.is_empty() {
        // Statuses are written as literals (a closed set of words), and the open ones exactly
        // as the partial indexes of migration 0013 say them, so that both backends use them.
        let mut wanted: Vec<Status> = f.statuses.clone();
        wanted.sort_by_key(|s| Status::ALL.iter().position(|a| a == s));
        wanted.dedup();
        if wanted == Status::ALL.iter().copied().filter(|s| s.is_open()).collect::<Vec<_>>() {
            w.clauses.push(OPEN.into());
        } else {
            let any: Vec<String> = wanted.iter().map(|s| format!("'{}'", s.as_str())).collect();
            w.clauses.push(format!("status IN ({})", any.join(", ")));
        }
    }
    if let Some(d) = &f.department {
        w.push(|i| format!("department = ${i}"), P::from(d.as_str()));
    }
    if f.unrouted {
        w.clauses.push("department IS NULL".into());
    }
    match &f.assignee {
        Some(AssigneeFilter::Agent(a)) => w.push(|i| format!("assignee = ${i}"), P::from(*a)),
        Some(AssigneeFilter::Nobody) => w.clauses.push("assignee IS NULL".into()),
        None => {}
    }
    if let Some(c) = f.channel {
        w.push(|i| format!("channel = ${i}"), P::from(c.as_str()));
    }
    if let Some(k) = f.kind {
        w.push(|i| format!("kind = ${i}"), P::from(k.as_str()));
    }
    if let Some(p) = f.priority {
        w.push(|i| format!("priority = ${i}"), P::from(p.as_str()));
    }
    if let Some(p) = f.player_id {
        w.push(|i| format!("player_id = ${i}"), P::from(p));
    }
    // Flags as bare terms, as the partial indexes have them.
    if let Some(b) = f.sla_breached {
        w.clauses.push(if b { "sla_breached" } else { "NOT sla_breached" }.into());
    }
    if let Some(e) = f.escalated {
        w.clauses.push(if e { "escalated" } else { "NOT escalated" }.into());
    }
    if let Some(r) = f.sla_at_risk {
        w.clauses.push(if r { "sla_at_risk" } else { "NOT sla_at_risk" }.into());
    }
    if let Some(t) = f.created_from {
        w.push(|i| format!("created_at >= ${i}"), P::from(to_micros(t)));
    }
    if let Some(t) = f.created_to {
        w.push(|i| format!("created_at < ${i}"), P::from(to_micros(t)));
    }
    Some(w)
}

impl Store {
    pub async fn complaint(&self, id: Uuid) -> Result<Complaint, StoreError> {
        let sql = format!("SELECT {COMPLAINT_COLS} FROM complaints WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?;
        complaint_from(&row.ok_or(StoreError::NotFound)?)
    }

    pub async fn complaint_by_ref(&self, r: &ComplaintRef) -> Result<Complaint, StoreError> {
        let sql = format!("SELECT {COMPLAINT_COLS} FROM complaints WHERE ref = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![r.compact()]).await)?;
        complaint_from(&row.ok_or(StoreError::NotFound)?)
    }

    /// How many complaints the store holds.
    pub async fn complaint_count(&self) -> Result<i64, StoreError> {
        let row = with_read!(self.db(), |conn| conn.fetch_optional("SELECT COUNT(*) AS n FROM complaints", &[]).await)?;
        row.map(|r| r.i64("n")).transpose().map(|n| n.unwrap_or(0))
    }

    /// Refreshes the planner's statistics (after a bulk load: PostgreSQL's autovacuum and a
    /// working desk's steady growth keep them otherwise). SQLite reads a sample of each index.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let sql = match self.backend() {
            crate::Backend::Sqlite => "PRAGMA analysis_limit = 1000; ANALYZE;",
            crate::Backend::Postgres => "ANALYZE",
        };
        with_tx!(self.db(), |conn| conn.execute_script(sql).await)?;
        Ok(())
    }

    pub async fn list_complaints(
        &self,
        f: &ComplaintFilter,
        visibility: &Visibility,
        page: PageRequest,
    ) -> Result<Page<Complaint>, StoreError> {
        let Some(mut w) = complaint_where(f, visibility) else { return Ok(Page { items: vec![], next: None }) };
        let words = f.text.as_deref().map(search_words).unwrap_or_default();
        // Words of three characters or more (and no LIKE wildcards) can be looked up in the
        // trigram index; LIKE on the complaint decides in every case.
        let indexed: Vec<&String> = words.iter().filter(|w| w.chars().count() >= 3 && !w.contains(['%', '_', '\\'])).collect();
        let limit = page.limit.clamp(1, 500);
        let sql = if self.backend() == crate::Backend::Sqlite && !indexed.is_empty() {
            // SQLite searches newest first by walking the trigram index in rowid order and
            // stopping at the page's end, whether the word is rare or in every tenth complaint
            // (a join on a materialised match list would read all of its matches first). So a
            // search's pages go by rowid, the order the complaints were stored in.
            let mut likes = vec![];
            // Queues of open complaints have their own, small index.
            let index = if w.is_open() { "open_complaints_search" } else { "complaints_search" };
            for word in indexed {
                w.params.push(P::from(format!("%{word}%")));
                likes.push(format!("s.search_text LIKE ${}", w.params.len()));
            }
            w.clauses.extend(likes);
            for word in &words {
                w.push(|i| format!("c.search_text LIKE ${i} ESCAPE '\\'"), P::from(format!("%{}%", escape_like(word))));
            }
            if let Some(after) = page.after {
                w.push(|i| format!("s.rowid < (SELECT rowid FROM complaints WHERE id = ${i})"), P::from(after));
            }
            format!(
                "SELECT {} FROM {index} s CROSS JOIN complaints c ON c.rowid = s.rowid WHERE {} ORDER BY s.rowid DESC LIMIT {}",
                qualified_complaint_cols(),
                w.clauses.join(" AND "),
                limit + 1
            )
        } else {
            for word in &words {
                w.push(|i| format!("search_text LIKE ${i} ESCAPE '\\'"), P::from(format!("%{}%", escape_like(word))));
            }
            if let Some(after) = page.after {
                w.push(|i| format!("id < ${i}"), P::from(after));
            }
            let hint = self.index_hint(f, &w);
            let where_sql = if w.clauses.is_empty() { String::new() } else { format!("WHERE {}", w.clauses.join(" AND ")) };
            format!("SELECT {COMPLAINT_COLS} FROM complaints{hint} {where_sql} ORDER BY id DESC LIMIT {}", limit + 1)
        };
        let rows = if words.is_empty() {
            with_read!(self.db(), |conn| conn.fetch_all(&sql, &w.params).await)?
        } else {
            with_read!(self.db(), |conn| conn.fetch_all_planned(&sql, &w.params).await)?
        };
        let mut items = rows.iter().map(complaint_from).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|c| c.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// SQLite's planner does not know that the open breached (at-risk, escalated) complaints
    /// are few — there may be none at all, which leaves their index without statistics — and
    /// would walk every open complaint: name the index that holds exactly them.
    fn index_hint(&self, f: &ComplaintFilter, w: &Where) -> &'static str {
        if self.backend() != crate::Backend::Sqlite || f.text.is_some() || f.player_id.is_some() {
            return "";
        }
        if !w.is_open() {
            // Every complaint, old ones too (the "all" view): walk them newest first (a priority's
            // own when one is asked for), visibility and filters checked in the index, and stop
            // at the page's end, rather than gather a department's hundreds of thousands and
            // sort them.
            if f.assignee.is_some() || f.unrouted || !f.statuses.is_empty() {
                return "";
            }
            return if f.priority.is_some() { " INDEXED BY complaints_priority" } else { " INDEXED BY complaints_visible" };
        }
        match (f.sla_breached, f.sla_at_risk, f.escalated) {
            (Some(true), _, _) => " INDEXED BY complaints_open_breached",
            (_, Some(true), _) => " INDEXED BY complaints_open_at_risk",
            (_, _, Some(true)) => " INDEXED BY complaints_open_escalated",
            _ if f.unrouted => "",
            _ if f.priority.is_some() => " INDEXED BY complaints_open_priority",
            // "Mine" and "unassigned": the open complaints of one assignee (or none) newest
            // first; the planner would rather walk every complaint ever left unassigned.
            _ if f.assignee.is_some() && f.department.is_none() => " INDEXED BY complaints_open_assigned",
            // Every open complaint of the agent's departments: walking the open ones newest
            // first (department and assignee are in the index) stops at the page's end; the
            // planner would rather gather each department's open complaints and sort them all.
            _ if f.assignee.is_none() && f.department.is_none() => " INDEXED BY complaints_open",
            _ => "",
        }
    }

    /// How many complaints match (the text filter aside), counting at most `cap`: a queue's
    /// count reads at most `cap` index entries however long the queue is.
    pub async fn count_complaints(&self, f: &ComplaintFilter, visibility: &Visibility, cap: u32) -> Result<i64, StoreError> {
        let Some(w) = complaint_where(f, visibility) else { return Ok(0) };
        let where_sql = if w.clauses.is_empty() { String::new() } else { format!("WHERE {}", w.clauses.join(" AND ")) };
        let sql = format!("SELECT count(*) AS n FROM (SELECT 1 FROM complaints{} {where_sql} LIMIT {cap}) AS q", self.index_hint(f, &w));
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &w.params).await)?;
        row.map_or(Ok(0), |r| r.i64("n"))
    }

    /// The complaint's thread: its own messages and those of the duplicates merged into it
    /// (and into those, at any depth), in order.
    pub async fn messages(&self, complaint_id: Uuid) -> Result<Vec<Message>, StoreError> {
        let sql = format!("{THREAD} SELECT {MESSAGE_COLS} FROM messages WHERE complaint_id IN (SELECT id FROM thread) ORDER BY created_at, id");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(message_from).collect()
    }

    /// The duplicates merged into the complaint (at any depth), oldest first.
    pub async fn merged_into(&self, complaint_id: Uuid) -> Result<Vec<Complaint>, StoreError> {
        let sql = format!("{THREAD} SELECT {COMPLAINT_COLS} FROM complaints WHERE id IN (SELECT id FROM thread) AND id <> $1 ORDER BY created_at, id");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(complaint_from).collect()
    }

    pub async fn events(&self, complaint_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT seq, id, complaint_id, actor, data, at, hash FROM events WHERE complaint_id = $1 ORDER BY seq",
                &params![complaint_id]
            )
            .await)?;
        rows.iter().map(stored_event_from).collect()
    }

    /// The events with `from <= seq <= to`, in order (all complaints).
    pub async fn events_between(&self, from: i64, to: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT seq, id, complaint_id, actor, data, at, hash FROM events WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
                &params![from, to]
            )
            .await)?;
        rows.iter().map(stored_event_from).collect()
    }

    /// A complaint's events after `after`, in order (a live view catching up).
    pub async fn events_after(&self, complaint_id: Uuid, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT seq, id, complaint_id, actor, data, at, hash FROM events WHERE complaint_id = $1 AND seq > $2 ORDER BY seq",
                &params![complaint_id, after]
            )
            .await)?;
        rows.iter().map(stored_event_from).collect()
    }

    /// The seq of the last event in the chain (0 when there is none).
    pub async fn head_seq(&self) -> Result<i64, StoreError> {
        let row = with_read!(self.db(), |conn| conn.fetch_optional("SELECT seq FROM event_chain WHERE id = 1", &[]).await)?;
        row.map_or(Ok(0), |r| r.i64("seq"))
    }

    pub async fn player(&self, id: Uuid) -> Result<Player, StoreError> {
        let sql = format!("SELECT {PLAYER_COLS} FROM players WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?;
        player_from(&row.ok_or(StoreError::NotFound)?)
    }

    /// The player these contact details belong to: by the operator's id first, then by e-mail,
    /// then by phone.
    pub async fn find_player(&self, c: &PlayerContact) -> Result<Option<Player>, StoreError> {
        let probes = [
            ("external_id", c.external_id.as_ref().map(|x| x.as_str())),
            ("email", c.email.as_ref().map(|x| x.as_str())),
            ("phone", c.phone.as_ref().map(|x| x.as_str())),
        ];
        let given: Vec<(&str, &str)> = probes.iter().filter_map(|(col, v)| v.map(|v| (*col, v))).collect();
        if given.is_empty() {
            return Ok(None);
        }
        // One round trip for all identifiers; the strongest match wins.
        let cond: Vec<String> = given.iter().enumerate().map(|(i, (col, _))| format!("{col} = ${}", i + 1)).collect();
        let sql = format!("SELECT {PLAYER_COLS} FROM players WHERE {} ORDER BY created_at LIMIT 16", cond.join(" OR "));
        let params: Vec<P> = given.iter().map(|(_, v)| P::from(*v)).collect();
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params).await)?;
        let players = rows.iter().map(player_from).collect::<Result<Vec<_>, _>>()?;
        for (col, value) in given {
            let hit = players.iter().find(|p| match col {
                "external_id" => p.external_id.as_ref().map(|x| x.as_str()) == Some(value),
                "email" => p.email.as_ref().map(|x| x.as_str()) == Some(value),
                _ => p.phone.as_ref().map(|x| x.as_str()) == Some(value),
            });
            if let Some(p) = hit {
                return Ok(Some(p.clone()));
            }
        }
        Ok(None)
    }
}

pub(crate) fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
