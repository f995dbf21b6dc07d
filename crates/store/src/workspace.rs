//! Macros (canned responses) and who is on which complaint page. Small writes: plain
//! transactions.

use crate::rows::{json, parse_json};
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::macros::Macro;
use ombuds_core::*;
use std::collections::BTreeMap;
use uuid::Uuid;

fn macro_from(r: &crate::db::Row) -> Result<Macro, StoreError> {
    let bad = |col: &str, e: FieldError| StoreError::Corrupt(format!("macros column {col}: {}", e.message));
    let texts: BTreeMap<Language, Body> = parse_json("texts", &r.text("texts")?)?;
    if texts.is_empty() {
        return Err(StoreError::Corrupt("macros column texts: no text".into()));
    }
    Ok(Macro {
        id: r.uuid("id")?,
        title: Subject::parse(&r.text("title")?).map_err(|e| bad("title", e))?,
        department: r.opt_text("department")?.map(|d| DepartmentCode::parse(&d)).transpose().map_err(|e| bad("department", e))?,
        texts,
        created_at: from_micros(r.i64("created_at")?),
        updated_at: from_micros(r.i64("updated_at")?),
    })
}

impl Store {
    /// Every macro, by title.
    pub async fn macros(&self) -> Result<Vec<Macro>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT id, title, department, texts, created_at, updated_at FROM macros ORDER BY title, id", &[])
            .await)?;
        rows.iter().map(macro_from).collect()
    }

    /// Creates the macro or replaces it.
    pub async fn save_macro(&self, m: &Macro) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO macros (id, title, department, texts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title, department = excluded.department, texts = excluded.texts, \
                 updated_at = excluded.updated_at",
                &params![m.id, m.title.as_str(), m.department.as_ref().map(|d| d.as_str()), json(&m.texts), to_micros(m.created_at), to_micros(m.updated_at)],
            )
            .await)?;
        Ok(())
    }

    /// Deletes a macro; `NotFound` when there is none.
    pub async fn delete_macro(&self, id: Uuid) -> Result<(), StoreError> {
        let n = with_tx!(self.db(), |conn| conn.execute("DELETE FROM macros WHERE id = $1", &params![id]).await)?;
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}

impl Store {
    /// Records that `agent` is on the complaint's page, doing `state`.
    pub async fn beat_presence(&self, complaint_id: Uuid, agent_id: Uuid, state: Presence, at: jiff::Timestamp) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO presence (complaint_id, agent_id, state, seen_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (complaint_id, agent_id) DO UPDATE SET state = excluded.state, seen_at = excluded.seen_at",
                &params![complaint_id, agent_id, state.as_str(), to_micros(at)],
            )
            .await)?;
        Ok(())
    }

    /// Who was on the complaint's page since `since`, and doing what.
    pub async fn presence(&self, complaint_id: Uuid, since: jiff::Timestamp) -> Result<Vec<(Uuid, Presence)>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT agent_id, state FROM presence WHERE complaint_id = $1 AND seen_at >= $2 ORDER BY seen_at DESC",
                &params![complaint_id, to_micros(since)]
            )
            .await)?;
        rows.iter()
            .map(|r| Ok((r.uuid("agent_id")?, Presence::parse(&r.text("state")?).map_err(|e| StoreError::Corrupt(format!("presence column state: {}", e.message)))?)))
            .collect()
    }
}
