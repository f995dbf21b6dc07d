//! Reads for the SLA: the complaints whose clocks run, soonest first, and each department's
//! recent pace of resolution.

use crate::rows::*;
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{Complaint, from_micros, now, to_micros};

/// One saved version of the SLA settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSla {
    pub version: i64,
    /// The settings as JSON.
    pub spec: String,
    pub saved_by: String,
    pub saved_at: jiff::Timestamp,
}

impl Store {
    /// Open complaints with a running SLA clock (not paused), the soonest alarm first.
    pub async fn sla_running(&self, limit: i64) -> Result<Vec<Complaint>, StoreError> {
        let sql = format!("SELECT {COMPLAINT_COLS} FROM complaints WHERE sla_next_at IS NOT NULL ORDER BY sla_next_at LIMIT $1");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![limit]).await)?;
        rows.iter().map(complaint_from).collect()
    }

    /// How many complaints each department resolved since `since`.
    pub async fn resolved_since(&self, since: jiff::Timestamp) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT department, COUNT(*) AS n FROM complaints WHERE resolved_at >= $1 AND department IS NOT NULL GROUP BY department",
                &params![to_micros(since)]
            )
            .await)?;
        rows.iter().map(|r| Ok((r.text("department")?, r.i64("n")?))).collect()
    }

    /// The SLA settings saved through the API, newest first; `None` when never saved.
    pub async fn current_sla(&self) -> Result<Option<StoredSla>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT version, spec, saved_by, saved_at FROM sla_settings ORDER BY version DESC LIMIT 1", &[])
            .await)?;
        row.map(|r| Ok(StoredSla { version: r.i64("version")?, spec: r.text("spec")?, saved_by: r.text("saved_by")?, saved_at: from_micros(r.i64("saved_at")?) }))
            .transpose()
    }

    /// Saves a new version; `expected` guards against a concurrent save (`Conflict`).
    pub async fn save_sla(&self, spec: &str, saved_by: &str, expected: Option<i64>) -> Result<StoredSla, StoreError> {
        let saved_at = to_micros(now());
        let version = with_tx!(self.db(), |conn| {
            let version = crate::routing::next_version(&mut conn, "sla_settings", "SLA settings", expected).await?;
            conn.execute(
                "INSERT INTO sla_settings (version, spec, saved_by, saved_at) VALUES ($1, $2, $3, $4)",
                &params![version, spec, saved_by, saved_at],
            )
            .await?;
            Ok::<_, StoreError>(version)
        })?;
        Ok(StoredSla { version, spec: spec.to_string(), saved_by: saved_by.to_string(), saved_at: from_micros(saved_at) })
    }
}
