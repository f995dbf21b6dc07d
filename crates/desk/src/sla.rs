//! Service levels at the desk: the settings in force, the timer that checks a complaint's
//! clocks, the staff notices that follow assignments and alarms, and the at-risk list.
//!
//! Timers are outbox jobs (`sla_timer`, due at the complaint's next SLA instant), claimed by
//! the job runners of every node with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL). The
//! core decides what a firing means against the complaint as committed, so a timer fired twice
//! (two runners, a retry after a crash) or made stale by a later change records nothing: each
//! alarm is recorded exactly once.

use crate::jobs::{JobFailure, JobHandler, JobRunner};
use crate::live::LiveSignal;
use crate::{Desk, DeskError, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::sla::{Risk, Sla, SlaSpec};
use ombuds_core::*;
use ombuds_store::{ChangeRequest, Decide, JobRecord, Outcome, WriteOp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use uuid::Uuid;

impl Desk {
    /// The calendars and policies in force.
    pub fn sla(&self) -> Arc<Sla> {
        self.sla.read().expect("lock").clone()
    }

    /// Checks SLA settings against the departments and puts them in force for every decision
    /// after this one. Every mistake is named (`calendars.payments.hours`, `policy[2].department`).
    pub async fn set_sla(&self, spec: &SlaSpec) -> Result<()> {
        let departments: Vec<DepartmentCode> = self.departments().await?.iter().map(|d| d.code.clone()).collect();
        let sla = Sla::compile(spec, &departments).map_err(|errors| {
            DeskError::Domain(DomainError::Invalid(errors.into_iter().map(|(f, m)| FieldError::new(f, "invalid_sla", m)).collect()))
        })?;
        *self.sla.write().expect("lock") = Arc::new(sla);
        Ok(())
    }

    /// A timer fired for `complaint_id`: record the SLA alarms that are due (as ombuds itself).
    pub async fn check_sla(&self, complaint_id: Uuid) -> Result<()> {
        self.check_sla_as_of(complaint_id, now()).await
    }

    /// `check_sla` as if it were `at`: what a timer firing then would record. For tests and
    /// benchmarks that cannot wait a day for a deadline.
    #[doc(hidden)]
    pub async fn check_sla_as_of(&self, complaint_id: Uuid, at: jiff::Timestamp) -> Result<()> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: at, actor: Actor::System, departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &Command::CheckSla, &mut ctx)
        });
        match self.store.write(WriteOp::Change(ChangeRequest::new(complaint_id, decide))).await? {
            Outcome::Changed(_) => {
                self.jobs_ready.notify_waiters();
                Ok(())
            }
            Outcome::Refused(e) => Err(e.into()),
            // Nothing due (a stale timer), or the complaint is gone: nothing to do.
            _ => Ok(()),
        }
    }

    /// Complaints predicted to miss their deadline (or within `near` of it) that `who` may
    /// see, most urgent first.
    pub async fn at_risk(&self, who: &Principal, near: jiff::SignedDuration, limit: usize) -> Result<Vec<Risk>> {
        let visibility = who.visibility();
        if visibility == Visibility::Nothing {
            return Err(DomainError::Forbidden("this token cannot read complaints".into()).into());
        }
        let now = now();
        let (running, resolved) = tokio::try_join!(
            self.store.sla_running(20_000),
            self.store.resolved_since(now - jiff::SignedDuration::from_hours(24))
        )?;
        let resolved: BTreeMap<String, i64> = resolved.into_iter().collect();
        // The department's pace counts all its work; the list shows only what `who` may see.
        let mut risks = ombuds_core::sla::at_risk(now, &running, &resolved, near);
        let visible: BTreeSet<Uuid> = running.iter().filter(|c| visibility.allows(c)).map(|c| c.id).collect();
        risks.retain(|r| visible.contains(&r.complaint_id));
        risks.truncate(limit);
        Ok(risks)
    }

    /// Who hears of a staff notice: the assignee for an assignment or a warning (the
    /// department's supervisors when nobody is assigned), supervisors and the assignee for a
    /// breach.
    async fn staff_recipients(&self, c: &Complaint, notice: &str) -> Result<Vec<Agent>> {
        let agents = self.store.agents().await?;
        let supervisors = || -> Vec<Agent> {
            agents
                .iter()
                .filter(|a| a.active && a.role == Role::Supervisor && c.department.as_ref().is_some_and(|d| a.departments.contains(d)))
                .cloned()
                .collect()
        };
        let assignee = || agents.iter().filter(|a| a.active && Some(a.id) == c.assignee).cloned().collect::<Vec<_>>();
        Ok(match notice {
            "assigned" => assignee(),
            "sla_warning" if c.assignee.is_some() => assignee(),
            "sla_warning" => supervisors(),
            _ => {
                let mut all = supervisors();
                for a in assignee() {
                    if !all.iter().any(|s| s.id == a.id) {
                        all.push(a);
                    }
                }
                all
            }
        })
    }

    /// Sends a staff notice to every recipient's workspace, on whichever node their console is,
    /// and answers the complaint and the recipients (for the e-mail channel to write to them).
    pub async fn notify_staff(&self, complaint_id: Uuid, notice: &str, clock: Option<sla::ClockKind>) -> Result<Option<(Complaint, Vec<Agent>)>> {
        let c = match self.store.complaint(complaint_id).await {
            Ok(c) => c,
            Err(ombuds_store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let recipients = self.staff_recipients(&c, notice).await?;
        for a in &recipients {
            let frame = serde_json::json!({
                "type": "notice",
                "notice": notice,
                "clock": clock.map(|k| k.as_str()),
                "reference": c.reference.to_string(),
                "subject": c.subject.as_str(),
                "department": c.department.as_ref().map(|d| d.as_str()),
                "due": c.sla.as_ref().and_then(|s| clock.and_then(|k| s.clock(k)).map(|cl| cl.due)),
            });
            self.live().send(&LiveSignal::ToAgent { agent_id: a.id, frame }).await;
        }
        metrics::counter!("ombuds_staff_notices_total", "notice" => notice.to_string()).increment(recipients.len() as u64);
        Ok(Some((c, recipients)))
    }
}

fn handler<F, Fut>(f: F) -> JobHandler
where
    F: Fn(Desk, JobRecord) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::result::Result<(), JobFailure>> + Send + 'static,
{
    Arc::new(move |desk, job| Box::pin(f(desk, job)))
}

/// The runner with the SLA jobs' handlers: `sla_timer` and `notify_staff`. Every node runs them.
pub fn with_handlers(runner: JobRunner) -> JobRunner {
    runner
        .handle(
            "sla_timer",
            handler(|desk: Desk, job: JobRecord| async move {
                let Some(id) = job.complaint_id else { return Ok(()) };
                desk.check_sla(id).await.map_err(|e| JobFailure::transient(e.to_string()))
            }),
        )
        .handle(
            "notify_staff",
            handler(|desk: Desk, job: JobRecord| async move {
                let Some(id) = job.complaint_id else { return Ok(()) };
                let notice = job.payload.get("notice").and_then(|v| v.as_str()).unwrap_or("notice").to_string();
                let clock = job.payload.get("clock").and_then(|v| v.as_str()).and_then(|v| sla::ClockKind::parse(v).ok());
                desk.notify_staff(id, &notice, clock).await.map(|_| ()).map_err(|e| JobFailure::transient(e.to_string()))
            }),
        )
}
