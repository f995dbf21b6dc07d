//! Reads for the SLA: the complaints whose clocks run, soonest first, and each department's
//! recent pace of resolution.

use crate::rows::*;
use crate::{Store, StoreError, params, with_read};
use ombuds_core::{Complaint, to_micros};

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
}
