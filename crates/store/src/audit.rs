//! Walking the event chain, exporting everything, backing up.

use crate::db::{Backend, Conn, P};
use crate::queries::hex_string;
use crate::rows::*;
use crate::{Store, StoreError, params, with_read};
use ombuds_core::chain::{Break, Link, Verifier};
use serde_json::{Value, json};
use std::io::Write;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub checked: u64,
    /// The first break, if any; nothing after it is trusted.
    pub broken: Option<Break>,
}

const CHUNK: i64 = 5_000;

impl Store {
    /// Recomputes every event's hash in `seq` order and compares it with the chain head.
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        with_read!(self.db(), |conn| {
            let head = conn
                .fetch_optional("SELECT seq, hash FROM event_chain WHERE id = 1", &[])
                .await?
                .ok_or_else(|| StoreError::Corrupt("the event chain head is missing".into()))?;
            let mut v = Verifier::default();
            let mut after = 0i64;
            loop {
                let rows = conn
                    .fetch_all(
                        &format!(
                            "SELECT seq, id, complaint_id, kind, actor, data, at, prev_hash, hash FROM events \
                             WHERE seq > $1 ORDER BY seq LIMIT {CHUNK}"
                        ),
                        &params![after],
                    )
                    .await?;
                for r in &rows {
                    let (actor, data, kind) = (r.text("actor")?, r.text("data")?, r.text("kind")?);
                    let link = Link {
                        seq: r.i64("seq")?,
                        id: r.uuid("id")?,
                        complaint_id: r.uuid("complaint_id")?,
                        at_micros: r.i64("at")?,
                        kind: &kind,
                        actor_json: &actor,
                        data_json: &data,
                    };
                    if let Err(b) = v.check(&link, &r.bytes("prev_hash")?, &r.bytes("hash")?) {
                        return Ok(ChainReport { checked: v.checked, broken: Some(b) });
                    }
                    after = link.seq;
                }
                if (rows.len() as i64) < CHUNK {
                    break;
                }
            }
            let broken = v.finish(head.i64("seq")?, &head.bytes("hash")?).err();
            Ok(ChainReport { checked: v.checked, broken })
        })
    }

    /// Writes everything as JSON lines, one object per line with a `type` field, from one
    /// consistent snapshot, in bounded memory. Agents are exported without password hashes.
    pub async fn export_jsonl(&self, out: &mut (dyn Write + Send)) -> Result<u64, StoreError> {
        with_read!(self.db(), |conn| {
            let begin = match conn.backend() {
                Backend::Sqlite => "BEGIN",
                Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            };
            conn.execute(begin, &[]).await?;
            let result = export_all(&mut conn, out).await;
            conn.execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]).await?;
            result
        })
    }

    /// An online, consistent copy of the SQLite store at `dest` (which must not exist).
    pub async fn backup(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Config("backup copies the embedded SQLite store; for PostgreSQL use pg_dump".into()));
        }
        if dest.exists() {
            return Err(StoreError::Config(format!("{} exists already; choose a new file", dest.display())));
        }
        let dest = dest.to_str().ok_or_else(|| StoreError::Config("the backup path must be UTF-8".into()))?.to_string();
        with_read!(self.db(), |conn| conn.execute("VACUUM INTO $1", &params![dest]).await)?;
        Ok(())
    }
}

fn line(out: &mut (dyn Write + Send), v: &Value) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| StoreError::Config(format!("export write failed: {e}")))?;
    out.write_all(b"\n").map_err(|e| StoreError::Config(format!("export write failed: {e}")))
}

fn tagged<T: serde::Serialize>(kind: &str, v: &T) -> Value {
    let mut v = serde_json::to_value(v).expect("domain values serialise");
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), Value::String(kind.into()));
    }
    v
}

async fn export_all(conn: &mut Conn<'_>, out: &mut (dyn Write + Send)) -> Result<u64, StoreError> {
    let mut n = 0u64;
    for r in conn.fetch_all("SELECT code, name_en, name_ru, name_kk, active FROM departments ORDER BY code", &[]).await? {
        line(out, &tagged("department", &department_from(&r)?))?;
        n += 1;
    }
    for r in conn.fetch_all(&format!("SELECT {AGENT_COLS} FROM agents ORDER BY login"), &[]).await? {
        line(out, &tagged("agent", &agent_from(&r)?))?;
        n += 1;
    }
    // Large tables: keyset pages by primary key.
    macro_rules! pages {
        ($cols:expr, $table:literal, $kind:literal, $from:expr) => {{
            let mut after: Option<Uuid> = None;
            loop {
                let (cond, p): (&str, Vec<P>) = match after {
                    Some(a) => ("WHERE id > $1", params![a]),
                    None => ("", vec![]),
                };
                let rows = conn.fetch_all(&format!("SELECT {} FROM {} {cond} ORDER BY id LIMIT {CHUNK}", $cols, $table), &p).await?;
                for r in &rows {
                    line(out, &tagged($kind, &$from(r)?))?;
                    n += 1;
                    after = Some(r.uuid("id")?);
                }
                if (rows.len() as i64) < CHUNK {
                    break;
                }
            }
        }};
    }
    pages!(PLAYER_COLS, "players", "player", player_from);
    pages!(COMPLAINT_COLS, "complaints", "complaint", complaint_from);
    pages!(MESSAGE_COLS, "messages", "message", message_from);
    let job = |r: &crate::db::Row| -> Result<Value, StoreError> {
        Ok(json!({
            "id": r.uuid("id")?, "kind": r.text("kind")?, "complaint_id": r.opt_uuid("complaint_id")?,
            "payload": serde_json::from_str::<Value>(&r.text("payload")?).unwrap_or(Value::Null),
            "status": r.text("status")?, "attempts": r.i64("attempts")?, "last_error": r.opt_text("last_error")?,
        }))
    };
    pages!("id, kind, complaint_id, payload, status, attempts, last_error", "jobs", "job", job);
    let mut after = 0i64;
    loop {
        let rows = conn
            .fetch_all(
                &format!("SELECT seq, id, complaint_id, kind, actor, data, at, prev_hash, hash FROM events WHERE seq > $1 ORDER BY seq LIMIT {CHUNK}"),
                &params![after],
            )
            .await?;
        for r in &rows {
            let parse = |s: String| serde_json::from_str::<Value>(&s).map_err(|e| StoreError::Corrupt(e.to_string()));
            line(
                out,
                &json!({
                    "type": "event", "seq": r.i64("seq")?, "id": r.uuid("id")?, "complaint_id": r.uuid("complaint_id")?,
                    "kind": r.text("kind")?, "actor": parse(r.text("actor")?)?, "data": parse(r.text("data")?)?,
                    "at": ombuds_core::from_micros(r.i64("at")?), "prev_hash": hex_string(&r.bytes("prev_hash")?),
                    "hash": hex_string(&r.bytes("hash")?),
                }),
            )?;
            n += 1;
            after = r.i64("seq")?;
        }
        if (rows.len() as i64) < CHUNK {
            break;
        }
    }
    Ok(n)
}
