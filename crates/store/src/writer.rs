//! Group commit: every complaint write goes through one task per node that gathers whatever
//! writes are waiting and commits them in ONE transaction (one fsync on SQLite, one WAL flush
//! on PostgreSQL). Each write is answered only after its commit is durable.
//!
//! A batch first takes the event-chain head (`FOR UPDATE` on PostgreSQL, the write lock of
//! `BEGIN IMMEDIATE` on SQLite): that serialises writers across nodes, gives events their
//! gapless `seq`, and makes the batch's existence checks race-free. Checks that depend on other
//! rows (a reused idempotency key, a refused command, a drawn reference that is taken) are logical outcomes, not SQL errors, so one write never spoils its neighbours. If the
//! batch still fails in SQL, every write is retried alone so that only the culprit fails.
//!
//! A change is not a row to overwrite but a decision to take: the writer reads the complaint as
//! it stands inside the batch and hands it to the change's `decide` (the core, via the desk).
//! Several commands to one hot complaint in one batch are thus applied one after the other in
//! memory and written as one UPDATE: none is ever stale, none needs a retry.

use crate::bus::Bus;
use crate::db::{Backend, Conn, Db, P};
use crate::queries::{StoredEvent, hex_string};
use crate::rows::*;
use crate::{StoreError, params};
use ombuds_core::chain::{Hash, Link};
use ombuds_core::{Complaint, Decision, DomainError, Language, Message, MessageKind, Player, PlayerContact, to_micros};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Who sent the request (keys are per caller).
    pub principal: String,
    pub key: String,
    /// Hash of the request body: the same key with another body is an error, not a replay.
    pub request_hash: Vec<u8>,
}

/// Builds the complaint for the player the writer resolved. Called again if the batch has to
/// be retried, so it must be pure.
pub type Build = Box<dyn Fn(Uuid) -> Result<Decision, DomainError> + Send + Sync>;

/// A registration: the player is resolved inside the batch (by the operator's id, then e-mail,
/// then phone; created when nobody matches), then `build` makes the complaint for that player.
pub struct NewComplaint {
    pub contact: PlayerContact,
    /// Whether the contact details are proven. Unproven ones (a form, an e-mail's From) find
    /// the player they name but never change that player's record (name, language, missing
    /// identifiers): an outsider typing a known address must not rename its owner.
    pub contact_proven: bool,
    /// The language of a new player whose contact details name none.
    pub language: Language,
    pub build: Build,
    pub idempotency: Option<IdempotencyKey>,
    /// The e-mail this complaint arrived in, stored with it.
    pub mail: Option<Box<NewMail>>,
    /// Files the player added outside e-mail (the portal): kept with the first text.
    pub uploads: Vec<NewAttachment>,
}

/// An inbound e-mail written with the complaint it registers or the reply it records: linked
/// to the decision's inbound thread message (none for a registration, whose first text is the
/// complaint's description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// The `Message-ID` header (without angle brackets), the key replies are threaded by.
    pub header_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub size: i64,
    /// The original bytes as received.
    pub raw: Option<Vec<u8>>,
    /// The sender checks made at intake (none: not checked).
    pub auth: Option<crate::mail::SenderAuth>,
    pub attachments: Vec<NewAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub sha256: Vec<u8>,
    pub data: Vec<u8>,
}

/// Decides a change against the complaint as it stands at write time: `Ok(None)` when the
/// command changes nothing. Called again if the batch has to be retried, so it must be pure.
pub type Decide = Box<dyn Fn(&Complaint) -> Result<Option<Decision>, DomainError> + Send + Sync>;

pub struct ChangeRequest {
    pub complaint_id: Uuid,
    pub decide: Decide,
    /// A change with a key is made once: a second request with the key answers `Replayed`.
    pub idempotency: Option<IdempotencyKey>,
    pub mail: Option<Box<NewMail>>,
    /// Files the player added outside e-mail (the portal): kept with the player's message the
    /// decision records.
    pub uploads: Vec<NewAttachment>,
}

impl ChangeRequest {
    pub fn new(complaint_id: Uuid, decide: Decide) -> ChangeRequest {
        ChangeRequest { complaint_id, decide, idempotency: None, mail: None, uploads: vec![] }
    }
}

