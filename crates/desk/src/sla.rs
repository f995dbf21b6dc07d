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

/// The SLA settings a node decides with, and where they came from.
#[derive(Debug, Clone)]
pub struct InForce {
    pub sla: Arc<Sla>,
    /// 0: the configuration's `[sla]` (or the defaults); otherwise the saved version.
    pub version: i64,
    pub saved_by: Option<String>,
    pub saved_at: Option<jiff::Timestamp>,
}

impl Default for InForce {
    fn default() -> Self {
        InForce { sla: Arc::new(Sla::default()), version: 0, saved_by: None, saved_at: None }
    }
}

/// The SLA settings as the API shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlaView {
    pub version: i64,
    pub saved_by: Option<String>,
    pub saved_at: Option<jiff::Timestamp>,
    pub spec: SlaSpec,
}

fn invalid_sla(errors: Vec<(String, String)>) -> DeskError {
    DeskError::Domain(DomainError::Invalid(errors.into_iter().map(|(f, m)| FieldError::new(f, "invalid_sla", m)).collect()))
}

/// Puts the newest saved SLA settings in force (another node saved them). A version that no
/// longer compiles (a department was removed since) is logged and the settings in force stay.
pub(crate) async fn reload(store: &ombuds_store::Store, shared: &std::sync::RwLock<InForce>) {
    let loaded = async {
        let Some(saved) = store.current_sla().await? else { return Ok::<_, DeskError>(None) };
        let spec: SlaSpec = serde_json::from_str(&saved.spec).map_err(|e| DeskError::Conflict(format!("saved SLA settings are unreadable: {e}")))?;
        let departments: Vec<DepartmentCode> = store.departments().await?.into_iter().map(|d| d.code).collect();
        let sla = Sla::compile(&spec, &departments).map_err(invalid_sla)?;
        Ok(Some(InForce { sla: Arc::new(sla), version: saved.version, saved_by: Some(saved.saved_by), saved_at: Some(saved.saved_at) }))
    }
    .await;
    match loaded {
        Ok(Some(in_force)) => *shared.write().expect("lock") = in_force,
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "the saved SLA settings cannot be put in force; the previous ones stay"),
    }
}

impl Desk {
    /// The calendars and policies in force.
    pub fn sla(&self) -> Arc<Sla> {
        self.sla.read().expect("lock").sla.clone()
    }

    /// Checks SLA settings against the departments and puts them in force for every decision
    /// after this one, as the configuration's (version 0): settings saved through the API, if
    /// any, are put back in force by [`Desk::load_saved_sla`]. Every mistake is named
    /// (`calendars.payments.hours`, `policy[2].department`).
    pub async fn set_sla(&self, spec: &SlaSpec) -> Result<()> {
        let departments: Vec<DepartmentCode> = self.departments().await?.iter().map(|d| d.code.clone()).collect();
        let sla = Sla::compile(spec, &departments).map_err(invalid_sla)?;
        *self.sla.write().expect("lock") = InForce { sla: Arc::new(sla), version: 0, saved_by: None, saved_at: None };
        Ok(())
    }

    /// Puts the settings saved through the API in force, when there are any (they win over the
    /// configuration's `[sla]`). Answers whether there were.
    pub async fn load_saved_sla(&self) -> Result<bool> {
        reload(&self.store, &self.sla).await;
        Ok(self.sla.read().expect("lock").version > 0)
    }

    /// The settings in force (supervisors and administrators).
    pub fn sla_view(&self, who: &Principal) -> Result<SlaView> {
        who.require_supervisor()?;
        let f = self.sla.read().expect("lock").clone();
        Ok(SlaView { version: f.version, saved_by: f.saved_by, saved_at: f.saved_at, spec: f.sla.spec().clone() })
    }

    /// Checks SLA settings exactly as saving would, without saving them (administrators).
    pub async fn check_sla_settings(&self, who: &Principal, spec: &SlaSpec) -> Result<()> {
        who.require_admin()?;
        let departments: Vec<DepartmentCode> = self.departments().await?.iter().map(|d| d.code.clone()).collect();
        Sla::compile(spec, &departments).map_err(invalid_sla)?;
        Ok(())
    }

    /// Checks and saves new SLA settings (administrators) and puts them in force on every node.
    /// `expected_version` refuses a save that raced another (`Conflict`).
    pub async fn save_sla(&self, who: &Principal, spec: SlaSpec, expected_version: Option<i64>) -> Result<SlaView> {
        who.require_admin()?;
        let departments: Vec<DepartmentCode> = self.departments().await?.iter().map(|d| d.code.clone()).collect();
        let sla = Sla::compile(&spec, &departments).map_err(invalid_sla)?;
        let by = crate::routing::saved_by(who);
        let saved = self.store.save_sla(&serde_json::to_string(&spec).expect("serialises"), &by, expected_version).await?;
        *self.sla.write().expect("lock") =
            InForce { sla: Arc::new(sla), version: saved.version, saved_by: Some(saved.saved_by.clone()), saved_at: Some(saved.saved_at) };
        self.live().send(&LiveSignal::SlaChanged).await;
        Ok(SlaView { version: saved.version, saved_by: Some(saved.saved_by), saved_at: Some(saved.saved_at), spec })
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
