//! Service levels end to end, on SQLite and on PostgreSQL: clocks set at registration in the
//! department's calendar, durable timers fired by the job runner, alarms recorded once even
//! with two runners racing, staff notices in the workspace, pause and resume, breach
//! escalation, the at-risk list, and bad settings refused.

use ombuds_core::sla::SlaSpec;
use ombuds_core::{Body, Command, ComplaintRef, Principal, Scope};
use ombuds_desk::live::LiveSignal;
use ombuds_desk::{Desk, DeskConfig, JobRunner};
use ombuds_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

mod common;
use common::TestApp;

async fn spawn(db: &TestDb, sla: &str) -> TestApp {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    app.desk.set_sla(&toml::from_str::<SlaSpec>(sla).unwrap()).await.unwrap();
    app
}

impl TestApp {
    async fn register(&self, channel: &str, department: &str) -> Value {
        self.register_json(json!({"channel": channel, "player": {"email": "p@mail.kz"}, "subject": "Вывод", "description": "Вывод не пришёл", "department": department}))
            .await
    }

    async fn get(&self, reference: &str) -> Value {
        let (s, b) = self.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&self.token), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    async fn alarms(&self, reference: &str) -> Vec<(String, String)> {
        self.events_of(reference, "sla_alarm")
            .await
            .iter()
            .map(|e| (e["clock"].as_str().unwrap().to_string(), e["level"].as_str().unwrap().to_string()))
            .collect()
    }
}