/// Decides a change to two complaints at once against both as they stand at write time:
/// merging the duplicate `first` into `second`. Both decisions are written, or neither.
pub type DecidePair = Box<dyn Fn(&Complaint, &Complaint) -> Result<(Decision, Decision), DomainError> + Send + Sync>;

pub struct PairChange {
    pub first: Uuid,
    pub second: Uuid,
    pub decide: DecidePair,
}

pub enum WriteOp {
    Register(Box<NewComplaint>),
    Change(ChangeRequest),
    Pair(PairChange),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The complaint was registered: as it is now.
    Registered(Box<Complaint>),
    /// The change was applied: the complaint as it is now.
    Changed(Box<Complaint>),
    /// The change to two complaints was applied: both as they are now.
    ChangedPair(Box<(Complaint, Complaint)>),
    /// The change decided there was nothing to do.
    Unchanged(Box<Complaint>),
    /// The core refused the change against the current state.
    Refused(DomainError),
    /// No complaint with that id.
    Missing,
    /// The idempotency key was used before for the same request: here is the first result.
    Replayed { complaint_id: Uuid },
    /// The idempotency key was used before for a different request.
    KeyReused,
    /// Decide again: the drawn reference is taken (`Register`).
    Retry(&'static str),
}

struct Pending {
    op: WriteOp,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// The handle the desk writes through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Pending>,
}

pub const MAX_BATCH: usize = 512;

impl Writer {
    pub fn start(db: Db, bus: Bus) -> Writer {
        let (tx, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let ops: Vec<&WriteOp> = batch.iter().map(|p| &p.op).collect();
                metrics::histogram!("ombuds_commit_batch_size").record(ops.len() as f64);
                let started = std::time::Instant::now();
                let results = match write_batch(&db, &bus, &ops).await {
                    Ok((outcomes, events)) => {
                        bus.committed(events);
                        outcomes.into_iter().map(Ok).collect()
                    }
                    Err(StoreError::ReferenceTaken(_)) if ops.len() == 1 => vec![Ok(Outcome::Retry("reference taken"))],
                    Err(e) if ops.len() == 1 => vec![Err(e)],
                    Err(e) => {
                        tracing::warn!(error = %e, size = ops.len(), "batch failed; writing its operations one by one");
                        let mut results = Vec::with_capacity(ops.len());
                        for op in &ops {
                            results.push(match write_batch(&db, &bus, &[*op]).await {
                                Ok((mut o, events)) => {
                                    bus.committed(events);
                                    Ok(o.remove(0))
                                }
                                Err(StoreError::ReferenceTaken(_)) => Ok(Outcome::Retry("reference taken")),
                                Err(e) => Err(e),
                            });
                        }
                        results
                    }
                };
                metrics::histogram!("ombuds_commit_seconds").record(started.elapsed().as_secs_f64());
                for (p, r) in batch.drain(..).zip(results) {
                    let _ = p.reply.send(r);
                }
            }
        });
        Writer { tx }
    }

    pub async fn write(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Pending { op, reply }).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// `INSERT INTO table (cols) VALUES (…), (…)` for `rows`, numbering parameters from `first`
/// (`$n`) or leaving them anonymous (`?`, bound in order).
fn insert_sql(table: &str, cols: &str, rows: &[Vec<P>], first: usize, numbered: bool) -> (String, Vec<P>) {
    let width = rows.first().map_or(0, Vec::len);
    let mut sql = format!("INSERT INTO {table} ({cols}) VALUES ");
    let mut params = Vec::with_capacity(rows.len() * width);
    for (i, row) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for j in 0..width {
            if j > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(first + params.len() + j).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
        params.extend(row.iter().cloned());
    }
    (sql, params)
}

/// Multi-row INSERT, split so no statement passes the backends' parameter limits.
pub(crate) async fn insert_rows(conn: &mut Conn<'_>, table: &str, cols: &str, rows: Vec<Vec<P>>) -> Result<(), StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(()) };
    // SQLite looks a named parameter up by walking a list, so hundreds of `$n` cost O(n²);
    // anonymous `?` (bound in order) cost nothing. PostgreSQL needs `$n`.
    let numbered = conn.backend() == Backend::Postgres;
    for chunk in rows.chunks((30_000 / width).max(1)) {
        let (sql, params) = insert_sql(table, cols, chunk, 1, numbered);
        conn.execute(&sql, &params).await?;
    }
    Ok(())
}

