//! The outbox job runner. Channels register a handler per job kind; the runner claims due
//! jobs of those kinds (with a lease, so a crashed runner's jobs come back), runs them, and
//! records success, a retry with exponential backoff, or a permanent failure that stays
//! visible on the complaint. Kinds without a handler stay pending and due: nothing is dropped.

use crate::Desk;
use futures_util::future::BoxFuture;
use ombuds_store::JobRecord;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why a job did not succeed.
#[derive(Debug, Clone)]
pub struct JobFailure {
    pub message: String,
    /// False for failures that retrying cannot fix (a mailbox that does not exist).
    pub retry: bool,
    /// Who the job was for (an e-mail address), shown with the failure on the complaint.
    pub recipient: Option<String>,
}

impl JobFailure {
    pub fn transient(m: impl Into<String>) -> Self {
        JobFailure { message: m.into(), retry: true, recipient: None }
    }
    pub fn permanent(m: impl Into<String>) -> Self {
        JobFailure { message: m.into(), retry: false, recipient: None }
    }
    pub fn to(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }
}

pub type JobHandler = Arc<dyn Fn(Desk, JobRecord) -> BoxFuture<'static, Result<(), JobFailure>> + Send + Sync>;

pub struct JobRunner {
    desk: Desk,
    handlers: HashMap<&'static str, JobHandler>,
    pub name: String,
    pub lease: Duration,
    pub poll: Duration,
    pub batch: u32,
    /// Jobs of one round run at once (deliveries wait on the network, not the CPU).
    pub concurrency: usize,
    pub max_attempts: i64,
}

/// Backoff before attempt `n + 1`: 10 s, 20 s, 40 s, … capped at one hour.
pub fn backoff(attempts: i64) -> Duration {
    let secs = 10u64.saturating_mul(1 << attempts.clamp(0, 20).saturating_sub(1));
    Duration::from_secs(secs.min(3600))
}

impl JobRunner {
    pub fn new(desk: Desk, name: impl Into<String>) -> Self {
        JobRunner {
            desk,
            handlers: HashMap::new(),
            name: name.into(),
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(1),
            batch: 64,
            concurrency: 16,
            max_attempts: 10,
        }
    }

    pub fn handle(mut self, kind: &'static str, h: JobHandler) -> Self {
        self.handlers.insert(kind, h);
        self
    }

    /// Keeps only the handlers of these kinds (the others' jobs stay pending for other runners).
    pub fn only(mut self, kinds: &[&str]) -> Self {
        self.handlers.retain(|k, _| kinds.contains(k));
        self
    }

    /// Claims and runs one round of due jobs, concurrently; returns how many ran. Successes
    /// are recorded together in one transaction. A job given up on (a permanent failure, or
    /// the last attempt) is recorded on its complaint as `delivery_failed`, so someone sees
    /// that the player was not informed.
    pub async fn run_once(&self) -> crate::Result<usize> {
        use futures_util::StreamExt;
        let kinds: Vec<&str> = self.handlers.keys().copied().collect();
        let jobs = self.desk.store.claim_jobs(&kinds, self.batch, self.lease, &self.name).await?;
        let n = jobs.len();
        // Jobs of one complaint run one after the other, in the order they were written (an
        // acknowledgment before the reply after it); different complaints run concurrently.
        let mut groups: Vec<Vec<JobRecord>> = vec![];
        let mut index: HashMap<uuid::Uuid, usize> = HashMap::new();
        for job in jobs {
            match job.complaint_id.map(|c| (c, index.get(&c).copied())) {
                Some((_, Some(i))) => groups[i].push(job),
                Some((c, None)) => {
                    index.insert(c, groups.len());
                    groups.push(vec![job]);
                }
                None => groups.push(vec![job]),
            }
        }
        let results: Vec<(JobRecord, Result<(), JobFailure>)> = futures_util::stream::iter(groups)
            .map(|group| {
                let desk = self.desk.clone();
                let handlers = &self.handlers;
                async move {
                    let mut out = Vec::with_capacity(group.len());
                    for job in group {
                        let handler = handlers[job.kind.as_str()].clone();
                        let r = handler(desk.clone(), job.clone()).await;
                        out.push((job, r));
                    }
                    out
                }
            })
            .buffer_unordered(self.concurrency.max(1))
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        let done: Vec<uuid::Uuid> = results.iter().filter(|(_, r)| r.is_ok()).map(|(j, _)| j.id).collect();
        self.desk.store.complete_jobs(&done).await?;
        for (job, r) in results {
            let kind = job.kind.clone();
            match r {
                Ok(()) => metrics::counter!("ombuds_jobs_done_total", "kind" => kind).increment(1),
                Err(f) => {
                    let retry_at = (f.retry && job.attempts < self.max_attempts)
                        .then(|| ombuds_core::now() + jiff::SignedDuration::try_from(backoff(job.attempts)).expect("fits"));
                    tracing::warn!(job = %job.id, kind, attempts = job.attempts, error = %f.message, retry = retry_at.is_some(), "job failed");
                    self.desk.store.fail_job(job.id, &f.message, retry_at).await?;
                    metrics::counter!("ombuds_jobs_failed_total", "kind" => kind).increment(1);
                    if retry_at.is_none()
                        && let Some(complaint_id) = job.complaint_id
                    {
                        let message_id = job.payload.get("message_id").and_then(|v| v.as_str()).and_then(|v| v.parse().ok());
                        self.desk.record_delivery_failure(complaint_id, &job.kind, message_id, &f).await?;
                    }
                }
            }
        }
        Ok(n)
    }

    /// Runs until `stop` resolves: wakes when the desk writes jobs, or every `poll`.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        if self.handlers.is_empty() {
            stop.await;
            return;
        }
        tokio::pin!(stop);
        loop {
            let ran = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "job runner round failed");
                    0
                }
            };
            if ran as u32 >= self.batch {
                continue;
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = self.desk.jobs_ready.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }
}
