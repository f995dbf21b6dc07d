//! The store test suite: every test runs on SQLite and on PostgreSQL.

use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::testing::TestDb;
use ombuds_store::*;
use std::collections::BTreeSet;
use uuid::Uuid;

fn departments() -> Vec<Department> {
    ["payments", "verification", "security"]
        .iter()
        .map(|c| Department {
            code: DepartmentCode::parse(c).unwrap(),
            name_en: c.to_string(),
            name_ru: c.to_string(),
            name_kk: c.to_string(),
            active: true,
        })
        .collect()
}

async fn seeded(db: &TestDb) -> Store {
    let store = db.open().await;
    for d in departments() {
        store.upsert_department(&d).await.unwrap();
    }
    store
}

fn contact(ext: &str, email: Option<&str>) -> PlayerContact {
    PlayerContact {
        external_id: Some(ExternalPlayerId::parse(ext).unwrap()),
        name: Some(PersonName::parse("Иван Петров").unwrap()),
        email: email.map(|e| EmailAddress::parse(e).unwrap()),
        phone: None,
        language: Some(Language::Ru),
    }
}

/// A registration as the desk would build it: the core builds the complaint for the player the
/// writer resolves.
fn new_complaint(contact: PlayerContact, subject: &str, department: Option<&str>, bits: u64) -> NewComplaint {
    let reg = Registration {
        kind: Kind::Complaint,
        channel: Channel::Web,
        player: contact.clone(),
        subject: Subject::parse(subject).unwrap(),
        description: Body::parse("Вывод средств задерживается уже третий день").unwrap(),
        language: None,
        department: department.map(|d| DepartmentCode::parse(d).unwrap()),
        category: None,
        priority: None,
        tags: BTreeSet::new(),
        segments: Default::default(),
    };
    let id = Uuid::now_v7();
    let at = now();
    let build: Build = Box::new(move |player_id| {
        let deps = departments();
        let mut new_id = Uuid::now_v7;
        let mut ctx = Ctx { now: at, actor: Actor::System, departments: &deps, sla: ombuds_core::sla::Sla::shared_default(), new_id: &mut new_id };
        command::register(&reg, id, ComplaintRef::from_bits(bits), player_id, &mut ctx)
    });
    NewComplaint { contact, contact_proven: true, language: Language::Ru, build, idempotency: None, mail: None, uploads: vec![] }
}

async fn register(store: &Store, ext: &str, subject: &str, department: Option<&str>) -> Complaint {
    let op = new_complaint(contact(ext, None), subject, department, rand::random::<u64>());
    match store.write(WriteOp::Register(Box::new(op))).await.unwrap() {
        Outcome::Registered(c) => *c,
        other => panic!("not registered: {other:?}"),
    }
}

/// A change request as the desk would build it: the core decides against the current state.
fn change(id: Uuid, cmd: Command) -> WriteOp {
    let decide: Decide = Box::new(move |c: &Complaint| {
        let deps = departments();
        let mut new_id = Uuid::now_v7;
        let mut ctx = Ctx { now: now(), actor: Actor::System, departments: &deps, sla: ombuds_core::sla::Sla::shared_default(), new_id: &mut new_id };
        command::change(c, &cmd, &mut ctx)
    });
    WriteOp::Change(ChangeRequest::new(id, decide))
}

ombuds_store::both_backends! {
    budgets_count_per_key_and_window => budgets,
    an_unproven_contact_never_renames_a_player => unproven_contact,
    register_and_read_back => register_and_read_back,
    concurrent_writes_batch_and_chain => concurrent_writes_batch_and_chain,
    changes_decide_against_the_current_state => changes_decide_against_the_current_state,
    idempotency_keys => idempotency_keys,
    taken_references_retry_and_players_are_resolved_in_the_batch => retries,
    tampering_is_found => tampering_is_found,
    jobs_lease_and_retry => jobs_lease_and_retry,
    list_filters_visibility_and_pages => list_filters_visibility_and_pages,
    search_follows_status_and_pages => search_follows_status_and_pages,
    directory => directory,
    export_everything => export_everything,
    migrations_are_idempotent => migrations_are_idempotent,
}