/// The batch's inserts and the chain-head update. On PostgreSQL they go as ONE statement of
/// data-modifying CTEs (a round trip per table saved on every batch; foreign keys are checked
/// at the end of the statement, so the order inside does not matter); on SQLite, where a
/// statement costs no round trip, and for huge batches, one statement per table.
async fn insert_all(
    conn: &mut Conn<'_>,
    tables: Vec<(&str, &str, Vec<Vec<P>>)>,
    seq: i64,
    hash: Vec<u8>,
    notify: Option<String>,
) -> Result<(), StoreError> {
    // PostgreSQL: the batch's NOTIFY rides on the chain-head UPDATE (`RETURNING` runs it once,
    // for the one row), so announcing a commit costs no extra round trip.
    let announce = notify.is_some();
    let returning = |n: usize| if announce { format!(" RETURNING pg_notify('ombuds_events', ${n})") } else { String::new() };
    let total: usize = tables.iter().map(|(_, _, rows)| rows.iter().map(Vec::len).sum::<usize>()).sum();
    if conn.backend() == Backend::Postgres && total < 60_000 {
        let mut parts = vec![];
        let mut params: Vec<P> = Vec::with_capacity(total + 2);
        for (i, (table, cols, rows)) in tables.iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let (sql, p) = insert_sql(table, cols, rows, params.len() + 1, true);
            parts.push(format!("w{i} AS ({sql})"));
            params.extend(p);
        }
        let with = if parts.is_empty() { String::new() } else { format!("WITH {} ", parts.join(", ")) };
        let sql = format!(
            "{with}UPDATE event_chain SET seq = ${}, hash = ${} WHERE id = 1{}",
            params.len() + 1,
            params.len() + 2,
            returning(params.len() + 3)
        );
        params.push(P::from(seq));
        params.push(P::from(hash));
        if let Some(n) = notify {
            params.push(P::from(n));
        }
        conn.execute(&sql, &params).await?;
        return Ok(());
    }
    for (table, cols, rows) in tables {
        insert_rows(conn, table, cols, rows).await?;
    }
    let mut p = params![seq, hash];
    if let Some(n) = notify {
        p.push(P::from(n));
    }
    conn.execute(&format!("UPDATE event_chain SET seq = $1, hash = $2 WHERE id = 1{}", returning(3)), &p).await?;
    Ok(())
}

/// `UPDATE complaints SET <changed columns> WHERE id = … AND version = <as read>` for a
/// complaint whose row was `read` and is now `new` (both in `COMPLAINT_COLS` order).
/// The positions (in `COMPLAINT_COLS`) of the columns whose value changed, the id excepted.
fn changed_columns(new: &[P], read: &[P]) -> Vec<usize> {
    (1..new.len()).filter(|i| new[*i] != read[*i]).collect()
}

/// One UPDATE for several complaints that changed the same columns: the new values come from a
/// VALUES list (`column1` the id, `column2` the version read, then the columns), and each row is
/// guarded by its version. SQLite (3.33+) and PostgreSQL both name VALUES columns `columnN`.
fn update_many_sql(cols: &[usize], rows: &[(Vec<P>, &[P])]) -> (String, Vec<P>) {
    let names: Vec<&str> = COMPLAINT_COLS.split(',').map(str::trim).collect();
    let version = names.iter().position(|c| *c == "version").expect("complaints have a version");
    let width = cols.len() + 2;
    let mut params = Vec::with_capacity(rows.len() * width);
    let mut tuples = Vec::with_capacity(rows.len());
    for (new, read) in rows {
        let base = params.len();
        params.push(new[0].clone());
        params.push(read[version].clone());
        params.extend(cols.iter().map(|i| new[*i].clone()));
        tuples.push(format!("({})", placeholders(base + 1, width)));
    }
    let sets: Vec<String> = cols.iter().enumerate().map(|(k, i)| format!("{} = v.column{}", names[*i], k + 3)).collect();
    let sql = format!(
        "UPDATE complaints SET {} FROM (VALUES {}) AS v WHERE complaints.id = v.column1 AND complaints.version = v.column2",
        sets.join(", "),
        tuples.join(", ")
    );
    (sql, params)
}

