//! `ombuds bench timers`: how fast the job runner fires due SLA timers. Registers `count`
//! complaints on the store given by `--database` (a fresh one: the benchmark's own), with SLA
//! warnings due a moment later, waits until all are due, then lets `runners` job runners (as
//! several nodes would) fire them and times it: each firing claims the job with its lease,
//! decides against the committed complaint in the core, and commits the alarm event, the new
//! timer and the staff notice through the group-commit writer.

use ombuds_desk::{Desk, JobRunner};
use std::time::{Duration, Instant};

pub struct TimerReport {
    pub timers: usize,
    pub seconds: f64,
    pub register_seconds: f64,
}

pub async fn run(desk: &Desk, count: usize, runners: usize, batch: u32, concurrency: usize) -> anyhow::Result<TimerReport> {
    desk.seed_departments().await?;
    // 0.01 % of a chat's one-hour first response: due 0.36 s after registration.
    desk.set_sla(&toml::from_str("warn_at = 0.0001\n")?).await.map_err(crate::user_error)?;
    let started = Instant::now();
    let admin = ombuds_core::Principal::Token { id: uuid::Uuid::nil(), name: "bench".into(), scopes: [ombuds_core::Scope::Admin].into() };
    let mut tasks = tokio::task::JoinSet::new();
    let per = count.div_ceil(64);
    for t in 0..64 {
        let (desk, admin) = (desk.clone(), admin.clone());
        let n = per.min(count.saturating_sub(t * per));
        tasks.spawn(async move {
            for i in 0..n {
                let reg = ombuds_core::Registration {
                    kind: ombuds_core::Kind::Complaint,
                    channel: ombuds_core::Channel::Chat,
                    player: ombuds_core::PlayerContact {
                        external_id: Some(ombuds_core::ExternalPlayerId::parse(&format!("B-{t}-{i}")).expect("valid")),
                        name: None,
                        email: None,
                        phone: None,
                        language: Some(ombuds_core::Language::Ru),
                    },
                    subject: ombuds_core::Subject::parse("Вывод").expect("valid"),
                    description: ombuds_core::Body::parse("Вывод не пришёл").expect("valid"),
                    language: None,
                    department: Some(ombuds_core::DepartmentCode::parse("payments").expect("valid")),
                    category: None,
                    priority: None,
                    tags: Default::default(),
                    segments: Default::default(),
                };
                desk.register(&admin, reg, None).await?;
            }
            Ok::<_, ombuds_desk::DeskError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let register_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = desk.store().job_count("sla_timer", "done").await?;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for r in 0..runners {
        // Only the timers: staff notices stay queued, they are not what is measured.
        let mut runner = ombuds_desk::sla::with_handlers(JobRunner::new(desk.clone(), format!("bench-{r}")));
        runner.batch = batch;
        runner.concurrency = concurrency;
        let runner = runner.only(&["sla_timer"]);
        set.spawn(async move {
            loop {
                let n = runner.run_once().await?;
                if n == 0 {
                    return Ok::<_, ombuds_desk::DeskError>(());
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let fired = (desk.store().job_count("sla_timer", "done").await? - before) as usize;
    Ok(TimerReport { timers: fired, seconds, register_seconds })
}