async fn register_and_read_back(db: &TestDb) {
    let store = seeded(db).await;
    let c = register(&store, "P-1", "Не пришла выплата", Some("payments")).await;
    let back = store.complaint_by_ref(&c.reference).await.unwrap();
    assert_eq!(back, c);
    assert_eq!(store.complaint(c.id).await.unwrap(), c);
    let events = store.events(c.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event.data.name()).collect::<Vec<_>>(), ["registered", "routed", "sla_set"]);
    let jobs = store.jobs_for_complaint(c.id).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), ["acknowledge", "sla_timer"]);
    assert_eq!(jobs[0].status, "pending");
    assert!(jobs[0].run_at <= now(), "the acknowledgment is due at once");
    // The SLA timer is due at the complaint's first warning, stored with the row.
    let warn = c.sla.as_ref().unwrap().first_response.unwrap().warn.unwrap();
    assert_eq!((jobs[1].run_at, c.next_sla_instant()), (warn, Some(warn)));
    assert!(back.sla.is_some());
    assert!(matches!(store.complaint_by_ref(&ComplaintRef::from_bits(7)).await, Err(StoreError::NotFound)));
    let player = store.player(c.player_id).await.unwrap();
    assert_eq!(player.external_id.unwrap().as_str(), "P-1");
    assert_eq!(store.find_player(&contact("P-1", None)).await.unwrap().unwrap().id, c.player_id);
    store.close().await;
}

async fn concurrent_writes_batch_and_chain(db: &TestDb) {
    let store = seeded(db).await;
    let mut tasks = vec![];
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { register(&store, &format!("P-{i}"), &format!("Жалоба {i}"), None).await }));
    }
    let mut all = vec![];
    for t in tasks {
        all.push(t.await.unwrap());
    }
    // And changes on top, concurrently.
    let mut tasks = vec![];
    for c in all.iter().take(50).cloned() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let op = change(c.id, Command::Route { department: DepartmentCode::parse("payments").unwrap(), category: None });
            store.write(op).await.unwrap()
        }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Outcome::Changed(c) if c.status == Status::Routed));
    }
    let report = store.verify_chain().await.unwrap();
    assert_eq!(report.broken, None);
    // 200 registrations of three events (registered, routed, sla_set), 50 routings.
    assert_eq!(report.checked, 200 * 2 + 50);
    store.close().await;
}

async fn changes_decide_against_the_current_state(db: &TestDb) {
    let store = seeded(db).await;
    let c = register(&store, "P-1", "s", Some("payments")).await;
    // Two commands in flight together: both land, in order, each decided on the other's result.
    let (ra, rb) = tokio::join!(
        store.write(change(c.id, Command::ChangePriority { priority: Priority::High })),
        store.write(change(c.id, Command::ChangePriority { priority: Priority::Low }))
    );
    assert!(matches!(ra.unwrap(), Outcome::Changed(_)));
    assert!(matches!(rb.unwrap(), Outcome::Changed(_)));
    let now_c = store.complaint(c.id).await.unwrap();
    assert_eq!(now_c.version, 3);
    // registered, routed, sla_set, and two priority changes (same targets: the clocks stay).
    assert_eq!(store.events(c.id).await.unwrap().len(), 5);
    // Refused against the current state, and no-ops, write nothing.
    assert!(matches!(store.write(change(c.id, Command::Close)).await.unwrap(), Outcome::Refused(DomainError::IllegalTransition { .. })));
    assert!(matches!(store.write(change(c.id, Command::ChangePriority { priority: now_c.priority })).await.unwrap(), Outcome::Unchanged(_)));
    assert_eq!(store.write(change(Uuid::now_v7(), Command::Close)).await.unwrap(), Outcome::Missing);
    assert_eq!(store.complaint(c.id).await.unwrap().version, 3);
    assert_eq!(store.verify_chain().await.unwrap().checked, 5);
    store.close().await;
}