fn update_sql(new: &[P], read: &[P]) -> (String, Vec<P>) {
    let cols: Vec<&str> = COMPLAINT_COLS.split(',').map(str::trim).collect();
    let version = cols.iter().position(|c| *c == "version").expect("complaints have a version");
    let mut sets = vec![];
    let mut params = vec![new[0].clone()];
    for (i, col) in cols.iter().enumerate().skip(1) {
        if new[i] != read[i] {
            params.push(new[i].clone());
            sets.push(format!("{col} = ${}", params.len()));
        }
    }
    params.push(read[version].clone());
    let sql = format!("UPDATE complaints SET {} WHERE id = $1 AND version = ${}", sets.join(", "), params.len());
    (sql, params)
}

/// `$from, $from+1, …` for an IN list of `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

async fn existing_texts(conn: &mut Conn<'_>, sql_head: &str, col: &str, values: Vec<String>) -> Result<HashSet<String>, StoreError> {
    let mut found = HashSet::new();
    for chunk in values.chunks(5_000) {
        let sql = format!("{sql_head} IN ({})", placeholders(1, chunk.len()));
        let params: Vec<P> = chunk.iter().map(|v| P::from(v.as_str())).collect();
        for r in conn.fetch_all(&sql, &params).await? {
            found.insert(r.text(col)?);
        }
    }
    Ok(found)
}

/// Writes a batch in one transaction: each write's outcome, and the events committed.
async fn write_batch(db: &Db, bus: &Bus, ops: &[&WriteOp]) -> Result<(Vec<Outcome>, Vec<StoredEvent>), StoreError> {
    crate::with_tx!(db, |conn| write_in_tx(&mut conn, bus, ops).await)
}

/// Time spent in one phase of a batch (`ombuds_commit_phase_seconds`: lookups, decide, updates,
/// inserts), to see where a commit's time goes; `ombuds_commit_seconds` minus their sum is
/// BEGIN, COMMIT (the fsync) and the connection.
fn phase(name: &'static str, since: std::time::Duration) {
    metrics::histogram!("ombuds_commit_phase_seconds", "phase" => name).record(since.as_secs_f64());
}

