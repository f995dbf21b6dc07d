//! Desk use cases on both stores: player matching, the job runner, contention.

use ombuds_core::*;
use ombuds_desk::*;
use ombuds_store::testing::TestDb;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn desk(db: &TestDb) -> Desk {
    let d = Desk::with_store(db.open().await, DeskConfig::default()).await;
    d.seed_departments().await.unwrap();
    d
}

fn system() -> Principal {
    Principal::Token { id: uuid::Uuid::nil(), name: "test".into(), scopes: [Scope::ComplaintsWrite, Scope::ComplaintsRead].into() }
}

fn reg(ext: Option<&str>, email: Option<&str>, name: &str) -> Registration {
    Registration {
        kind: Kind::Complaint,
        channel: Channel::Web,
        player: PlayerContact {
            external_id: ext.map(|e| ExternalPlayerId::parse(e).unwrap()),
            name: Some(PersonName::parse(name).unwrap()),
            email: email.map(|e| EmailAddress::parse(e).unwrap()),
            phone: None,
            language: None,
        },
        subject: Subject::parse("Ставка не рассчитана").unwrap(),
        description: Body::parse("Матч Кайрат — Астана закончился, ставка висит").unwrap(),
        language: Some(Language::Ru),
        department: None,
        category: None,
        priority: None,
        tags: BTreeSet::new(),
        segments: Default::default(),
    }
}

ombuds_store::both_backends! {
    players_are_matched_and_completed => players_are_matched_and_completed,
    job_runner_delivers_retries_and_gives_up => job_runner,
    concurrent_commands_on_one_complaint_all_land => concurrent_commands,
}

async fn players_are_matched_and_completed(db: &TestDb) {
    let d = desk(db).await;
    let a = d.register(&system(), reg(None, Some("ivan@mail.ru"), "Иван"), None).await.unwrap().complaint;
    // Same e-mail, now with the operator's id and a fuller name: the same player, completed.
    let b = d.register(&system(), reg(Some("P-77"), Some("ivan@mail.ru"), "Иван Петров"), None).await.unwrap().complaint;
    assert_eq!(a.player_id, b.player_id);
    let p = d.store().player(a.player_id).await.unwrap();
    assert_eq!((p.external_id.unwrap().as_str(), p.name.unwrap().as_str()), ("P-77", "Иван Петров"));
    // Concurrent first complaints of one new player: one player.
    let mut tasks = vec![];
    for _ in 0..10 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { d.register(&system(), reg(Some("P-99"), None, "Aruzhan"), None).await.unwrap().complaint.player_id }));
    }
    let ids: BTreeSet<_> = futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(ids.len(), 1);
}

async fn job_runner(db: &TestDb) {
    let d = desk(db).await;
    let c = d.register(&system(), reg(Some("P-1"), Some("a@b.kz"), "A"), None).await.unwrap().complaint;
    let c2 = d.register(&system(), reg(Some("P-2"), Some("c@d.kz"), "B"), None).await.unwrap().complaint;
    let pending = d.jobs_of(&system(), &c.reference).await.unwrap();
    assert_eq!((pending[0].kind.as_str(), pending[0].status.as_str()), ("acknowledge", "pending"));
    assert!(d.store().due_jobs().await.unwrap().contains(&("acknowledge".to_string(), 2)), "due, waiting for a channel");
    // A runner without handlers leaves them alone.
    assert_eq!(JobRunner::new(d.clone(), "idle").run_once().await.unwrap(), 0);
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let bad = c2.id;
    let runner = JobRunner::new(d.clone(), "t").handle(
        "acknowledge",
        Arc::new(move |_desk, job: JobRecord| {
            let s = s.clone();
            Box::pin(async move {
                s.fetch_add(1, Ordering::SeqCst);
                if job.complaint_id == Some(bad) { Err(JobFailure::transient("smtp relay timed out")) } else { Ok(()) }
            })
        }),
    );
    assert_eq!(runner.run_once().await.unwrap(), 2);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    let done = d.jobs_of(&system(), &c.reference).await.unwrap();
    assert_eq!(done[0].status, "done");
    let retry = d.jobs_of(&system(), &c2.reference).await.unwrap();
    assert_eq!((retry[0].status.as_str(), retry[0].last_error.as_deref()), ("pending", Some("smtp relay timed out")));
    assert!(retry[0].run_at > now(), "backed off");
    assert_eq!(runner.run_once().await.unwrap(), 0, "not due yet");
    // A permanent failure is recorded and visible, never dropped.
    let c3 = d.register(&system(), reg(Some("P-3"), Some("e@f.kz"), "C"), None).await.unwrap().complaint;
    let runner = JobRunner::new(d.clone(), "t2").handle("acknowledge", Arc::new(|_, _| Box::pin(async { Err(JobFailure::permanent("mailbox does not exist")) })));
    assert_eq!(runner.run_once().await.unwrap(), 1);
    let failed = d.jobs_of(&system(), &c3.reference).await.unwrap();
    assert_eq!((failed[0].status.as_str(), failed[0].last_error.as_deref()), ("failed", Some("mailbox does not exist")));
}

async fn concurrent_commands(db: &TestDb) {
    let d = desk(db).await;
    let c = d.register(&system(), reg(Some("P-1"), None, "A"), None).await.unwrap().complaint;
    let mut tasks = vec![];
    for i in 0..20 {
        let (d, r) = (d.clone(), c.reference);
        tasks.push(tokio::spawn(async move {
            let tag = Tag::parse(&format!("t{i}")).unwrap();
            d.apply(&system(), &r, CommandInput::Tag { add: [tag].into(), remove: BTreeSet::new() }).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = d.complaint(&system(), &c.reference).await.unwrap().complaint;
    assert_eq!(after.tags.len(), 20, "optimistic retries lose no change");
    assert_eq!(after.version, 21);
    assert!(d.verify_chain().await.unwrap().broken.is_none());
}