async fn idempotency_keys(db: &TestDb) {
    let store = seeded(db).await;
    let key = |hash: u8| IdempotencyKey { principal: "token:1".into(), key: "k-1".into(), request_hash: vec![hash; 32] };
    let mk = |hash| {
        let mut op = new_complaint(contact(&format!("P-{}", Uuid::now_v7()), None), "s", None, rand::random::<u64>());
        op.idempotency = Some(key(hash));
        op
    };
    // Concurrent duplicates in one batch and a retry later: one complaint.
    let (a, b) = tokio::join!(store.write(WriteOp::Register(Box::new(mk(1)))), store.write(WriteOp::Register(Box::new(mk(1)))));
    let Outcome::Registered(first) = a.unwrap() else { panic!("first registers") };
    let id = first.id;
    assert_eq!(b.unwrap(), Outcome::Replayed { complaint_id: id });
    assert_eq!(store.write(WriteOp::Register(Box::new(mk(1)))).await.unwrap(), Outcome::Replayed { complaint_id: id });
    assert_eq!(store.write(WriteOp::Register(Box::new(mk(2)))).await.unwrap(), Outcome::KeyReused);
    let page = store.list_complaints(&ComplaintFilter::default(), &Visibility::All, PageRequest { after: None, limit: 10 }).await.unwrap();
    assert_eq!(page.items.len(), 1);
    store.close().await;
}

async fn retries(db: &TestDb) {
    let store = seeded(db).await;
    let c = register(&store, "P-1", "s", None).await;
    // A drawn reference that exists: sent back to draw again, nothing written.
    let op = new_complaint(contact("P-2", None), "s", None, 0);
    let mut op2 = new_complaint(contact("P-3", None), "s", None, 1);
    op2.build = {
        let reference = c.reference;
        let inner = op2.build;
        Box::new(move |pid| inner(pid).map(|mut b| { b.complaint.reference = reference; b }))
    };
    let (a, b) = tokio::join!(store.write(WriteOp::Register(Box::new(op))), store.write(WriteOp::Register(Box::new(op2))));
    assert!(matches!(a.unwrap(), Outcome::Registered(_)), "its neighbour in the batch is unaffected");
    assert_eq!(b.unwrap(), Outcome::Retry("reference taken"));
    // Two references drawn alike in one batch: the second draws again.
    let (a, b) = tokio::join!(
        store.write(WriteOp::Register(Box::new(new_complaint(contact("P-4", None), "s", None, 77)))),
        store.write(WriteOp::Register(Box::new(new_complaint(contact("P-5", None), "s", None, 77))))
    );
    let mut both = [format!("{:?}", a.unwrap()).starts_with("Registered"), format!("{:?}", b.unwrap()).starts_with("Registered")];
    both.sort();
    assert_eq!(both, [false, true]);
    // The same player by e-mail, concurrently and later: one player, completed with the new id.
    let mk = |ext: Option<&str>, bits| {
        let mut c = contact("unused", Some("ivan@mail.ru"));
        c.external_id = ext.map(|e| ExternalPlayerId::parse(e).unwrap());
        new_complaint(c, "s", None, bits)
    };
    let (a, b) = tokio::join!(store.write(WriteOp::Register(Box::new(mk(None, 5)))), store.write(WriteOp::Register(Box::new(mk(None, 6)))));
    let (Outcome::Registered(a), Outcome::Registered(b)) = (a.unwrap(), b.unwrap()) else { panic!() };
    assert_eq!(a.player_id, b.player_id);
    let Outcome::Registered(c3) = store.write(WriteOp::Register(Box::new(mk(Some("P-9"), 8)))).await.unwrap() else { panic!() };
    assert_eq!(c3.player_id, a.player_id);
    assert_eq!(store.player(a.player_id).await.unwrap().external_id.unwrap().as_str(), "P-9");
    // A registration the core refuses writes nothing.
    let bad = new_complaint(contact("P-6", None), "s", Some("casino_not_a_dept"), 9);
    assert!(matches!(store.write(WriteOp::Register(Box::new(bad))).await.unwrap(), Outcome::Refused(_)));
    assert!(store.find_player(&contact("P-6", None)).await.unwrap().is_none());
    assert_eq!(store.verify_chain().await.unwrap().broken, None);
    store.close().await;
}