async fn write_in_tx(conn: &mut Conn<'_>, bus: &Bus, ops: &[&WriteOp]) -> Result<(Vec<Outcome>, Vec<StoredEvent>), StoreError> {
    let t0 = std::time::Instant::now();
    let lock = if conn.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let head = conn
        .fetch_optional(&format!("SELECT seq, hash FROM event_chain WHERE id = 1{lock}"), &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the event chain head is missing".into()))?;
    let mut seq = head.i64("seq")?;
    let mut prev: Hash = head.bytes("hash")?.try_into().map_err(|_| StoreError::Corrupt("chain head hash".into()))?;

    // ---- Look up everything the batch's checks need, a query per kind. ----
    let regs: Vec<&NewComplaint> = ops.iter().filter_map(|o| if let WriteOp::Register(r) = o { Some(&**r) } else { None }).collect();
    let changes: Vec<&ChangeRequest> = ops.iter().filter_map(|o| if let WriteOp::Change(c) = o { Some(c) } else { None }).collect();

    let mut keys_seen: HashMap<(String, String), (Vec<u8>, Uuid)> = HashMap::new();
    let keyed: Vec<&IdempotencyKey> = ops
        .iter()
        .filter_map(|o| match o {
            WriteOp::Register(r) => r.idempotency.as_ref(),
            WriteOp::Change(c) => c.idempotency.as_ref(),
            WriteOp::Pair(_) => None,
        })
        .collect();
    for chunk in keyed.chunks(2_000) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
        let sql = format!(
            "SELECT principal, key, request_hash, complaint_id FROM idempotency_keys WHERE (principal, key) IN (VALUES {})",
            values.join(", ")
        );
        let params: Vec<P> = chunk.iter().flat_map(|k| params![k.principal.as_str(), k.key.as_str()]).collect();
        for r in conn.fetch_all(&sql, &params).await? {
            keys_seen.insert((r.text("principal")?, r.text("key")?), (r.bytes("request_hash")?, r.uuid("complaint_id")?));
        }
    }
    // Every reference this batch draws, and every player its registrations name.
    let mut refs_drawn: HashSet<String> = HashSet::new();
    let mut players: Vec<Player> = vec![];
    {
        let ids = |f: fn(&PlayerContact) -> Option<String>| regs.iter().filter_map(|r| f(&r.contact)).collect::<HashSet<String>>();
        let lists = [
            ("external_id", ids(|c| c.external_id.as_ref().map(|x| x.as_str().to_string()))),
            ("email", ids(|c| c.email.as_ref().map(|x| x.as_str().to_string()))),
            ("phone", ids(|c| c.phone.as_ref().map(|x| x.as_str().to_string()))),
        ];
        let mut conds = vec![];
        let mut params: Vec<P> = vec![];
        for (col, values) in &lists {
            if values.is_empty() {
                continue;
            }
            let marks = placeholders(params.len() + 1, values.len());
            params.extend(values.iter().map(|v| P::from(v.as_str())));
            conds.push(format!("{col} IN ({marks})"));
        }
        if !conds.is_empty() {
            let sql = format!("SELECT {PLAYER_COLS} FROM players WHERE {} ORDER BY created_at", conds.join(" OR "));
            for r in conn.fetch_all(&sql, &params).await? {
                players.push(player_from(&r)?);
            }
        }
    }
    let known_players = players.len();
    let mut dirty_players: HashSet<usize> = HashSet::new();
    // The complaints being changed: (state as decided so far, row as read).
    let mut current: HashMap<Uuid, (Complaint, Vec<P>)> = HashMap::new();
    let pairs = ops.iter().filter_map(|o| if let WriteOp::Pair(p) = o { Some([p.first, p.second]) } else { None }).flatten();
    let ids: Vec<Uuid> = changes.iter().map(|c| c.complaint_id).chain(pairs).collect::<HashSet<_>>().into_iter().collect();
    for chunk in ids.chunks(5_000) {
        let sql = format!("SELECT {COMPLAINT_COLS} FROM complaints WHERE id IN ({})", placeholders(1, chunk.len()));
        let params: Vec<P> = chunk.iter().map(|id| P::from(*id)).collect();
        for r in conn.fetch_all(&sql, &params).await? {
            let c = complaint_from(&r)?;
            let row = complaint_params(&c);
            current.insert(c.id, (c, row));
        }
    }

    phase("lookups", t0.elapsed());
    let t1 = std::time::Instant::now();
    // ---- Decide each write's outcome, in arrival order, and gather the rows. ----
    let mut outcomes = Vec::with_capacity(ops.len());
    let (mut complaint_rows, mut event_rows, mut message_rows, mut job_rows, mut key_rows) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut mail_rows, mut attachment_rows) = (vec![], vec![]);
    let mut registered: Vec<Decision> = vec![];
    let mut changed: HashSet<Uuid> = HashSet::new();
    let mut decided: Vec<Decision> = vec![];
    let mut committed: Vec<StoredEvent> = vec![];
    let now = to_micros(ombuds_core::now());

    for op in ops {
        let decisions: &[Decision] = match op {
            WriteOp::Register(r) => {
                if let Some(k) = &r.idempotency
                    && let Some((hash, id)) = keys_seen.get(&(k.principal.clone(), k.key.clone()))
                {
                    outcomes.push(if *hash == k.request_hash { Outcome::Replayed { complaint_id: *id } } else { Outcome::KeyReused });
                    continue;
                }
                // The player: the strongest match among the known ones, or a new one.
                let found = players
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.match_strength(&r.contact), i))
                    .filter(|(s, _)| *s > 0)
                    .max_by_key(|(s, i)| (*s, std::cmp::Reverse(*i)))
                    .map(|(_, i)| i);
                let (index, fresh) = match found {
                    Some(i) => (i, None),
                    None => (players.len(), Some(Player::from_contact(Uuid::now_v7(), &r.contact, r.language, ombuds_core::now()))),
                };
                let player_id = match &fresh {
                    Some(p) => p.id,
                    None => players[index].id,
                };
                let built = match (r.build)(player_id) {
                    Ok(b) => b,
                    Err(e) => {
                        outcomes.push(Outcome::Refused(e));
                        continue;
                    }
                };
                if !refs_drawn.insert(built.complaint.reference.compact().to_string()) {
                    outcomes.push(Outcome::Retry("reference taken"));
                    continue;
                }
                match fresh {
                    Some(p) => players.push(p),
                    None if !r.contact_proven => {}
                    None => {
                        let merged = players[index].merged_with(&r.contact);
                        if merged != players[index] {
                            players[index] = merged;
                            dirty_players.insert(index);
                        }
                    }
                }
                if let Some(k) = &r.idempotency {
                    keys_seen.insert((k.principal.clone(), k.key.clone()), (k.request_hash.clone(), built.complaint.id));
                    key_rows.push(params![k.principal.as_str(), k.key.as_str(), k.request_hash.clone(), built.complaint.id, now]);
                }
                complaint_rows.push(complaint_params(&built.complaint));
                registered.push(built);
                &registered[registered.len() - 1..]
            }
            WriteOp::Change(req) => {
                if let Some(k) = &req.idempotency
                    && let Some((hash, id)) = keys_seen.get(&(k.principal.clone(), k.key.clone()))
                {
                    outcomes.push(if *hash == k.request_hash { Outcome::Replayed { complaint_id: *id } } else { Outcome::KeyReused });
                    continue;
                }
                let Some((state, _)) = current.get_mut(&req.complaint_id) else {
                    outcomes.push(Outcome::Missing);
                    continue;
                };
                match (req.decide)(state) {
                    Err(e) => {
                        outcomes.push(Outcome::Refused(e));
                        continue;
                    }
                    Ok(None) => {
                        outcomes.push(Outcome::Unchanged(Box::new(state.clone())));
                        continue;
                    }
                    Ok(Some(change)) => {
                        if change.base_version() != state.version || change.complaint.id != state.id {
                            return Err(StoreError::Corrupt("a change was decided against another state".into()));
                        }
                        *state = change.complaint.clone();
                        changed.insert(state.id);
                        if let Some(k) = &req.idempotency {
                            keys_seen.insert((k.principal.clone(), k.key.clone()), (k.request_hash.clone(), state.id));
                            key_rows.push(params![k.principal.as_str(), k.key.as_str(), k.request_hash.clone(), state.id, now]);
                        }
                        decided.push(change);
                        &decided[decided.len() - 1..]
                    }
                }
            }
            WriteOp::Pair(pair) => {
                let (Some((first, _)), Some((second, _))) = (current.get(&pair.first), current.get(&pair.second)) else {
                    outcomes.push(Outcome::Missing);
                    continue;
                };
                match (pair.decide)(first, second) {
                    Err(e) => {
                        outcomes.push(Outcome::Refused(e));
                        continue;
                    }
                    Ok((a, b)) => {
                        for (d, read) in [(&a, first), (&b, second)] {
                            if d.base_version() != read.version || d.complaint.id != read.id {
                                return Err(StoreError::Corrupt("a change was decided against another state".into()));
                            }
                        }
                        for d in [&a, &b] {
                            current.get_mut(&d.complaint.id).expect("read above").0 = d.complaint.clone();
                            changed.insert(d.complaint.id);
                        }
                        decided.push(a);
                        decided.push(b);
                        &decided[decided.len() - 2..]
                    }
                }
            }
        };
        let events = decisions.iter().flat_map(|d| &d.events);
        let messages: Vec<&Message> = decisions.iter().flat_map(|d| &d.messages).collect();
        for e in events.clone() {
            seq += 1;
            let actor = json(&e.actor);
            let data = json(&e.data);
            let link = Link {
                seq,
                id: e.id,
                complaint_id: e.complaint_id,
                at_micros: to_micros(e.at),
                kind: e.data.name(),
                actor_json: &actor,
                data_json: &data,
            };
            let hash = link.hash(&prev);
            event_rows.push(params![seq, e.id, e.complaint_id, e.data.name(), actor, data, to_micros(e.at), prev.to_vec(), hash.to_vec()]);
            committed.push(StoredEvent { seq, event: e.clone(), hash: hex_string(&hash) });
            prev = hash;
        }
        message_rows.extend(messages.iter().map(|m| message_params(m)));
        let (mail, uploads) = match op {
            WriteOp::Register(r) => (r.mail.as_deref(), r.uploads.as_slice()),
            WriteOp::Change(c) => (c.mail.as_deref(), c.uploads.as_slice()),
            WriteOp::Pair(_) => (None, [].as_slice()),
        };
        let complaint_id = events.clone().next().map(|e| e.complaint_id);
        let message_id = messages.iter().find(|m| m.kind == MessageKind::Inbound).map(|m| m.id);
        if let Some(m) = mail {
            let complaint_id = complaint_id.ok_or_else(|| StoreError::Corrupt("a mail without events".into()))?;
            mail_rows.push(params![
                Uuid::now_v7(),
                complaint_id,
                message_id,
                "in",
                m.header_id.as_str(),
                m.sender.as_str(),
                m.recipient.as_str(),
                m.subject.as_str(),
                m.size,
                m.raw.clone(),
                m.auth.as_ref().map(|a| serde_json::to_string(a).expect("sender checks serialise")),
                now
            ]);
        }
        let files = mail.map(|m| m.attachments.as_slice()).unwrap_or_default().iter().chain(uploads);
        for a in files {
            let complaint_id = complaint_id.ok_or_else(|| StoreError::Corrupt("a file without events".into()))?;
            attachment_rows.push(params![
                Uuid::now_v7(),
                complaint_id,
                message_id,
                a.filename.as_str(),
                a.content_type.as_str(),
                a.data.len() as i64,
                a.sha256.clone(),
                a.data.clone(),
                now
            ]);
        }
        for j in decisions.iter().flat_map(|d| &d.jobs) {
            job_rows.push(params![Uuid::now_v7(), j.kind(), j.complaint_id(), json(j), j.run_at().map(to_micros).unwrap_or(now), now, now]);
        }
        outcomes.push(match op {
            WriteOp::Register(_) => Outcome::Registered(Box::new(registered.last().expect("registered").complaint.clone())),
            WriteOp::Change(req) => Outcome::Changed(Box::new(current[&req.complaint_id].0.clone())),
            WriteOp::Pair(p) => Outcome::ChangedPair(Box::new((current[&p.first].0.clone(), current[&p.second].0.clone()))),
        });
    }

    phase("decide", t1.elapsed());
    let t2 = std::time::Instant::now();
    // ---- Write, parents before children. ----
    // A drawn reference that exists already sends its registration back to draw again; this
    // is checked before anything is written, so nothing else in the batch is affected.
    let drawn: Vec<String> = refs_drawn.into_iter().collect();
    let taken = existing_texts(conn, "SELECT ref FROM complaints WHERE ref", "ref", drawn).await?;
    if !taken.is_empty() {
        return Err(StoreError::ReferenceTaken(taken.into_iter().collect()));
    }
    let player_rows: Vec<Vec<P>> = players[known_players..].iter().map(|p| player_params(p, now)).collect();
    for p in dirty_players.iter().filter(|i| **i < known_players).map(|i| &players[*i]) {
        conn.execute(
            "UPDATE players SET external_id = $2, name = $3, email = $4, phone = $5, language = $6, updated_at = $7 WHERE id = $1",
            &params![
                p.id,
                p.external_id.as_ref().map(|x| x.as_str()),
                p.name.as_ref().map(|x| x.as_str()),
                p.email.as_ref().map(|x| x.as_str()),
                p.phone.as_ref().map(|x| x.as_str()),
                p.language.as_str(),
                now
            ],
        )
        .await?;
    }
    // Each complaint's UPDATE sets only the columns its final state changed (an index is
    // maintained only when one of its columns is SET), guarded by the version it was read at.
    // Complaints that changed the same columns (a round of SLA timers, say) share one
    // statement, so a batch costs a few round trips, not one per complaint.
    type Rows<'a> = Vec<(Vec<P>, &'a [P])>;
    let mut groups: HashMap<Vec<usize>, Rows<'_>> = HashMap::new();
    let mut order: Vec<Vec<usize>> = vec![];
    for id in &changed {
        let (state, read) = &current[id];
        let new = complaint_params(state);
        let cols = changed_columns(&new, read);
        let group = groups.entry(cols.clone()).or_insert_with(|| {
            order.push(cols);
            vec![]
        });
        group.push((new, read.as_slice()));
    }
    for cols in order {
        let rows = &groups[&cols];
        if rows.len() == 1 {
            let (new, read) = &rows[0];
            let (sql, p) = update_sql(new, read);
            if conn.execute(&sql, &p).await? != 1 {
                return Err(StoreError::Corrupt("a complaint changed under the writer's lock".into()));
            }
            continue;
        }
        let per_statement = (30_000 / (cols.len() + 2)).max(1);
        for chunk in rows.chunks(per_statement) {
            let (sql, p) = update_many_sql(&cols, chunk);
            if conn.execute(&sql, &p).await? != chunk.len() as u64 {
                return Err(StoreError::Corrupt("a complaint changed under the writer's lock".into()));
            }
        }
    }
    phase("updates", t2.elapsed());
    let t3 = std::time::Instant::now();
    insert_all(
        conn,
        vec![
            ("players", PLAYER_COLS, player_rows),
            ("complaints", COMPLAINT_COLS, complaint_rows),
            ("events", "seq, id, complaint_id, kind, actor, data, at, prev_hash, hash", event_rows),
            ("messages", MESSAGE_COLS, message_rows),
            ("jobs", "id, kind, complaint_id, payload, run_at, created_at, updated_at", job_rows),
            ("idempotency_keys", "principal, key, request_hash, complaint_id, created_at", key_rows),
            ("mail_messages", MAIL_COLS, mail_rows),
            ("attachments", "id, complaint_id, message_id, filename, content_type, size, sha256, data, created_at", attachment_rows),
        ],
        seq,
        prev.to_vec(),
        match (conn.backend(), committed.first(), committed.last()) {
            (Backend::Postgres, Some(a), Some(b)) => Some(bus.announcement(a.seq, b.seq)),
            _ => None,
        },
    )
    .await?;
    phase("inserts", t3.elapsed());
    Ok((outcomes, committed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_sets_only_the_columns_that_changed() {
        let width = COMPLAINT_COLS.split(',').count();
        let read: Vec<P> = (0..width as i64).map(P::from).collect();
        let mut new = read.clone();
        let cols: Vec<&str> = COMPLAINT_COLS.split(',').map(str::trim).collect();
        let (status, version) = (3, cols.iter().position(|c| *c == "version").unwrap());
        new[status] = P::from("in_progress");
        new[version] = P::from(99i64);
        let (sql, params) = update_sql(&new, &read);
        assert_eq!(sql, "UPDATE complaints SET status = $2, version = $3 WHERE id = $1 AND version = $4");
        assert_eq!(params, vec![read[0].clone(), new[status].clone(), new[version].clone(), read[version].clone()]);
    }

    #[test]
    fn complaints_that_changed_the_same_columns_share_one_update() {
        let cols: Vec<&str> = COMPLAINT_COLS.split(',').map(str::trim).collect();
        let (status, version) = (3, cols.iter().position(|c| *c == "version").unwrap());
        let row = |id: i64| -> (Vec<P>, Vec<P>) {
            let read: Vec<P> = (0..cols.len() as i64).map(|i| P::from(i + id * 1000)).collect();
            let mut new = read.clone();
            new[status] = P::from("routed");
            new[version] = P::from(id * 1000 + 99);
            (new, read)
        };
        let (a, b) = (row(1), row(2));
        let changed = changed_columns(&a.0, &a.1);
        assert_eq!(changed, vec![status, version]);
        assert_eq!(changed_columns(&b.0, &b.1), changed);
        let (sql, params) = update_many_sql(&changed, &[(a.0.clone(), a.1.as_slice()), (b.0.clone(), b.1.as_slice())]);
        assert_eq!(
            sql,
            "UPDATE complaints SET status = v.column3, version = v.column4 FROM (VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)) AS v \
             WHERE complaints.id = v.column1 AND complaints.version = v.column2"
        );
        assert_eq!(params[..4], [a.0[0].clone(), a.1[version].clone(), a.0[status].clone(), a.0[version].clone()]);
        assert_eq!(params[4..], [b.0[0].clone(), b.1[version].clone(), b.0[status].clone(), b.0[version].clone()]);
    }
}
