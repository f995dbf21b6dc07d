//! Routing over real HTTP, on SQLite and on PostgreSQL: the rule set saved as TOML or JSON and
//! refused whole when any rule is wrong, new complaints routed by the rules, the dry run, and the
//! classifier trained on resolved complaints routing (or sending to triage) what no rule takes.

use ombuds_core::{Body, Command, ComplaintRef, Principal};
use ombuds_desk::routing::RoutingConfig;
use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::{TestApp, read};

async fn spawn(db: &TestDb, routing: RoutingConfig) -> TestApp {
    TestApp::spawn(db, DeskConfig { routing, ..Default::default() }).await
}

impl TestApp {
    /// PUT the rules as `content_type`, optionally with If-Match.
    async fn put_rules(&self, bearer: &str, content_type: &str, body: &str, if_match: Option<&str>) -> (StatusCode, Value, Option<String>) {
        let mut req = self.http.put(format!("{}/api/v1/routing/rules", self.base)).bearer_auth(bearer).header("content-type", content_type).body(body.to_string());
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        let res = req.send().await.unwrap();
        let etag = res.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        let (s, b) = read(res).await;
        (s, b, etag)
    }

    async fn register(&self, subject: &str, description: &str, extra: Value) -> Value {
        let mut body = json!({"channel": "web", "player": {"email": "player@mail.kz"}, "subject": subject, "description": description});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.register_json(body).await
    }

    async fn routed_by(&self, reference: &str) -> Option<String> {
        self.events_of(reference, "routed").await.first().and_then(|e| e["by"].as_str().map(str::to_string))
    }
}

const RULES: &str = r#"
[[rule]]
name = "self-exclusion"
when.any_words = ["самоисключ*", "өзін-өзі шектеу", "self-exclusion"]
then.department = "responsible_gaming"
then.priority = "urgent"
stop = true

[[rule]]
name = "withdrawals"
when.any_words = ["вывод*", "ақша шығару", "withdrawal*"]
then.department = "payments"
then.category = "withdrawal_delay"

[[rule]]
name = "big amounts"
when.amount_at_least = 500000
then.priority = "high"
then.add_tags = ["large_amount"]

[[rule]]
name = "vip to aliya"
when.segment = ["vip"]
then.assign = "aliya"
"#;

ombuds_store::both_backends! {
    rules_are_saved_whole_or_not_at_all => rules_are_saved_whole_or_not_at_all,
    new_complaints_follow_the_rules => new_complaints_follow_the_rules,
    dry_run_explains => dry_run_explains,
    classifier_routes_what_no_rule_takes => classifier_routes_what_no_rule_takes,
    auto_assignment_picks_the_least_loaded_online_agent => auto_assignment,
}