async fn tamper(db: &TestDb, sql: &str) {
    use sqlx::{Connection, Executor};
    match &db.location {
        Location::Sqlite(path) => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            c.execute(sqlx::AssertSqlSafe(sql.to_string())).await.unwrap();
        }
        Location::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute(sqlx::AssertSqlSafe(sql.to_string())).await.unwrap();
        }
    }
}

async fn tampering_is_found(db: &TestDb) {
    let store = seeded(db).await;
    for i in 0..5 {
        register(&store, &format!("P-{i}"), "s", Some("payments")).await;
    }
    assert_eq!(store.verify_chain().await.unwrap(), ChainReport { checked: 15, broken: None });
    // The second complaint's routed event (three events per registration).
    tamper(db, "UPDATE events SET data = replace(data, 'payments', 'security') WHERE seq = 5").await;
    let r = store.verify_chain().await.unwrap();
    assert_eq!(r.broken, Some(ombuds_core::chain::Break::Tampered { seq: 5 }));
    assert_eq!(r.checked, 4);
    store.close().await;
}

async fn jobs_lease_and_retry(db: &TestDb) {
    let store = seeded(db).await;
    for i in 0..3 {
        register(&store, &format!("P-{i}"), "s", None).await;
    }
    let lease = std::time::Duration::from_secs(60);
    assert!(store.claim_jobs(&["other"], 10, lease, "r1").await.unwrap().is_empty());
    let (a, b) = tokio::join!(store.claim_jobs(&["acknowledge"], 2, lease, "r1"), store.claim_jobs(&["acknowledge"], 2, lease, "r2"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 3, "every job claimed once");
    let ids: BTreeSet<Uuid> = a.iter().chain(&b).map(|j| j.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(store.claim_jobs(&["acknowledge"], 10, lease, "r3").await.unwrap().is_empty(), "leased jobs are not handed out again");
    let j = &a[0];
    store.fail_job(j.id, "smtp down", Some(now())).await.unwrap();
    let again = store.claim_jobs(&["acknowledge"], 10, lease, "r1").await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (j.id, 2));
    store.complete_job(j.id).await.unwrap();
    store.fail_job(b[0].id, "mailbox does not exist", None).await.unwrap();
    let rec = store.jobs_for_complaint(b[0].complaint_id.unwrap()).await.unwrap();
    assert_eq!((rec[0].status.as_str(), rec[0].last_error.as_deref()), ("failed", Some("mailbox does not exist")));
    // An expired lease makes the job claimable again.
    let short = store.claim_jobs(&["acknowledge"], 10, std::time::Duration::from_millis(1), "r1").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reclaimed = store.claim_jobs(&["acknowledge"], 10, lease, "r2").await.unwrap();
    assert_eq!(short.iter().map(|j| j.id).collect::<Vec<_>>(), reclaimed.iter().map(|j| j.id).collect::<Vec<_>>());
    store.close().await;
}

async fn list_filters_visibility_and_pages(db: &TestDb) {
    let store = seeded(db).await;
    let a = register(&store, "P-1", "Вывод средств ЗАДЕРЖАН", Some("payments")).await;
    let b = register(&store, "P-2", "Account blocked 100%", Some("security")).await;
    let c = register(&store, "P-3", "Бонус не начислен", None).await;
    let all = |f: ComplaintFilter, v: Visibility| {
        let store = store.clone();
        async move {
            store.list_complaints(&f, &v, PageRequest { after: None, limit: 50 }).await.unwrap().items.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(all(ComplaintFilter::default(), Visibility::All).await, [c.id, b.id, a.id], "newest first");
    let f = |text: &str| ComplaintFilter { text: Some(text.into()), ..Default::default() };
    assert_eq!(all(f("задержан"), Visibility::All).await, [a.id], "case-insensitive in Cyrillic");
    assert_eq!(all(f("вывод задержан"), Visibility::All).await, [a.id]);
    assert_eq!(all(f("100%"), Visibility::All).await, [b.id], "LIKE wildcards are literal");
    assert!(all(f("1_0"), Visibility::All).await.is_empty());
    assert_eq!(all(f(&a.reference.to_string().to_lowercase()), Visibility::All).await, [a.id]);
    let dept = ComplaintFilter { department: DepartmentCode::parse("security").ok(), ..Default::default() };
    assert_eq!(all(dept, Visibility::All).await, [b.id]);
    let st = ComplaintFilter { statuses: vec![Status::New], ..Default::default() };
    assert_eq!(all(st, Visibility::All).await, [c.id]);
    let unassigned = ComplaintFilter { assignee: Some(AssigneeFilter::Nobody), channel: Some(Channel::Web), kind: Some(Kind::Complaint), ..Default::default() };
    assert_eq!(all(unassigned, Visibility::All).await.len(), 3);
    let range = ComplaintFilter { created_from: Some(b.created_at), created_to: Some(c.created_at), ..Default::default() };
    assert_eq!(all(range, Visibility::All).await, [b.id]);
    let payments_only = Visibility::Limited { departments: [DepartmentCode::parse("payments").unwrap()].into(), assignee: None, unrouted: false };
    assert_eq!(all(ComplaintFilter::default(), payments_only).await, [a.id]);
    let triage = Visibility::Limited { departments: BTreeSet::new(), assignee: Some(Uuid::nil()), unrouted: true };
    assert_eq!(all(ComplaintFilter::default(), triage).await, [c.id]);
    assert!(all(ComplaintFilter::default(), Visibility::Nothing).await.is_empty());
    // Pages of one: walk them all, each exactly once.
    let mut seen = vec![];
    let mut after = None;
    loop {
        let p = store.list_complaints(&ComplaintFilter::default(), &Visibility::All, PageRequest { after, limit: 1 }).await.unwrap();
        seen.extend(p.items.iter().map(|c| c.id));
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, [c.id, b.id, a.id]);
    store.close().await;
}

/// Search reads trigram indexes (one over every complaint, one over open ones on SQLite): they
/// must follow a complaint that is resolved and reopened, and pages must still cover each match
/// once.
async fn search_follows_status_and_pages(db: &TestDb) {
    let store = seeded(db).await;
    let mut withdrawals = vec![];
    for i in 0..7 {
        withdrawals.push(register(&store, &format!("P-{i}"), &format!("Платёж номер {i} потерян"), Some("payments")).await);
    }
    let other = register(&store, "P-9", "Бонус не начислен", Some("security")).await;
    let open = vec![Status::New, Status::Routed, Status::InProgress, Status::WaitingOnPlayer];
    let search = |text: &str, statuses: Vec<Status>, after: Option<Uuid>, limit: u32| {
        let (store, f) = (store.clone(), ComplaintFilter { text: Some(text.into()), statuses, ..Default::default() });
        async move { store.list_complaints(&f, &Visibility::All, PageRequest { after, limit }).await.unwrap() }
    };
    let ids = |p: Page<Complaint>| p.items.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let newest_first: Vec<Uuid> = withdrawals.iter().rev().map(|c| c.id).collect();
    assert_eq!(ids(search("ПЛАТЁЖ", open.clone(), None, 50).await), newest_first);
    assert!(ids(search("платёж не", vec![], None, 50).await).is_empty(), "a short word counts too");
    assert_eq!(ids(search("бонус не", vec![], None, 50).await), [other.id]);
    assert_eq!(ids(search("латёж потер", vec![], None, 50).await).len(), 7, "parts of words match");
    assert!(ids(search("платёж бонус", vec![], None, 50).await).is_empty(), "every word must match");
    assert_eq!(ids(search("начислен", open.clone(), None, 50).await), [other.id]);

    let resolve = Command::Resolve { measures: Body::parse("Платёж отправлен повторно").unwrap(), result: Body::parse("Деньги пришли").unwrap() };
    assert!(matches!(store.write(change(withdrawals[2].id, resolve)).await.unwrap(), Outcome::Changed(_)));
    let open_now = ids(search("платёж", open.clone(), None, 50).await);
    assert_eq!(open_now.len(), 6);
    assert!(!open_now.contains(&withdrawals[2].id), "a resolved complaint leaves the open queues' search");
    assert_eq!(ids(search("платёж", vec![Status::Resolved], None, 50).await), [withdrawals[2].id]);
    assert_eq!(ids(search("платёж", vec![], None, 50).await).len(), 7, "and stays in the history's");
    let reopen = Command::Reopen { reason: Body::parse("Деньги так и не пришли").unwrap() };
    assert!(matches!(store.write(change(withdrawals[2].id, reopen)).await.unwrap(), Outcome::Changed(_)));
    assert_eq!(ids(search("платёж", open.clone(), None, 50).await), newest_first, "reopened, it is back");

    // Pages of two, open and all: every match once, newest first.
    for statuses in [open.clone(), vec![]] {
        let (mut seen, mut after) = (vec![], None);
        loop {
            let p = search("платёж", statuses.clone(), after, 2).await;
            assert!(p.items.len() <= 2);
            seen.extend(p.items.iter().map(|c| c.id));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, newest_first);
    }
    store.close().await;
}

async fn directory(db: &TestDb) {
    let store = seeded(db).await;
    let agent = Agent {
        id: Uuid::now_v7(),
        login: "aigerim".into(),
        name: PersonName::parse("Айгерим").unwrap(),
        email: None,
        role: Role::Agent,
        departments: [DepartmentCode::parse("payments").unwrap()].into(),
        languages: [Language::Kk, Language::Ru].into(),
        active: true,
        skills: [ombuds_core::Tag::parse("crypto").unwrap()].into(),
        capacity: 7,
    };
    store.insert_agent(&agent, Some("$argon2id$fake")).await.unwrap();
    let mut twin = agent.clone();
    twin.id = Uuid::now_v7();
    assert!(matches!(store.insert_agent(&twin, None).await, Err(StoreError::Conflict(_))));
    let (back, hash) = store.agent_credentials("aigerim").await.unwrap().unwrap();
    assert_eq!((back, hash.as_deref()), (agent.clone(), Some("$argon2id$fake")));
    store.insert_session(b"session-hash", agent.id, now() + jiff::SignedDuration::from_hours(1)).await.unwrap();
    assert_eq!(store.session_agent(b"session-hash").await.unwrap().unwrap().id, agent.id);
    store.set_agent_active("aigerim", false).await.unwrap();
    assert!(store.session_agent(b"session-hash").await.unwrap().is_none(), "disabling ends sessions");
    assert!(matches!(store.set_agent_active("nobody", false).await, Err(StoreError::NotFound)));
    let tid = Uuid::now_v7();
    store.insert_token(tid, "backend", b"token-hash", &[Scope::ComplaintsWrite].into(), None).await.unwrap();
    assert_eq!(store.token_by_hash(b"token-hash").await.unwrap().unwrap().scopes, [Scope::ComplaintsWrite].into());
    store.revoke_token(tid).await.unwrap();
    assert!(store.token_by_hash(b"token-hash").await.unwrap().is_none());
    assert!(matches!(store.revoke_token(tid).await, Err(StoreError::NotFound)));
    store.close().await;
}

async fn export_everything(db: &TestDb) {
    let store = seeded(db).await;
    for i in 0..3 {
        register(&store, &format!("P-{i}"), "s", Some("payments")).await;
    }
    let mut out = Vec::new();
    let n = store.export_jsonl(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let types: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(n as usize, types.len());
    for (t, want) in [("department", 3), ("player", 3), ("complaint", 3), ("event", 9), ("job", 6)] {
        assert_eq!(types.iter().filter(|x| *x == t).count(), want, "{t}");
    }
    if let Some(dir) = &db.dir {
        let dest = dir.path().join("backup.db");
        store.backup(&dest).await.unwrap();
        assert!(store.backup(&dest).await.is_err(), "never overwrites");
        let copy = Store::open(&Location::Sqlite(dest), &DbOptions::default()).await.unwrap();
        assert_eq!(copy.verify_chain().await.unwrap().checked, 9);
        copy.close().await;
    } else {
        assert!(store.backup(std::path::Path::new("/tmp/x.db")).await.is_err());
    }
    store.close().await;
}

async fn migrations_are_idempotent(db: &TestDb) {
    let store = db.open().await;
    assert!(ombuds_store::migrate::run(store.db()).await.unwrap().is_empty());
    store.close().await;
}

async fn budgets(db: &TestDb) {
    let store = db.open().await;
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(store.uses("k:a", hour).await.unwrap(), 0);
    for n in 1..=5 {
        assert_eq!(store.count_use("k:a", hour).await.unwrap(), n);
    }
    assert_eq!(store.uses("k:a", hour).await.unwrap(), 5);
    assert_eq!(store.uses("k:b", hour).await.unwrap(), 0, "keys are counted apart");
    // Concurrent uses are all counted.
    let mut tasks = vec![];
    for _ in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.count_use("k:c", hour).await.unwrap() }));
    }
    let mut seen: Vec<i64> = vec![];
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    // Windows of another length are other rows; a sweep keeps the current ones.
    assert_eq!(store.count_use("k:a", std::time::Duration::from_secs(24 * 3600)).await.unwrap(), 1);
    store.sweep_counts().await.unwrap();
    assert_eq!(store.uses("k:a", hour).await.unwrap(), 5);
    store.close().await;
}

