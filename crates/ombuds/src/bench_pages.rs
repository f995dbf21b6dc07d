//! `ombuds bench pages`: how fast the workspace renders its busiest pages with a large store.
//!
//! Fills the store given by `--database` up to `count` complaints through the desk's one write
//! path (registrations spread over the departments, players and three languages; 97 % of them
//! resolved, as in a desk that has run for years; of the open ones, some assigned to the
//! benchmark's agent, some waiting on the player, some escalated). A store that already holds
//! them is reused, so the slow part runs once. Then it serves the workspace on loopback and
//! times whole requests (session check, queries, rendering, HTTP) as an agent of two departments
//! and as a supervisor: every queue view, a search, and complaint pages, `samples` times each.

use ombuds_core::*;
use ombuds_desk::{CommandInput, Desk, NewAgent, PageRequest};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub struct PageTiming {
    pub page: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

pub struct PagesReport {
    pub complaints: usize,
    pub seeded: usize,
    pub seed_seconds: f64,
    pub timings: Vec<PageTiming>,
}

const DEPARTMENTS: [&str; 7] = ["payments", "verification", "bet_settlement", "bonuses", "technical", "responsible_gaming", "security"];
const TEXTS: [(&str, &str, Language); 9] = [
    ("Не пришёл вывод", "Вывод {n} тенге на карту не пришёл уже третий день, номер операции W-{n}.", Language::Ru),
    ("Ставка рассчитана неверно", "Экспресс из пяти событий, все сыграли, но ставка {n} проиграна.", Language::Ru),
    ("Не начислен бонус", "Пополнил счёт на {n} тенге, приветственный бонус не пришёл.", Language::Ru),
    ("Ақша шығару", "Картаға {n} теңге шығардым, әлі түскен жоқ.", Language::Kk),
    ("Верификация", "Құжаттарымды {n} күн бұрын жібердім, аккаунт әлі тексерілмеген.", Language::Kk),
    ("Withdrawal pending", "My withdrawal of {n} KZT has been pending for a week.", Language::En),
    ("Account locked", "My account was locked after I changed my phone number, ticket {n}.", Language::En),
    ("Приложение вылетает", "После обновления приложение вылетает при открытии лайва, версия {n}.", Language::Ru),
    ("Самоисключение", "Прошу заблокировать аккаунт на полгода, договор {n}.", Language::Ru),
];

fn registration(i: usize) -> Registration {
    let (subject, body, language) = TEXTS[i % TEXTS.len()];
    Registration {
        kind: Kind::Complaint,
        channel: [Channel::Email, Channel::Web, Channel::Chat, Channel::Phone][i % 4],
        player: PlayerContact {
            external_id: Some(ExternalPlayerId::parse(&format!("P-{}", i / 3)).expect("valid")),
            name: None,
            email: Some(EmailAddress::parse(&format!("player{}@example.com", i / 3)).expect("valid")),
            phone: None,
            language: Some(language),
        },
        subject: Subject::parse(subject).expect("valid"),
        description: Body::parse(&body.replace("{n}", &(10_000 + i * 7 % 990_000).to_string())).expect("valid"),
        language: Some(language),
        department: Some(DepartmentCode::parse(DEPARTMENTS[i % DEPARTMENTS.len()]).expect("valid")),
        category: None,
        priority: None,
        tags: Default::default(),
        segments: Default::default(),
    }
}

fn body(s: &str) -> Body {
    Body::parse(s).expect("valid")
}

/// What happens to the `i`-th complaint after its registration.
fn follow_up(i: usize, agent: uuid::Uuid) -> Vec<CommandInput> {
    match i % 100 {
        // 97 % are history.
        0..=96 => vec![CommandInput::Resolve { measures: body("Проверено, платёж отправлен повторно"), result: body("Деньги зачислены") }],
        97 if DEPARTMENTS[i % DEPARTMENTS.len()] == "payments" => {
            vec![CommandInput::Assign { agent }, CommandInput::RequestInformation { text: body("Пришлите, пожалуйста, номер карты (последние 4 цифры).") }]
        }
        98 if i.is_multiple_of(3) => vec![CommandInput::Escalate { level: EscalationLevel::Supervisor, reason: body("Игрок грозит жалобой регулятору") }],
        _ => vec![],
    }
}

async fn seed(desk: &Desk, from: usize, to: usize, agent: uuid::Uuid) -> anyhow::Result<()> {
    let admin = Principal::Token { id: uuid::Uuid::nil(), name: "bench".into(), scopes: [Scope::Admin].into() };
    let tasks = 64;
    let mut set = tokio::task::JoinSet::new();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    for t in 0..tasks {
        let (desk, admin, done) = (desk.clone(), admin.clone(), done.clone());
        set.spawn(async move {
            let mut i = from + t;
            while i < to {
                let c = desk.register(&admin, registration(i), None).await?.complaint;
                for cmd in follow_up(i, agent) {
                    desk.apply(&admin, &c.reference, cmd).await?;
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 50_000 == 0 {
                    eprintln!("seeded {n} of {} complaints ({:.0}/s)", to - from, n as f64 / started.elapsed().as_secs_f64());
                }
                i += tasks;
            }
            Ok::<_, ombuds_desk::DeskError>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn time_page(http: &reqwest::Client, base: &str, session: &str, paths: &[String], samples: usize) -> anyhow::Result<(f64, f64, f64)> {
    let mut ms = Vec::with_capacity(samples);
    // One unmeasured round warms caches, as a working desk has them warm.
    for (n, path) in paths.iter().cycle().take(samples + paths.len().min(5)).enumerate() {
        let started = Instant::now();
        let res = http.get(format!("{base}{path}")).header("cookie", format!("ombuds_session={session}")).send().await?;
        let status = res.status();
        let body = res.bytes().await?;
        if !status.is_success() || body.len() < 20 {
            anyhow::bail!("{path} answered {status}");
        }
        if n >= paths.len().min(5) {
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok((percentile(&ms, 0.5), percentile(&ms, 0.95), percentile(&ms, 0.99)))
}

pub async fn run(desk: &Desk, count: usize, samples: usize) -> anyhow::Result<PagesReport> {
    desk.seed_departments().await?;
    let payments: BTreeSet<DepartmentCode> = ["payments", "verification"].iter().map(|d| DepartmentCode::parse(d).expect("valid")).collect();
    let password = "bench password for pages".to_string();
    let mut agent_id = None;
    for (login, role, departments) in [("bench-agent", Role::Agent, payments.clone()), ("bench-supervisor", Role::Supervisor, DEPARTMENTS.iter().map(|d| DepartmentCode::parse(d).expect("valid")).collect())] {
        let existing = desk.agents().await?.into_iter().find(|a| a.login == login);
        let id = match existing {
            Some(a) => a.id,
            None => {
                let new = NewAgent {
                    login: login.into(),
                    name: PersonName::parse(login).expect("valid"),
                    email: None,
                    role,
                    departments,
                    languages: [Language::Ru, Language::Kk, Language::En].into(),
                    password: Some(password.clone()),
                    skills: BTreeSet::new(),
                    capacity: Some(10_000),
                };
                desk.add_agent(None, new).await?.0.id
            }
        };
        agent_id.get_or_insert(id);
    }
    let agent = agent_id.expect("made above");

    let have = desk.store().complaint_count().await? as usize;
    let started = Instant::now();
    if have < count {
        seed(desk, have, count, agent).await?;
        // As a desk that grew over years has them (autovacuum, or SQLite's sampled ANALYZE).
        desk.store().analyze().await?;
    }
    let seed_seconds = started.elapsed().as_secs_f64();

    // A knowledge base of a realistic size: complaint pages suggest from it.
    let admin = Principal::Token { id: uuid::Uuid::nil(), name: "bench".into(), scopes: [Scope::Admin].into() };
    if desk.faq_all(&admin).await?.is_empty() {
        for i in 0..60 {
            let (subject, text, language) = TEXTS[i % TEXTS.len()];
            let draft = ombuds_desk::faq::FaqDraft {
                id: None,
                language,
                category: Category::parse(DEPARTMENTS[i % DEPARTMENTS.len()]).expect("valid"),
                title: Subject::parse(&format!("{subject} ({i})")).expect("valid"),
                body: body(&format!("{} Что делать: проверьте раздел помощи, статья {i}.", text.replace("{n}", "12345"))),
                published: true,
            };
            desk.save_faq(&admin, draft).await?;
        }
    }

    let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build()?;

    // Complaint pages: open ones and old ones the agent may see.
    let all = Principal::Token { id: uuid::Uuid::nil(), name: "bench".into(), scopes: [Scope::Admin].into() };
    let mut refs = vec![];
    for view in [ombuds_desk::ComplaintFilter { department: Some(DepartmentCode::parse("payments").expect("valid")), ..Default::default() }] {
        let page = desk.list(&all, &view, PageRequest { after: None, limit: 200 }).await?;
        refs.extend(page.items.iter().map(|c| format!("/ui/complaints/{}", c.reference)));
    }
    if refs.is_empty() {
        anyhow::bail!("the store holds no complaints of payments");
    }
    let views = ["mine", "departments", "unassigned", "waiting", "at_risk", "breached", "escalated", "triage"];
    let mut timings = vec![];
    for (login, label) in [("bench-agent", "agent of 2 departments"), ("bench-supervisor", "supervisor")] {
        let session = desk.login(login, &password).await?.token;
        for view in views {
            let (p50, p95, p99) = time_page(&http, &base, &session, &[format!("/ui/queue?view={view}")], samples).await?;
            timings.push(PageTiming { page: format!("queue {view} ({label})"), p50_ms: p50, p95_ms: p95, p99_ms: p99 });
        }
        // A common word among open complaints, a common word in the whole history, a rare one
        // (an operation number) and a reference.
        // Filters: a common channel over all complaints, a department, and a priority no open
        // complaint has (the worst case: every open complaint the agent may see is read).
        for (what, query) in [
            ("all, channel phone", "view=all&channel=phone"),
            ("departments, department verification", "view=departments&department=verification"),
            ("departments, priority urgent (none)", "view=departments&priority=urgent"),
        ] {
            let (p50, p95, p99) = time_page(&http, &base, &session, &[format!("/ui/queue?{query}")], samples).await?;
            timings.push(PageTiming { page: format!("queue {what} ({label})"), p50_ms: p50, p95_ms: p95, p99_ms: p99 });
        }
        for (what, query) in [("'вывод', unassigned", "view=unassigned&q=вывод"), ("'шығардым', all", "view=all&q=шығардым"), ("'W-10007', all", "view=all&q=W-10007")] {
            let (p50, p95, p99) = time_page(&http, &base, &session, &[format!("/ui/queue?{query}")], samples).await?;
            timings.push(PageTiming { page: format!("search {what} ({label})"), p50_ms: p50, p95_ms: p95, p99_ms: p99 });
        }
        let (p50, p95, p99) = time_page(&http, &base, &session, &refs, samples).await?;
        timings.push(PageTiming { page: format!("complaint page ({label})"), p50_ms: p50, p95_ms: p95, p99_ms: p99 });
        // The live counts every open queue page asks for every 15 s (eight counts).
        let (p50, p95, p99) = time_page(&http, &base, &session, &["/ui/queue/counts".to_string()], samples).await?;
        timings.push(PageTiming { page: format!("queue counts, 8 views ({label})"), p50_ms: p50, p95_ms: p95, p99_ms: p99 });
    }
    Ok(PagesReport { complaints: count.max(have), seeded: count.saturating_sub(have), seed_seconds, timings })
}
