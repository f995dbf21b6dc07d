//! The REST API end to end over real HTTP, on SQLite and on PostgreSQL.

use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct TestApp {
    base: String,
    http: Client,
    desk: Desk,
    /// An API token with complaints:read/write.
    token: String,
    /// The administrator's session.
    admin: String,
}

impl TestApp {
    async fn spawn(db: &TestDb) -> TestApp {
        let store = db.open().await;
        let desk = Desk::with_store(store, DeskConfig::default()).await;
        desk.seed_departments().await.unwrap();
        let (login, password) = desk.ensure_admin().await.unwrap().unwrap();
        let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig { body_limit: 16 * 1024, ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
        let http = Client::new();
        let mut t = TestApp { base, http, desk, token: String::new(), admin: String::new() };
        let (s, body) = t.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password}))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        t.admin = body["token"].as_str().unwrap().to_string();
        let (s, body) = t
            .call(Method::POST, "/api/v1/tokens", Some(&t.admin.clone()), Some(json!({"name": "backend", "scopes": ["complaints:read", "complaints:write"]})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        t.token = body["token"].as_str().unwrap().to_string();
        t
    }

    async fn call(&self, m: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.token), Some(body)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&self.token), None).await
    }

    async fn register(&self, body: Value) -> Value {
        let (s, b) = self.post("/api/v1/complaints", body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    async fn agent(&self, login: &str, role: &str, departments: &[&str]) -> (String, String) {
        let (s, b) = self
            .call(Method::POST, "/api/v1/agents", Some(&self.admin), Some(json!({"login": login, "name": login, "role": role, "departments": departments, "password": "correct horse battery"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["agent"]["id"].as_str().unwrap().to_string();
        let (s, b) = self.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": "correct horse battery"}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        (id, b["token"].as_str().unwrap().to_string())
    }

    /// Complaints, events and the chain: what must not change when a request is refused.
    async fn fingerprint(&self) -> (usize, u64) {
        let (_, list) = self.get("/api/v1/complaints?limit=200").await;
        let r = self.desk.verify_chain().await.unwrap();
        assert!(r.broken.is_none());
        (list["items"].as_array().unwrap().len(), r.checked)
    }
}

fn complaint(subject: &str) -> Value {
    json!({
        "channel": "web",
        "player": {"external_id": "P-104233", "name": "Айгерим Сапарова", "email": "aigerim@mail.kz", "phone": "8 701 123 45 67", "language": "kk"},
        "subject": subject,
        "description": "Үш күн бұрын 25 000 ₸ шығаруға өтінім бердім, әлі түскен жоқ.",
    })
}

ombuds_store::both_backends! {
    lifecycle_over_http => lifecycle_over_http,
    idempotent_registration => idempotent_registration,
    bad_inputs_get_problems_and_change_nothing => bad_inputs,
    roles_and_departments => roles_and_departments,
    list_filters_and_pages => list_filters_and_pages,
    sessions_and_tokens => sessions_and_tokens,
    service_endpoints => service_endpoints,
    mails => mails_and_attachments,
}

async fn lifecycle_over_http(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let c = app.register(complaint("Ақша шығару кешігіп жатыр")).await;
    assert_eq!(c["status"], "new");
    assert_eq!(c["language"], "kk");
    let reference = c["reference"].as_str().unwrap().to_string();
    // Quoted over the phone: lower case, no dashes, O for 0.
    let typed = reference.replace('-', "").to_lowercase().replace('0', "o");
    let (s, got) = app.get(&format!("/api/v1/complaints/{typed}")).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["reference"], reference.as_str());
    assert_eq!(got["player"]["phone"], "+77011234567");
    let path = |cmd: &str| format!("/api/v1/complaints/{reference}/{cmd}");
    let (agent_id, _) = app.agent("dana", "agent", &["payments"]).await;
    let steps: Vec<(&str, Value, &str)> = vec![
        ("route", json!({"department": "payments", "category": "withdrawal_delay"}), "routed"),
        ("assign", json!({"agent_id": agent_id}), "in_progress"),
        ("messages", json!({"kind": "note", "body": "Проверить статус в Kaspi"}), "in_progress"),
        ("request-information", json!({"text": "Банк үзіндісін жіберіңізші"}), "waiting_on_player"),
        ("player-replies", json!({"text": "Жібердім"}), "in_progress"),
        ("propose-solution", json!({"text": "Төлем қайта жіберіледі"}), "waiting_on_player"),
        ("escalate", json!({"level": "supervisor", "reason": "VIP player"}), "waiting_on_player"),
        ("priority", json!({"priority": "high"}), "waiting_on_player"),
        ("tags", json!({"add": ["vip", "kaspi"]}), "waiting_on_player"),
        ("resolve", json!({"measures": "Төлем қайта жіберілді", "result": "Ақша картаға түсті"}), "resolved"),
        ("close", json!({}), "closed"),
        ("reopen", json!({"reason": "Ақша қайта жоғалды"}), "in_progress"),
    ];
    for (cmd, body, want) in steps {
        let (s, b) = app.post(&path(cmd), body).await;
        assert_eq!(s, StatusCode::OK, "{cmd}: {b}");
        assert_eq!(b["status"], want, "{cmd}");
    }
    let (_, got) = app.get(&format!("/api/v1/complaints/{reference}")).await;
    assert_eq!(got["priority"], "high");
    assert_eq!(got["tags"], json!(["kaspi", "vip"]));
    assert!(got["escalation"].is_null(), "resolving clears the escalation");
    let kinds: Vec<&str> = got["messages"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["note", "outbound", "inbound", "outbound"]);
    let (_, events) = app.get(&path("events")).await;
    let names: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["data"]["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "registered", "sla_set", "routed", "assigned", "message_added", "information_requested", "sla_paused", "player_replied", "sla_set",
            "solution_proposed", "sla_paused", "escalated", "sla_set", "priority_changed", "tagged", "resolved", "closed", "reopened", "sla_set"
        ]
    );
    let (_, jobs) = app.get(&path("jobs")).await;
    let jobs: Vec<&str> = jobs.as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    // Player notices; the SLA timer set again whenever the next alarm moved (registration,
    // resumption, reopening); the assignee's notice.
    assert_eq!(jobs, ["acknowledge", "sla_timer", "notify_staff", "deliver_message", "sla_timer", "deliver_message", "notify_resolved", "sla_timer"]);
    // Commands that change nothing record nothing.
    let (s, _) = app.post(&path("priority"), json!({"priority": "high"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, again) = app.get(&path("events")).await;
    assert_eq!(again.as_array().unwrap().len(), events.as_array().unwrap().len());
}

async fn idempotent_registration(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let send = |key: &'static str, subject: &'static str| {
        let req = app.http.post(format!("{}/api/v1/complaints", app.base)).bearer_auth(&app.token).header("Idempotency-Key", key).json(&complaint(subject));
        async move {
            let r = req.send().await.unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (r.status(), replayed, r.json::<Value>().await.unwrap())
        }
    };
    // Concurrent retries of one request, then a late one.
    let (a, b) = tokio::join!(send("order-1", "Дубль"), send("order-1", "Дубль"));
    let (c, d) = (send("order-1", "Дубль").await, send("order-1", "Другая тема").await);
    let mut first_two = [a.0, b.0];
    first_two.sort();
    assert_eq!(first_two, [StatusCode::OK, StatusCode::CREATED]);
    assert_eq!(a.2["reference"], b.2["reference"]);
    assert_eq!((c.0, c.1), (StatusCode::OK, true));
    assert_eq!(c.2["reference"], a.2["reference"]);
    assert_eq!(d.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(d.2["code"], "idempotency_key_reused");
    assert_eq!(app.fingerprint().await, (1, 2), "one complaint: registered and its clocks");
    let (s, b) = app
        .http
        .post(format!("{}/api/v1/complaints", app.base))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "")
        .json(&complaint("x"))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!((s, b), (StatusCode::BAD_REQUEST, ()));
}

async fn bad_inputs(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let c = app.register(complaint("Есть жалоба")).await;
    let reference = c["reference"].as_str().unwrap().to_string();
    let before = app.fingerprint().await;
    let url = format!("{}/api/v1/complaints", app.base);
    // Malformed JSON.
    let r = app.http.post(&url).bearer_auth(&app.token).header("content-type", "application/json").body("{\"subject\": ").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let b: Value = r.json().await.unwrap();
    assert_eq!((b["type"].as_str(), b["code"].as_str(), b["status"].as_u64()), (Some("urn:ombuds:problem:malformed_json"), Some("malformed_json"), Some(400)));
    // Wrong content type.
    let r = app.http.post(&url).bearer_auth(&app.token).header("content-type", "text/plain").body("subject=x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Over the body limit (16 KiB in this test server).
    let mut big = complaint("Большое письмо");
    big["description"] = json!("я".repeat(20_000));
    let (s, b) = app.post("/api/v1/complaints", big).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    // Missing, empty and oversized fields, all reported at once.
    let (s, b) = app.post("/api/v1/complaints", json!({"subject": "   ", "kind": "rant"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<(&str, &str)> = b["errors"].as_array().unwrap().iter().map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect();
    assert_eq!(fields, [("kind", "invalid_value"), ("subject", "required"), ("description", "required"), ("player", "required")]);
    let mut long = complaint(&"x".repeat(201));
    long["player"]["email"] = json!("not-an-email");
    long["player"]["phone"] = json!("12");
    long["department"] = json!("casino");
    let (s, b) = app.post("/api/v1/complaints", long).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<(&str, &str)> = b["errors"].as_array().unwrap().iter().map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect();
    assert_eq!(fields, [("subject", "too_long"), ("player.email", "invalid_email"), ("player.phone", "invalid_phone")]);
    let mut unknown_dept = complaint("x");
    unknown_dept["department"] = json!("casino");
    let (s, b) = app.post("/api/v1/complaints", unknown_dept).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"][0]["code"], "unknown_department");
    let (s, b) = app.post("/api/v1/complaints", json!({"subject": "x", "description": "y", "player": {"name": "Anon"}})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("contact_required")));
    let mut typo = complaint("x");
    typo["subjekt"] = json!("typo");
    let (s, b) = app.post("/api/v1/complaints", typo).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));
    // Unknown and mistyped references.
    let (s, b) = app.get("/api/v1/complaints/000-000-000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b, json!({"type": "urn:ombuds:problem:not_found", "title": "Not found", "status": 404, "detail": "complaint not found", "code": "not_found"}));
    let mut wrong = reference.clone().into_bytes();
    wrong[10] = if wrong[10] == b'Z' { b'Y' } else { b'Z' };
    let (s, b) = app.get(&format!("/api/v1/complaints/{}", String::from_utf8(wrong).unwrap())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b["detail"].as_str().unwrap().contains("mistyped"), "{b}");
    // Illegal transitions.
    let (s, b) = app.post(&format!("/api/v1/complaints/{reference}/close"), json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")));
    assert_eq!(b["detail"], "cannot close a complaint that is new: only a resolved complaint can be closed");
    let (s, _) = app.post(&format!("/api/v1/complaints/{reference}/resolve"), json!({"measures": "x", "result": "y"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = app.post(&format!("/api/v1/complaints/{reference}/assign"), json!({"agent_id": "nope"})).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_id")));
    // Credentials.
    let (s, b) = app.call(Method::GET, "/api/v1/complaints", None, None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let r = app.http.get(&url).bearer_auth("omt_forged").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"ombuds\"");
    let r = app.http.get(&url).header("authorization", "Basic YWRtaW46YWRtaW4=").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Not allowed: a read-only token registering, an agent doing admin work.
    let (_, t) = app.call(Method::POST, "/api/v1/tokens", Some(&app.admin), Some(json!({"name": "bi", "scopes": ["complaints:read"]}))).await;
    let (s, b) = app.call(Method::POST, "/api/v1/complaints", t["token"].as_str(), Some(complaint("x"))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, _) = app.call(Method::POST, "/api/v1/tokens", Some(&app.token), Some(json!({"name": "x", "scopes": ["admin"]}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Unknown endpoint and method.
    let (s, b) = app.get("/api/v1/nothing").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, b) = app.call(Method::DELETE, "/api/v1/complaints", Some(&app.token), None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let (s, b) = app.get("/api/v1/complaints?colour=red").await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_parameter")));
    // Nothing stored changed.
    assert_eq!(app.fingerprint().await, before);
    let (_, got) = app.get(&format!("/api/v1/complaints/{reference}")).await;
    assert_eq!(got["status"], "new");
    assert_eq!(got["version"], 1);
}

async fn roles_and_departments(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let mut p = complaint("Выплата");
    p["department"] = json!("payments");
    let pay = app.register(p).await;
    let mut s = complaint("Взлом аккаунта");
    s["department"] = json!("security");
    let sec = app.register(s).await;
    let triage = app.register(complaint("Без отдела")).await;
    let (dana_id, dana) = app.agent("dana", "agent", &["payments"]).await;
    let (erlan_id, _) = app.agent("erlan", "agent", &["payments"]).await;
    let (_, sup) = app.agent("sara", "supervisor", &["payments"]).await;
    let refs = |v: &Value| v["items"].as_array().unwrap().iter().map(|c| c["reference"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, mine) = app.call(Method::GET, "/api/v1/complaints", Some(&dana), None).await;
    assert_eq!(refs(&mine), [pay["reference"].as_str().unwrap()]);
    let (_, sups) = app.call(Method::GET, "/api/v1/complaints", Some(&sup), None).await;
    assert_eq!(refs(&sups).len(), 2, "supervisors also see the triage queue");
    // Guessing another department's reference looks like nothing is there.
    let (st, _) = app.call(Method::GET, &format!("/api/v1/complaints/{}", sec["reference"].as_str().unwrap()), Some(&dana), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = app.call(Method::GET, &format!("/api/v1/complaints/{}", triage["reference"].as_str().unwrap()), Some(&dana), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let pr = pay["reference"].as_str().unwrap();
    let (st, b) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/assign"), Some(&dana), Some(json!({"agent_id": erlan_id}))).await;
    assert_eq!((st, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (st, b) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/assign"), Some(&dana), Some(json!({"agent_id": dana_id}))).await;
    assert_eq!((st, b["status"].as_str()), (StatusCode::OK, Some("in_progress")));
    let (st, _) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/escalate"), Some(&dana), Some(json!({"reason": "угрозы регулятором"}))).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/deescalate"), Some(&dana), Some(json!({}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/deescalate"), Some(&sup), Some(json!({"note": "решено"}))).await;
    assert_eq!(st, StatusCode::OK);
    let (st, b) = app.call(Method::POST, &format!("/api/v1/complaints/{pr}/assign"), Some(&sup), Some(json!({"agent_id": uuid::Uuid::now_v7()}))).await;
    assert_eq!((st, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_agent")));
    let (st, _) = app.call(Method::GET, "/api/v1/tokens", Some(&dana), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

async fn list_filters_and_pages(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let words = ["альфа", "бета", "гамма", "дельта", "эпсилон", "дзета", "эта"];
    for (i, word) in words.iter().enumerate() {
        let mut c = complaint(&format!("Жалоба {word}"));
        c["player"]["external_id"] = json!(format!("P-{i}"));
        if i % 2 == 0 {
            c["department"] = json!("bonuses");
            c["kind"] = json!("question");
        }
        app.register(c).await;
    }
    let (_, b) = app.get("/api/v1/complaints?department=bonuses&kind=question").await;
    assert_eq!(b["items"].as_array().unwrap().len(), 4);
    let (_, b) = app.get("/api/v1/complaints?status=new,routed&q=%D0%96%D0%90%D0%9B%D0%9E%D0%91%D0%90%20%D0%B3%D0%B0%D0%BC%D0%BC%D0%B0").await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    let (_, b) = app.get("/api/v1/complaints?department=none").await;
    assert_eq!(b["items"].as_array().unwrap().len(), 3);
    let mut seen = std::collections::HashSet::new();
    let mut path = "/api/v1/complaints?limit=3".to_string();
    let mut pages = 0;
    loop {
        let (s, b) = app.get(&path).await;
        assert_eq!(s, StatusCode::OK);
        pages += 1;
        for c in b["items"].as_array().unwrap() {
            assert!(seen.insert(c["id"].as_str().unwrap().to_string()));
        }
        match b["next_cursor"].as_str() {
            Some(cur) => path = format!("/api/v1/complaints?limit=3&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (7, 3));
    for bad in ["status=lost", "limit=0", "limit=500", "cursor=zzz", "created_from=yesterday", "assignee=me", "escalated=maybe"] {
        let (s, b) = app.get(&format!("/api/v1/complaints?{bad}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
}

async fn sessions_and_tokens(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (s, b) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "admin", "password": "wrong password"}))).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("authentication required: wrong login or password")));
    let (s, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "nobody", "password": "whatever123"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, dana) = app.agent("dana", "agent", &["payments"]).await;
    let (s, me) = app.call(Method::GET, "/api/v1/me", Some(&dana), None).await;
    assert_eq!((s, me["agent"]["login"].as_str()), (StatusCode::OK, Some("dana")));
    let (s, b) = app.call(Method::POST, "/api/v1/me/password", Some(&dana), Some(json!({"current_password": "correct horse battery", "new_password": "short"}))).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("too_short")));
    let (s, _) = app.call(Method::POST, "/api/v1/me/password", Some(&dana), Some(json!({"current_password": "correct horse battery", "new_password": "a much longer secret"}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call(Method::POST, "/api/v1/auth/logout", Some(&dana), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call(Method::GET, "/api/v1/me", Some(&dana), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "logged out");
    let (s, b) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "dana", "password": "a much longer secret"}))).await;
    assert_eq!(s, StatusCode::OK);
    let dana = b["token"].as_str().unwrap().to_string();
    let (s, _) = app.call(Method::POST, "/api/v1/agents/dana/disable", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.call(Method::GET, "/api/v1/me", Some(&dana), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "disabled agents are signed out");
    let (s, _) = app.call(Method::POST, "/api/v1/agents", Some(&app.admin), Some(json!({"login": "dana", "name": "Dana 2"}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, list) = app.call(Method::GET, "/api/v1/tokens", Some(&app.admin), None).await;
    let id = list[0]["id"].as_str().unwrap();
    let (s, _) = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get("/api/v1/complaints").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked tokens stop working on this node at once");
    let (s, _) = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn service_endpoints(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    app.register(complaint("x")).await;
    let (s, b) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, b), (StatusCode::OK, Value::String("ok".into())));
    let (s, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, spec) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    for p in ["/api/v1/complaints", "/api/v1/complaints/{reference}/resolve", "/api/v1/auth/login", "/api/v1/tokens/{id}"] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
    assert!(spec["components"]["schemas"]["Problem"].is_object());
    // Metrics need an administrator or a `metrics` token (tests/authz.rs has the refusals).
    let text = app.http.get(format!("{}/metrics", app.base)).bearer_auth(&app.admin).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("ombuds_http_request_seconds"), "{text}");
    assert!(text.contains("ombuds_complaints_registered_total"));
    let (s, b) = app.call(Method::GET, "/api/v1/audit/verify", Some(&app.admin), None).await;
    assert_eq!((s, b["ok"].as_bool(), b["checked"].as_u64()), (StatusCode::OK, Some(true), Some(2)));
}

/// A complaint received by e-mail: its mails and attachments are listed, the original bytes
/// and files come back as downloads that a browser will not render, and ids from another
/// complaint or garbage answer 404.
async fn mails_and_attachments(db: &TestDb) {
    use ombuds_core::*;
    use ombuds_desk::{Inbound, NewAttachment, NewMail, Received};
    let app = TestApp::spawn(db).await;
    let inbound = |from: &str, id: &str| Inbound {
        channel: Channel::Email,
        contact: PlayerContact { external_id: None, name: None, email: Some(EmailAddress::parse(from).unwrap()), phone: None, language: None },
        kind: Kind::Complaint,
        subject: Subject::parse("Скриншот ставки").unwrap(),
        text: Body::parse("Во вложении скриншот").unwrap(),
        language: Some(Language::Ru),
        thread: None,
        dedupe_key: Some(id.to_string()),
        mail: Some(NewMail {
            header_id: id.to_string(),
            sender: from.to_string(),
            recipient: "support@desk.example".into(),
            subject: "Скриншот ставки".into(),
            size: 42,
            raw: Some(b"From: x\r\n\r\n<script>alert(1)</script>".to_vec()),
            auth: Some(ombuds_desk::SenderAuth {
                spf: ombuds_desk::AuthResult::SoftFail,
                dkim: ombuds_desk::AuthResult::None,
                dmarc: ombuds_desk::AuthResult::Fail,
                domain: "mail.kz".into(),
                policy: Some(ombuds_desk::DmarcPolicy::Quarantine),
            }),
            attachments: vec![NewAttachment {
                filename: "скрин <1>.html".into(),
                content_type: "text/html".into(),
                sha256: vec![7; 32],
                data: b"<script>alert(1)</script>".to_vec(),
            }],
        }),
    };
    let Received::Registered(c) = app.desk.receive(inbound("a@mail.kz", "m1@mail.kz")).await.unwrap() else { panic!("registered") };
    let Received::Registered(other) = app.desk.receive(inbound("b@mail.kz", "m2@mail.kz")).await.unwrap() else { panic!("registered") };
    let r = c.reference.to_string();
    let (s, mails) = app.get(&format!("/api/v1/complaints/{r}/mails")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mails.as_array().unwrap().len(), 1);
    assert_eq!((mails[0]["direction"].as_str(), mails[0]["header_id"].as_str()), (Some("in"), Some("m1@mail.kz")));
    assert_eq!(mails[0]["auth"], json!({"spf": "softfail", "dkim": "none", "dmarc": "fail", "domain": "mail.kz", "policy": "quarantine"}), "the sender checks are listed");
    let mail_id = mails[0]["id"].as_str().unwrap();
    let res = app.http.get(format!("{}/api/v1/complaints/{r}/mails/{mail_id}/raw", app.base)).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "message/rfc822");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"From: x\r\n\r\n<script>alert(1)</script>");

    let (s, files) = app.get(&format!("/api/v1/complaints/{r}/attachments")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(files[0]["filename"], "скрин <1>.html");
    assert_eq!(files[0]["size"], 25);
    assert_eq!(files[0]["sha256"], "07".repeat(32));
    let file_id = files[0]["id"].as_str().unwrap();
    let res = app.http.get(format!("{}/api/v1/complaints/{r}/attachments/{file_id}", app.base)).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/octet-stream", "an HTML file is never served as HTML");
    assert_eq!(res.headers()["content-security-policy"], "sandbox; default-src 'none'");
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"_______1_.html\"; filename*=UTF-8''%D1%81"), "{disposition}");

    // The file belongs to another complaint than the one in the path: not found.
    let (s, body) = app.get(&format!("/api/v1/complaints/{}/attachments/{file_id}", other.reference)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    let (s, _) = app.get(&format!("/api/v1/complaints/{r}/attachments/not-a-uuid")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&format!("/api/v1/complaints/{r}/mails/{}/raw", uuid::Uuid::now_v7())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An agent outside the complaint's reach sees nothing of it.
    let (_, agent) = app.agent("ops", "agent", &["payments"]).await;
    let (s, _) = app.call(Method::GET, &format!("/api/v1/complaints/{r}/attachments"), Some(&agent), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