/// A registration whose contact details are unproven finds the player by address but leaves
/// its record alone; a proven one completes it.
async fn unproven_contact(db: &TestDb) {
    let store = db.open().await;
    let email = EmailAddress::parse("owner@mail.kz").unwrap();
    let contact = |name: &str, language: Language| PlayerContact {
        external_id: None,
        name: Some(PersonName::parse(name).unwrap()),
        email: Some(email.clone()),
        phone: None,
        language: Some(language),
    };
    let first = match store.write(WriteOp::Register(Box::new(new_complaint(contact("Айгерим", Language::Kk), "Бірінші", None, 1)))).await.unwrap() {
        Outcome::Registered(c) => c,
        o => panic!("{o:?}"),
    };
    let mut forged = new_complaint(contact("FRAUDSTER - DO NOT PAY", Language::En), "Close it", None, 2);
    forged.contact_proven = false;
    let second = match store.write(WriteOp::Register(Box::new(forged))).await.unwrap() {
        Outcome::Registered(c) => c,
        o => panic!("{o:?}"),
    };
    assert_eq!(second.player_id, first.player_id, "found by address");
    let p = store.player(first.player_id).await.unwrap();
    assert_eq!((p.name.as_ref().map(|n| n.as_str()), p.language), (Some("Айгерим"), Language::Kk), "not renamed");
    // The operator's own update still goes through.
    store.write(WriteOp::Register(Box::new(new_complaint(contact("Айгерим Нұрланова", Language::Ru), "Үшінші", None, 3)))).await.unwrap();
    let p = store.player(first.player_id).await.unwrap();
    assert_eq!((p.name.as_ref().map(|n| n.as_str()), p.language), (Some("Айгерим Нұрланова"), Language::Ru));
    store.close().await;
}
