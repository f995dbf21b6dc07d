//! The outbox queue. Runners claim due jobs with a lease (`UPDATE … RETURNING`, with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL so several nodes never claim the same job); a job
//! whose runner died becomes claimable again when its lease runs out.

use crate::db::{Backend, P};
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{from_micros, now, to_micros};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: Uuid,
    pub kind: String,
    pub complaint_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub run_at: jiff::Timestamp,
    pub last_error: Option<String>,
}

fn job_from(r: &crate::db::Row) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: r.uuid("id")?,
        kind: r.text("kind")?,
        complaint_id: r.opt_uuid("complaint_id")?,
        payload: serde_json::from_str(&r.text("payload")?).map_err(|e| StoreError::Corrupt(format!("job payload: {e}")))?,
        status: r.text("status")?,
        attempts: r.i64("attempts")?,
        run_at: from_micros(r.i64("run_at")?),
        last_error: r.opt_text("last_error")?,
    })
}

const JOB_COLS: &str = "id, kind, complaint_id, payload, status, attempts, run_at, last_error";

impl Store {
    /// Claims up to `limit` due jobs of the given kinds for `lease`, on behalf of `runner`.
    pub async fn claim_jobs(&self, kinds: &[&str], limit: u32, lease: std::time::Duration, runner: &str) -> Result<Vec<JobRecord>, StoreError> {
        if kinds.is_empty() {
            return Ok(vec![]);
        }
        let now = to_micros(now());
        let until = now + lease.as_micros() as i64;
        let mut p: Vec<P> = params![until, runner, now];
        let mut marks = vec![];
        for k in kinds {
            p.push(P::from(*k));
            marks.push(format!("${}", p.len()));
        }
        let skip = if self.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, leased_by = $2, attempts = attempts + 1, updated_at = $3 WHERE id IN (\
               SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
               AND kind IN ({}) ORDER BY run_at LIMIT {}{skip}) RETURNING {JOB_COLS}",
            marks.join(", "),
            limit.max(1)
        );
        // Look before taking the write lock: most wake-ups (every commit notifies the runner)
        // find nothing due, and a claim that updates nothing would still queue behind the
        // writer for SQLite's one write lock.
        let probe = format!(
            "SELECT 1 AS due FROM jobs WHERE status = 'pending' AND run_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             AND kind IN ({}) LIMIT 1",
            marks.join(", ")
        );
        let mut probe_params = p.clone();
        probe_params[0] = P::from(0i64);
        probe_params[1] = P::from("");
        let due = with_read!(self.db(), |conn| conn.fetch_optional(&probe, &probe_params).await)?;
        if due.is_none() {
            return Ok(vec![]);
        }
        let rows = with_tx!(self.db(), |conn| conn.fetch_all(&sql, &p).await)?;
        // RETURNING keeps no order: oldest first, so one complaint's notices go out in order.
        let mut jobs = rows.iter().map(job_from).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    pub async fn complete_job(&self, id: Uuid) -> Result<(), StoreError> {
        self.complete_jobs(&[id]).await
    }

    /// How many jobs of `kind` are in `status` (`pending`, `done`, `failed`).
    pub async fn job_count(&self, kind: &str, status: &str) -> Result<i64, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT COUNT(*) AS n FROM jobs WHERE kind = $1 AND status = $2", &params![kind, status])
            .await)?;
        Ok(row.map(|r| r.i64("n")).transpose()?.unwrap_or(0))
    }

    /// Marks several jobs done in one transaction (one fsync for a whole round).
    pub async fn complete_jobs(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let now = to_micros(now());
        with_tx!(self.db(), |conn| {
            for chunk in ids.chunks(1_000) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "UPDATE jobs SET status = 'done', lease_until = NULL, last_error = NULL, updated_at = $1 WHERE id IN ({})",
                    marks.join(", ")
                );
                let mut p: Vec<P> = vec![P::from(now)];
                p.extend(chunk.iter().map(|id| P::from(*id)));
                conn.execute(&sql, &p).await?;
            }
            Ok::<(), StoreError>(())
        })
    }

    /// Marks every pending job of the given kinds done without running it, with `why` as its
    /// note (data loaded for a demonstration must not mail anyone); how many were settled.
    pub async fn settle_pending_jobs(&self, kinds: &[&str], why: &str) -> Result<u64, StoreError> {
        if kinds.is_empty() {
            return Ok(0);
        }
        let now = to_micros(now());
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "UPDATE jobs SET status = 'done', lease_until = NULL, last_error = $2, updated_at = $1 WHERE status = 'pending' AND kind IN ({})",
            marks.join(", ")
        );
        let mut p: Vec<P> = vec![P::from(now), P::from(why)];
        p.extend(kinds.iter().map(|k| P::from(*k)));
        with_tx!(self.db(), |conn| conn.execute(&sql, &p).await)
    }

    /// Records a failed attempt: retried at `retry_at`, or given up (`failed`) when `None`.
    pub async fn fail_job(&self, id: Uuid, error: &str, retry_at: Option<jiff::Timestamp>) -> Result<(), StoreError> {
        let now = to_micros(now());
        let (status, run_at) = match retry_at {
            Some(t) => ("pending", Some(to_micros(t))),
            None => ("failed", None),
        };
        with_tx!(self.db(), |conn| conn
            .execute(
                "UPDATE jobs SET status = $2, run_at = COALESCE($3, run_at), lease_until = NULL, last_error = $4, updated_at = $5 WHERE id = $1",
                &params![id, status, run_at, error, now]
            )
            .await)?;
        Ok(())
    }

    pub async fn jobs_for_complaint(&self, complaint_id: Uuid) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE complaint_id = $1 ORDER BY created_at, id");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(job_from).collect()
    }

    /// Pending jobs that are due now, per kind.
    pub async fn due_jobs(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let now = to_micros(now());
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT kind, COUNT(*) AS n FROM jobs WHERE status = 'pending' AND run_at <= $1 GROUP BY kind ORDER BY kind", &params![now])
            .await)?;
        rows.iter().map(|r| Ok((r.text("kind")?, r.i64("n")?))).collect()
    }
}