async fn rules_are_saved_whole_or_not_at_all(db: &TestDb) {
    let app = spawn(db, RoutingConfig::default()).await;
    app.agent("aliya", "agent", &["payments"]).await;
    let (_, supervisor) = app.agent("sup", "supervisor", &["payments"]).await;
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;

    // Nothing saved yet: version 0.
    let (s, b) = app.call(Method::GET, "/api/v1/routing/rules", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["version"].as_i64(), b["rules"].as_i64(), b["spec"]["rule"].as_array().map(Vec::len)), (Some(0), Some(0), Some(0)));

    // Save as TOML, starting from version 0.
    let (s, b, etag) = app.put_rules(&app.admin, "application/toml", RULES, Some("\"0\"")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["version"].as_i64(), b["rules"].as_i64(), etag.as_deref()), (Some(1), Some(4), Some("\"1\"")));

    // Read back as TOML: the same file saves again to the same set.
    let res = app.http.get(format!("{}/api/v1/routing/rules?format=toml", app.base)).bearer_auth(&supervisor).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/toml"));
    let toml = res.text().await.unwrap();
    assert!(toml.starts_with("# ombuds routing rules, version 1"), "{toml}");
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", &toml, Some("\"1\"")).await;
    assert_eq!((s, b["version"].as_i64()), (StatusCode::OK, Some(2)), "{b}");
    let (_, json_view) = app.call(Method::GET, "/api/v1/routing/rules", Some(&app.admin), None).await;
    let (_, first) = app.call(Method::GET, "/api/v1/routing/rules", Some(&supervisor), None).await;
    assert_eq!(json_view["spec"], first["spec"]);
    assert_eq!(json_view["spec"]["rule"][1]["when"]["any_words"], json!(["вывод*", "ақша шығару", "withdrawal*"]));

    // A stale editor is refused; nothing changes.
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", RULES, Some("\"1\"")).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{b}");
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", RULES, Some("soon")).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{b}");

    // Every kind of mistake: 422 naming the rule and field, nothing saved.
    let bad = |name: &str, when: &str, then: &str| format!("[[rule]]\nname = \"{name}\"\n{when}\n{then}\n");
    for (body, field, words) in [
        (bad("ghost", "", "then.department = \"casino_floor\""), "rule[1] 'ghost' then.department", "no department 'casino_floor'"),
        (bad("broken", "when.text_matches = \"(unclosed\"", "then.priority = \"high\""), "rule[1] 'broken' when.text_matches", "does not parse"),
        (bad("huge", "when.text_matches = \"(\\\\w{50}){200}\"", "then.priority = \"high\""), "rule[1] 'huge' when.text_matches", "too complex"),
        (bad("nobody", "", "then.assign = \"ghost.agent\""), "rule[1] 'nobody' then.assign", "no agent 'ghost.agent'"),
        (bad("idle", "when.channel = [\"email\"]", ""), "rule[1] 'idle' then", "does nothing"),
        (
            format!("{}{}", bad("a", "when.has_tag = [\"b\"]", "then.add_tags = [\"a\"]"), bad("b", "when.has_tag = [\"a\"]", "then.add_tags = [\"b\"]")),
            "rule[1] 'a' when",
            "cycle",
        ),
        (bad("", "", "then.priority = \"high\""), "rule[1] '' name", ""),
    ] {
        let (s, b, _) = app.put_rules(&app.admin, "application/toml", &body, None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert_eq!(b["code"], "validation_failed");
        let errors = b["errors"].as_array().unwrap();
        let hit = errors.iter().find(|e| e["field"].as_str().is_some_and(|f| f.starts_with(field.trim_end_matches(" name")) && f.ends_with(field.rsplit(' ').next().unwrap())));
        assert!(hit.is_some_and(|e| e["message"].as_str().unwrap().contains(words)), "{body}: {b}");
    }
    // A file that does not read as rules: the line is named.
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", "[[rule]]\nname = \"x\"\nthen.priority = \n", None).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unreadable_rules")), "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("line 3"), "{b}");
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", "[[rule]]\nname = \"x\"\nwhen.subjekt = \"y\"\n", None).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && b["detail"].as_str().unwrap().contains("subjekt"), "{b}");
    let (s, b, _) = app.put_rules(&app.admin, "application/json", "{\"rule\": [", None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let (s, b, _) = app.put_rules(&app.admin, "text/plain", RULES, None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")));
    // Only administrators save; agents do not even read.
    let (s, _, _) = app.put_rules(&supervisor, "application/toml", RULES, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.call(Method::GET, "/api/v1/routing/rules", Some(&agent), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.call(Method::GET, "/api/v1/routing/rules", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.call(Method::GET, "/api/v1/routing/rules?format=yaml", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (_, b) = app.call(Method::GET, "/api/v1/routing/rules", Some(&app.admin), None).await;
    assert_eq!((b["version"].as_i64(), b["rules"].as_i64()), (Some(2), Some(4)), "only the good saves counted");

    // JSON saves too, without If-Match.
    let (s, b, _) = app
        .put_rules(&app.admin, "application/json", &json!({"rule": [{"name": "kyc", "when": {"any_words": ["верификац*"]}, "then": {"department": "verification"}}]}).to_string(), None)
        .await;
    assert_eq!((s, b["version"].as_i64(), b["rules"].as_i64()), (StatusCode::OK, Some(3), Some(1)), "{b}");
}

async fn new_complaints_follow_the_rules(db: &TestDb) {
    let app = spawn(db, RoutingConfig::default()).await;
    let (aliya, _) = app.agent("aliya", "agent", &["payments"]).await;
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", RULES, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let c = app.register("Вывод не пришёл", "Жду вывод средств третий день, сумма 750 000 ₸", json!({"segments": ["vip"]})).await;
    assert_eq!((c["department"].as_str(), c["category"].as_str(), c["priority"].as_str()), (Some("payments"), Some("withdrawal_delay"), Some("high")));
    assert_eq!((c["status"].as_str(), c["assignee"].as_str()), (Some("in_progress"), Some(aliya.as_str())));
    assert_eq!(c["tags"], json!(["large_amount"]));
    assert_eq!(app.routed_by(c["reference"].as_str().unwrap()).await.as_deref(), Some("rule:withdrawals"));

    // The registration's own department wins; the VIP agent of another department is not assigned.
    let c = app.register("Вывод", "вывод бонуса", json!({"department": "bonuses", "segments": ["vip"], "priority": "low"})).await;
    assert_eq!((c["department"].as_str(), c["priority"].as_str(), c["assignee"].as_str()), (Some("bonuses"), Some("low"), None));
    assert_eq!(app.routed_by(c["reference"].as_str().unwrap()).await, None);

    // A stopping rule ends the pass; Kazakh text; the detected language is the player's.
    let c = app.register("Өтініш", "Ақша шығару үшін өзін-өзі шектеу керек, көмектесіңіз", json!({})).await;
    assert_eq!((c["department"].as_str(), c["priority"].as_str(), c["language"].as_str()), (Some("responsible_gaming"), Some("urgent"), Some("kk")));

    // No rule fires and no model is trained: the complaint waits unrouted (triage).
    let c = app.register("Hello", "The app crashes when I open the live section on my phone", json!({})).await;
    assert_eq!((c["status"].as_str(), c["department"].as_str(), c["language"].as_str()), (Some("new"), None, Some("en")));
    let (_, list) = app.call(Method::GET, "/api/v1/complaints?department=none", Some(&app.token), None).await;
    assert!(list["items"].as_array().unwrap().iter().any(|i| i["reference"] == c["reference"]), "{list}");

    // Bad segments are a clear error.
    let (s, b) = app
        .call(Method::POST, "/api/v1/complaints", Some(&app.token), Some(json!({"player": {"email": "a@b.kz"}, "subject": "x", "description": "y", "segments": ["VIP GOLD!"]})))
        .await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("segments[0]")), "{b}");

    // Rules saved on another node (another desk on the same store) reach this one.
    let other = Desk::with_store(db.open().await, DeskConfig::default()).await;
    let admin = other.agents().await.unwrap().into_iter().find(|a| a.role == ombuds_core::Role::Admin).unwrap();
    let spec = ombuds_core::rules::RuleSetSpec::from_toml("[[rule]]\nname = \"crashes\"\nwhen.any_words = [\"crash*\"]\nthen.department = \"technical\"\n").unwrap();
    other.save_routing_rules(&Principal::Agent(admin), spec, None).await.unwrap();
    let mut routed = None;
    for _ in 0..100 {
        let c = app.register("Hello", "The app crashes again", json!({})).await;
        if c["department"] == "technical" {
            routed = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(routed.is_some(), "the other node's rules never reached this one");
    other.close().await;
}

async fn dry_run_explains(db: &TestDb) {
    let app = spawn(db, RoutingConfig::default()).await;
    app.agent("aliya", "agent", &["payments"]).await;
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    app.put_rules(&app.admin, "application/toml", RULES, None).await;
    let (s, b) = app
        .call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(json!({"subject": "Бонус", "text": "вывод не пришёл, 1 200 000 тг", "channel": "email"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["department"].as_str(), b["routed_by"].as_str(), b["version"].as_i64()), (Some("payments"), Some("rule:withdrawals"), Some(1)));
    assert_eq!(b["decision"]["fired"], json!(["withdrawals", "big amounts"]));
    assert_eq!(b["detected_language"], "ru");
    let trace = b["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 4);
    assert_eq!((trace[0]["rule"].as_str(), trace[0]["fired"].as_bool()), (Some("self-exclusion"), Some(false)));
    assert!(trace[0]["why"].as_str().unwrap().contains("any_words"), "{b}");
    assert!(trace[3]["why"].as_str().unwrap().contains("segments"), "{b}");

    // A draft instead of the rules in force; nothing is saved.
    let draft = json!({"rule": [{"name": "draft", "when": {"any_words": ["бонус*"]}, "then": {"department": "bonuses"}}]});
    let (s, b) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(json!({"text": "бонус не начислен", "rules": draft}))).await;
    assert_eq!((s, b["department"].as_str(), b["version"].as_i64()), (StatusCode::OK, Some("bonuses"), None), "{b}");
    let (_, v) = app.call(Method::GET, "/api/v1/routing/rules", Some(&app.admin), None).await;
    assert_eq!(v["version"], 1);
    // Nothing fires: triage.
    let (_, b) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(json!({"text": "просто вопрос"}))).await;
    assert_eq!((b["department"].as_str(), b["routed_by"].as_str()), (None, Some("triage")), "{b}");

    // Bad input.
    for (body, field) in [
        (json!({}), "text"),
        (json!({"text": "x", "channel": "pigeon"}), "channel"),
        (json!({"text": "x", "tags": ["Not A Tag!"]}), "tags[0]"),
        (json!({"text": "x", "rules": {"rule": [{"name": "r", "then": {"department": "nowhere"}}]}}), "rule[1] 'r' then.department"),
    ] {
        let (s, b) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(body.clone())).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {b}");
    }
    let (s, b) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(json!({"text": "x", "colour": "red"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&agent), Some(json!({"text": "x"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// The classifier's test set: real-looking complaints in three languages.
fn examples() -> Vec<(String, String)> {
    include_str!("../../insight/tests/data/complaints.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["text"].as_str().unwrap().to_string(), v["department"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn classifier_routes_what_no_rule_takes(db: &TestDb) {
    let threshold = 0.3;
    let app = spawn(db, RoutingConfig { min_confidence: threshold, min_training_rows: 20, ..Default::default() }).await;
    // Too few resolved complaints: nothing is trained.
    let (s, b) = app.call(Method::POST, "/api/v1/routing/train", Some(&app.admin), None).await;
    assert_eq!((s, b["trained"].as_bool(), b["examples"].as_i64()), (StatusCode::OK, Some(false), Some(0)), "{b}");

    // History: complaints routed by people and resolved.
    let admin = app.desk.agents().await.unwrap().into_iter().find(|a| a.role == ombuds_core::Role::Admin).unwrap();
    let admin = Principal::Agent(admin);
    for (text, department) in examples() {
        let c = app.register("Обращение", &text, json!({"department": department})).await;
        let reference = ComplaintRef::parse(c["reference"].as_str().unwrap()).unwrap();
        let resolve = Command::Resolve { measures: Body::parse("checked").unwrap(), result: Body::parse("answered").unwrap() };
        app.desk.apply(&admin, &reference, resolve).await.unwrap();
    }
    let (s, b) = app.call(Method::POST, "/api/v1/routing/train", Some(&app.admin), None).await;
    assert_eq!((s, b["trained"].as_bool(), b["examples"].as_i64(), b["departments"].as_i64()), (StatusCode::OK, Some(true), Some(112), Some(7)), "{b}");
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    let (s, _) = app.call(Method::POST, "/api/v1/routing/train", Some(&agent), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Texts no rule takes: routed by the classifier when it is sure enough, else left for triage,
    // and the suggestion is on the complaint either way.
    let mut by_classifier = 0;
    for (text, want) in [
        ("Деньги с вывода не пришли на карту, прошло пять дней", "payments"),
        ("Still waiting for my withdrawal to reach my card", "payments"),
        ("Не проходит верификация, документы не принимают", "verification"),
        ("Мой аккаунт взломали, пароль сменили", "security"),
        ("ok", ""),
    ] {
        let c = app.register("Вопрос", text, json!({})).await;
        let reference = c["reference"].as_str().unwrap();
        let (_, view) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&app.token), None).await;
        let s = &view["suggestion"];
        let confidence = s["confidence"].as_f64().unwrap_or_else(|| panic!("{text}: {view}"));
        if !want.is_empty() {
            assert_eq!(s["department"], want, "{text}: {view}");
        }
        if confidence >= f64::from(threshold) {
            by_classifier += 1;
            assert_eq!(c["department"], s["department"], "{text}: {view}");
            assert!(app.routed_by(reference).await.unwrap().starts_with("classifier:"));
        } else {
            assert_eq!((c["department"].as_str(), c["status"].as_str()), (None, Some("new")), "{text}: {view}");
        }
    }
    assert!(by_classifier >= 3, "the classifier routed only {by_classifier} of 5");
    // The dry run shows the same.
    let (_, b) = app.call(Method::POST, "/api/v1/routing/dry-run", Some(&app.admin), Some(json!({"text": "Still waiting for my withdrawal to reach my card"}))).await;
    assert_eq!(b["suggestion"]["department"], "payments", "{b}");
    assert!(b["routed_by"].as_str().unwrap().starts_with("classifier:"), "{b}");
}

async fn auto_assignment(db: &TestDb) {
    use ombuds_core::assign::AssignStrategy;
    let app = spawn(db, RoutingConfig { auto_assign: AssignStrategy::LeastLoaded, ..Default::default() }).await;
    let rules = "[[rule]]\nname = \"withdrawals\"\nwhen.any_words = [\"вывод*\", \"шығар*\"]\nthen.department = \"payments\"\n\n\
                 [[rule]]\nname = \"crypto\"\nwhen.any_words = [\"usdt\", \"крипт*\"]\nthen.skill = \"crypto\"\n";
    let (s, b, _) = app.put_rules(&app.admin, "application/toml", rules, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, a) = app
        .call(Method::POST, "/api/v1/agents", Some(&app.admin), Some(json!({"login": "arman", "name": "Арман", "departments": ["payments"], "languages": ["ru"], "capacity": 2})))
        .await;
    assert_eq!((s, a["agent"]["capacity"].as_u64()), (StatusCode::CREATED, Some(2)), "{a}");
    let (_, b) = app
        .call(Method::POST, "/api/v1/agents", Some(&app.admin), Some(json!({"login": "bota", "name": "Бота", "departments": ["payments"], "skills": ["crypto"], "capacity": 5})))
        .await;
    assert_eq!(b["agent"]["skills"], json!(["crypto"]));
    let (arman, bota) = (a["agent"]["id"].as_str().unwrap().to_string(), b["agent"]["id"].as_str().unwrap().to_string());
    let id = |s: &str| s.parse::<uuid::Uuid>().unwrap();
    // Nobody online: nothing is assigned, the complaint is routed.
    let c = app.register("Вывод", "Вывод не пришёл", json!({})).await;
    assert_eq!((c["department"].as_str(), c["assignee"].as_str()), (Some("payments"), None), "{c}");
    app.desk.agent_presence(id(&arman), 1).await;
    app.desk.agent_presence(id(&bota), 1).await;
    // Both idle: bota has more room. Then arman, who holds fewer.
    let c1 = app.register("Вывод", "Вывод не пришёл", json!({})).await;
    assert_eq!(c1["assignee"].as_str(), Some(bota.as_str()), "{c1}");
    let c2 = app.register("Вывод", "Вывод не пришёл опять", json!({})).await;
    assert_eq!(c2["assignee"].as_str(), Some(arman.as_str()), "{c2}");
    // The crypto skill: only bota; Kazakh: only bota (arman speaks Russian only).
    let c3 = app.register("Вывод USDT", "Вывод USDT не пришёл", json!({})).await;
    assert_eq!(c3["assignee"].as_str(), Some(bota.as_str()), "{c3}");
    let c4 = app.register("Шығару", "Ақша шығару өтінімі орындалмады, көмектесіңіз", json!({})).await;
    assert_eq!((c4["language"].as_str(), c4["assignee"].as_str()), (Some("kk"), Some(bota.as_str())), "{c4}");
    // bota goes offline: arman takes the next, then is full (capacity 2).
    app.desk.agent_presence(id(&bota), -1).await;
    let c5 = app.register("Вывод", "Где мой вывод", json!({})).await;
    assert_eq!(c5["assignee"].as_str(), Some(arman.as_str()), "{c5}");
    let c6 = app.register("Вывод", "Где мой вывод?!", json!({})).await;
    assert_eq!((c6["department"].as_str(), c6["assignee"].as_str()), (Some("payments"), None), "arman is full: {c6}");
    // More room: assignable again. Chats are never auto-assigned (agents take them from the queue).
    let (s, upd) = app.call(Method::PATCH, "/api/v1/agents/arman", Some(&app.admin), Some(json!({"capacity": 3}))).await;
    assert_eq!((s, upd["capacity"].as_u64(), upd["languages"].clone()), (StatusCode::OK, Some(3), json!(["ru"])), "{upd}");
    let c7 = app.register("Вывод", "Вывод, третий раз", json!({})).await;
    assert_eq!(c7["assignee"].as_str(), Some(arman.as_str()), "{c7}");
    let (s, b) = app.call(Method::PATCH, "/api/v1/agents/arman", Some(&app.admin), Some(json!({"capacity": 9}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c8 = app.register("Вывод", "Вывод в чате", json!({"channel": "chat"})).await;
    assert_eq!(c8["assignee"].as_str(), None, "{c8}");

    // Bad updates: clear errors, nothing changed.
    for (body, status, field) in [
        (json!({"departments": ["casino"]}), StatusCode::UNPROCESSABLE_ENTITY, Some("departments")),
        (json!({"capacity": 20000}), StatusCode::UNPROCESSABLE_ENTITY, Some("capacity")),
        (json!({"skills": ["Not A Skill!"]}), StatusCode::UNPROCESSABLE_ENTITY, Some("skills[0]")),
        (json!({"capacity": -1}), StatusCode::UNPROCESSABLE_ENTITY, None),
        (json!({"colour": "red"}), StatusCode::UNPROCESSABLE_ENTITY, None),
    ] {
        let (s, b) = app.call(Method::PATCH, "/api/v1/agents/arman", Some(&app.admin), Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {b}");
        if let Some(f) = field {
            assert_eq!(b["errors"][0]["field"], f, "{body}: {b}");
        }
    }
    let (s, _) = app.call(Method::PATCH, "/api/v1/agents/nobody", Some(&app.admin), Some(json!({"capacity": 1}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, token) = app.agent("dana", "agent", &["payments"]).await;
    let (s, _) = app.call(Method::PATCH, "/api/v1/agents/arman", Some(&token), Some(json!({"capacity": 1}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = app.call(Method::GET, "/api/v1/agents", Some(&app.admin), None).await;
    let arman_now = list.as_array().unwrap().iter().find(|a| a["login"] == "arman").unwrap();
    assert_eq!((arman_now["capacity"].as_u64(), arman_now["departments"].clone()), (Some(9), json!(["payments"])));
}