fn ts(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// Runs `runner` rounds until `done` holds (or fails the test after 20 s).
async fn run_until(runner: &JobRunner, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "the timers never fired");
        runner.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const BUSINESS: &str = r#"
warn_at = 0.75

[calendars.payments]
timezone = "Asia/Almaty"
holidays = ["2026-12-16"]
[calendars.payments.hours]
mon = ["09:00-18:00"]
tue = ["09:00-18:00"]
wed = ["09:00-18:00"]
thu = ["09:00-18:00"]
fri = ["09:00-18:00"]

[[policy]]
department = "security"
priority = "normal"
first_response_minutes = 30
resolution_hours = 8
"#;

ombuds_store::both_backends! {
    clocks_follow_policy_and_calendar => clocks_follow_policy_and_calendar,
    timers_fire_once_notify_and_escalate => timers_fire_once_notify_and_escalate,
    two_runners_fire_each_timer_once => two_runners_fire_each_timer_once,
    settings_are_saved_through_the_api => settings_saved_through_the_api,
}

impl TestApp {
    async fn put_sla(&self, bearer: &str, content_type: &str, body: &str, if_match: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.put(format!("{}/api/v1/sla", self.base)).bearer_auth(bearer).header("content-type", content_type).body(body.to_string());
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        common::read(req.send().await.unwrap()).await
    }
}

async fn settings_saved_through_the_api(db: &TestDb) {
    let app = spawn(db, "").await;
    let (_, supervisor) = app.agent("sup", "supervisor", &["payments"]).await;
    let (s, b) = app.call(Method::GET, "/api/v1/sla", Some(&supervisor), None).await;
    assert_eq!((s, b["version"].as_i64(), b["spec"]["warn_at"].as_f64()), (StatusCode::OK, Some(0), Some(0.75)), "{b}");
    let toml = "warn_at = 0.5\n\n[[policy]]\ndepartment = \"payments\"\nresolution_hours = 8\n";
    let (s, b) = app.put_sla(&app.admin, "application/toml", toml, Some("\"0\"")).await;
    assert_eq!((s, b["version"].as_i64(), b["saved_by"].as_str()), (StatusCode::OK, Some(1), Some("admin")), "{b}");
    // In force for the next complaint.
    let c = app.register("email", "payments").await;
    let (t0, s) = (ts(&c["created_at"]), &c["sla"]);
    assert_eq!(ts(&s["resolution"]["due"]).duration_since(t0), jiff::SignedDuration::from_hours(8), "{c}");
    assert_eq!(ts(&s["resolution"]["warn"]).duration_since(t0), jiff::SignedDuration::from_hours(4));
    // Read back as TOML; it saves again.
    let res = app.http.get(format!("{}/api/v1/sla?format=toml", app.base)).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(res.headers()["etag"], "\"1\"");
    let text = res.text().await.unwrap();
    assert!(text.starts_with("# ombuds SLA settings, version 1") && text.contains("resolution_hours = 8"), "{text}");
    let (s, b) = app.put_sla(&app.admin, "application/toml", &text, Some("\"1\"")).await;
    assert_eq!((s, b["version"].as_i64()), (StatusCode::OK, Some(2)), "{b}");
    // Mistakes: named, nothing saved.
    for (body, field) in [
        ("[calendars.casino]\nalways_open = true\n", "calendars.casino"),
        ("[calendars.payments]\ntimezone = \"Asia/Almaty\"\n", "calendars.payments.hours"),
        ("[[policy]]\ndepartment = \"payments\"\n", "policy[1].targets"),
        ("warn_at = 0\n", "warn_at"),
        ("warn_at = \n", "sla"),
        ("[[policy]]\nresolution_hourz = 3\n", "sla"),
    ] {
        let (s, b) = app.put_sla(&app.admin, "application/toml", body, None).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {b}");
    }
    let (s, b) = app.put_sla(&app.admin, "application/toml", "warn_at = \n", None).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && b["detail"].as_str().unwrap().contains("line 1"), "{b}");
    let (s, _) = app.put_sla(&app.admin, "application/toml", toml, Some("\"1\"")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app.put_sla(&app.admin, "text/plain", toml, None).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = app.put_sla(&app.admin, "application/json", "{\"warn_at\": ", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.put_sla(&supervisor, "application/toml", toml, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, b) = app.call(Method::GET, "/api/v1/sla", Some(&app.admin), None).await;
    assert_eq!(b["version"], 2, "only the good saves counted");
    // JSON too.
    let (s, b) = app.put_sla(&app.admin, "application/json", &json!({"warn_at": 0.6, "dispute_weeks": 0}).to_string(), None).await;
    assert_eq!((s, b["version"].as_i64(), b["spec"]["dispute_weeks"].as_i64()), (StatusCode::OK, Some(3), Some(0)), "{b}");

    // A node that starts later: its configuration is the baseline, the saved settings win.
    let node = Desk::with_store(db.open().await, DeskConfig::default()).await;
    node.set_sla(&toml::from_str::<SlaSpec>("warn_at = 0.9\n").unwrap()).await.unwrap();
    assert!(node.load_saved_sla().await.unwrap());
    assert_eq!(node.sla().spec().warn_at, 0.6);
    // On PostgreSQL a save on one node reaches the others at once.
    if db.dir.is_none() {
        app.put_sla(&app.admin, "application/toml", "warn_at = 0.7\n", None).await;
        let mut seen = 0.0;
        for _ in 0..50 {
            seen = node.sla().spec().warn_at;
            if seen == 0.7 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(seen, 0.7, "the other node reloads the saved settings");
    }
    node.close().await;
}

async fn clocks_follow_policy_and_calendar(db: &TestDb) {
    let app = spawn(db, BUSINESS).await;
    // Security (24/7, its own policy): 30 min first response, 8 h resolution, 48 h hard limit.
    let c = app.register("email", "security").await;
    let t0 = ts(&c["created_at"]);
    let s = &c["sla"];
    assert_eq!(ts(&s["first_response"]["due"]).duration_since(t0), jiff::SignedDuration::from_mins(30), "{c}");
    assert_eq!(ts(&s["first_response"]["warn"]).duration_since(t0), jiff::SignedDuration::from_secs(22 * 60 + 30));
    assert_eq!(ts(&s["resolution"]["due"]).duration_since(t0), jiff::SignedDuration::from_hours(8));
    assert_eq!(ts(&s["hard_limit"]["due"]).duration_since(t0), jiff::SignedDuration::from_hours(48));
    // Its timer is an outbox job due at the first warning.
    let (_, jobs) = app.call(Method::GET, &format!("/api/v1/complaints/{}/jobs", c["reference"].as_str().unwrap()), Some(&app.token), None).await;
    let timer = jobs.as_array().unwrap().iter().find(|j| j["kind"] == "sla_timer").expect("a timer job");
    assert_eq!(ts(&timer["run_at"]), ts(&s["first_response"]["warn"]));
    assert_eq!(timer["status"], "pending");

    // Payments works Almaty business hours: 4 working hours of first response end inside a
    // working day, never at night or on a weekend.
    let c = app.register("email", "payments").await;
    let due = ts(&c["sla"]["first_response"]["due"]).to_zoned(jiff::tz::TimeZone::get("Asia/Almaty").unwrap());
    assert!(!matches!(due.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday), "{due}");
    assert!((9..=18).contains(&due.hour()), "{due}");
    // Chat: one hour by default.
    let c = app.register("chat", "security").await;
    assert_eq!(ts(&c["sla"]["first_response"]["due"]).duration_since(ts(&c["created_at"])), jiff::SignedDuration::from_mins(30));
    let c = app.register("chat", "bonuses").await;
    assert_eq!(ts(&c["sla"]["first_response"]["due"]).duration_since(ts(&c["created_at"])), jiff::SignedDuration::from_hours(1));

    // The settings are readable by supervisors, not agents.
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    let (s, _) = app.call(Method::GET, "/api/v1/sla", Some(&agent), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app.call(Method::GET, "/api/v1/sla", Some(&app.admin), None).await;
    assert_eq!((s, b["spec"]["calendars"]["payments"]["timezone"].as_str(), b["version"].as_i64()), (StatusCode::OK, Some("Asia/Almaty"), Some(0)));

    // Bad settings are refused whole, every mistake named; the old ones stay in force.
    for (bad, field) in [
        ("[calendars.payments]\ntimezone = \"UTC\"\n", "calendars.payments.hours"),
        ("[calendars.casino]\nalways_open = true\n", "calendars.casino"),
        ("[calendars.payments]\ntimezone = \"Mars/Base\"\nalways_open = true\n", "calendars.payments.timezone"),
        ("[calendars.payments.hours]\nmon = [\"18:00-09:00\"]\n", "calendars.payments.hours.mon"),
        ("[[policy]]\ndepartment = \"nowhere\"\nresolution_hours = 4\n", "policy[1].department"),
        ("[[policy]]\nresolution_hours = 0\n", "policy[1].resolution_hours"),
        ("warn_at = 1\n", "warn_at"),
    ] {
        let e = app.desk.set_sla(&toml::from_str::<SlaSpec>(bad).unwrap()).await.unwrap_err();
        let ombuds_desk::DeskError::Domain(ombuds_core::DomainError::Invalid(errors)) = e else { panic!("{bad}: {e}") };
        assert_eq!(errors[0].field, field, "{bad}: {errors:?}");
    }
    assert!(toml::from_str::<SlaSpec>("[[policy]]\nresolution_hourz = 4\n").is_err(), "unknown keys are refused");
    let c = app.register("chat", "security").await;
    assert_eq!(ts(&c["sla"]["first_response"]["due"]).duration_since(ts(&c["created_at"])), jiff::SignedDuration::from_mins(30));

    // Bad at-risk queries.
    let (s, _) = app.call(Method::GET, "/api/v1/sla/at-risk?limit=0", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app.call(Method::GET, "/api/v1/sla/at-risk?near_minutes=lots", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

async fn timers_fire_once_notify_and_escalate(db: &TestDb) {
    // Warn almost at once (0.01 % of an hour = 0.36 s) so a real timer fires in the test.
    let app = spawn(db, "warn_at = 0.0001\n").await;
    let (agent_id, agent) = app.agent("dana", "agent", &["payments"]).await;
    let (supervisor_id, _) = app.agent("sup", "supervisor", &["payments"]).await;
    let mut signals = app.desk.live().subscribe();
    let c = app.register("chat", "payments").await;
    let r = c["reference"].as_str().unwrap().to_string();
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{r}/assign"), Some(&agent), Some(json!({"agent_id": agent_id}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let runner = ombuds_desk::sla::with_handlers(JobRunner::new(app.desk.clone(), "test"));
    run_until(&runner, async || !app.alarms(&r).await.is_empty()).await;
    // The first-response warning (due 0.36 s after registration); nothing else is due yet.
    let alarms = app.alarms(&r).await;
    assert!(alarms.iter().all(|(_, l)| l == "warning"), "{alarms:?}");
    assert!(alarms.contains(&("first_response".into(), "warning".into())), "{alarms:?}");
    // The assignee heard of the assignment and the warning in the workspace.
    let mut notices = vec![];
    let started = std::time::Instant::now();
    while notices.iter().filter(|(_, n)| n == "sla_warning").count() < 1 {
        assert!(started.elapsed() < Duration::from_secs(10), "notices never arrived: {notices:?}");
        runner.run_once().await.unwrap();
        while let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(100), signals.recv()).await {
            if let LiveSignal::ToAgent { agent_id, frame } = s
                && frame["type"] == "notice"
            {
                assert_eq!(frame["reference"], r.as_str());
                notices.push((agent_id.to_string(), frame["notice"].as_str().unwrap().to_string()));
            }
        }
    }
    assert!(notices.contains(&(agent_id.clone(), "assigned".into())), "{notices:?}");
    assert!(notices.contains(&(agent_id.clone(), "sla_warning".into())), "{notices:?}");
    assert!(!notices.iter().any(|(a, _)| a == &supervisor_id), "warnings go to the assignee: {notices:?}");

    // A day later (time travel): the first-response and resolution deadlines have passed. The
    // breach is recorded once however often the check runs, escalates to the supervisor, and
    // sets the dispute deadline.
    let id: uuid::Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25);
    for _ in 0..3 {
        app.desk.check_sla_as_of(id, later).await.unwrap();
    }
    let alarms = app.alarms(&r).await;
    let breaches: Vec<&(String, String)> = alarms.iter().filter(|(_, l)| l == "breach").collect();
    assert_eq!(breaches, [&("first_response".to_string(), "breach".to_string()), &("resolution".to_string(), "breach".to_string())], "{alarms:?}");
    let v = app.get(&r).await;
    assert_eq!(v["escalation"]["level"], "supervisor", "{v}");
    assert!(v["sla"]["dispute_deadline"].is_string(), "{v}");
    let (_, list) = app.call(Method::GET, "/api/v1/complaints?sla_breached=true", Some(&app.token), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["reference"], r.as_str());
    // The breach notice reaches the supervisor and the assignee.
    run_until(&runner, async || {
        let (_, jobs) = app.call(Method::GET, &format!("/api/v1/complaints/{r}/jobs"), Some(&app.token), None).await;
        jobs.as_array().unwrap().iter().filter(|j| j["kind"] == "notify_staff").all(|j| j["status"] == "done")
    })
    .await;
    let mut breach_to = vec![];
    while let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), signals.recv()).await {
        if let LiveSignal::ToAgent { agent_id, frame } = s
            && frame["notice"] == "sla_breach"
        {
            breach_to.push(agent_id.to_string());
        }
    }
    assert!(breach_to.contains(&supervisor_id) && breach_to.contains(&agent_id), "{breach_to:?}");

    // Waiting on the player stops the clocks: no timer runs while paused.
    let c2 = app.register("email", "payments").await;
    let r2 = c2["reference"].as_str().unwrap().to_string();
    let (s, b) = app
        .call(Method::POST, &format!("/api/v1/complaints/{r2}/request-information"), Some(&app.admin), Some(json!({"text": "Пришлите номер карты"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let v = app.get(&r2).await;
    assert!(v["sla"]["paused_since"].is_string() && v["sla"]["first_response"].is_null(), "{v}");
    let id2: uuid::Uuid = c2["id"].as_str().unwrap().parse().unwrap();
    app.desk.check_sla_as_of(id2, later).await.unwrap();
    assert!(app.alarms(&r2).await.is_empty(), "paused clocks do not fire");
    let (s, _) = app.call(Method::POST, &format!("/api/v1/complaints/{r2}/player-replies"), Some(&app.token), Some(json!({"text": "4400 …"}))).await;
    assert_eq!(s, StatusCode::OK);
    let v2 = app.get(&r2).await;
    assert!(v2["sla"]["paused_since"].is_null() && v2["sla"]["paused"].as_i64().unwrap() >= 0, "{v2}");
    assert!(ts(&v2["sla"]["resolution"]["due"]) >= ts(&v["sla"]["resolution"]["due"]), "the deadline moved on by the wait");

    // At risk: the overdue first complaint is listed for the admin, not for an agent of
    // another department.
    let (s, risks) = app.call(Method::GET, "/api/v1/sla/at-risk?near_minutes=1440", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::OK, "{risks}");
    assert!(risks.as_array().unwrap().iter().any(|x| x["reference"] == r2.as_str() && x["predicted_breach"] == true), "{risks}");
    let (_, outsider) = app.agent("sec", "agent", &["security"]).await;
    let (_, risks) = app.call(Method::GET, "/api/v1/sla/at-risk?near_minutes=1440", Some(&outsider), None).await;
    assert!(risks.as_array().unwrap().is_empty(), "{risks}");

    // Nobody may fire SLA checks through the API's commands.
    let admin = Principal::Token { id: uuid::Uuid::nil(), name: "x".into(), scopes: [Scope::Admin].into() };
    let err = app.desk.apply(&admin, &ComplaintRef::parse(&r).unwrap(), Command::CheckSla).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let _ = Body::parse("x");
}

async fn two_runners_fire_each_timer_once(db: &TestDb) {
    let app = spawn(db, "warn_at = 0.0001\n").await;
    // A second node on the same store, with its own runner.
    let node_b = Desk::with_store(db.open().await, DeskConfig::default()).await;
    node_b.set_sla(&toml::from_str::<SlaSpec>("warn_at = 0.0001\n").unwrap()).await.unwrap();
    let n = 60;
    let mut refs = vec![];
    for _ in 0..n {
        refs.push(app.register("chat", "payments").await["reference"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = ombuds_desk::sla::with_handlers(JobRunner::new(app.desk.clone(), "node-a"));
    let b = ombuds_desk::sla::with_handlers(JobRunner::new(node_b.clone(), "node-b"));
    let (mut ran_a, mut ran_b) = (0, 0);
    let started = std::time::Instant::now();
    loop {
        let (x, y) = tokio::join!(a.run_once(), b.run_once());
        let (x, y) = (x.unwrap(), y.unwrap());
        ran_a += x;
        ran_b += y;
        let mut fired = 0;
        for r in &refs {
            fired += app.alarms(r).await.len();
        }
        if fired >= n {
            assert_eq!(fired, n, "each complaint's first-response warning exactly once");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "only {fired} of {n} fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any claimed leftovers run; still exactly one warning per complaint.
    for _ in 0..3 {
        let _ = tokio::join!(a.run_once(), b.run_once());
    }
    for r in &refs {
        assert_eq!(app.alarms(r).await, [("first_response".to_string(), "warning".to_string())], "{r}");
    }
    println!("node a ran {ran_a} jobs, node b ran {ran_b}");
    node_b.close().await;
}
