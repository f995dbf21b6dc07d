//! Who may call what, over HTTP, on SQLite and on PostgreSQL.
//!
//! The authorization matrix: every operation of the OpenAPI document, called by every kind of
//! caller (nobody; an agent of the complaint's department and one of another; a supervisor;
//! an administrator; tokens with `complaints:read`, `complaints:write`, `cti`, `admin`)
//! against a complaint of the first agent's department, and the class of answer each gets
//! (401 / 403 / 404 / not refused) checked against `TABLE`. An operation missing from the
//! table fails the test, so a new endpoint cannot be forgotten; the table's rule must be the
//! one the document states (`security`), and the router's `/api/v1` routes must be the
//! document's.

mod common;
use common::TestApp;
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What an operation needs, as its `security` in the OpenAPI document says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// No credentials.
    Public,
    /// Any session or token.
    Any,
    Read,
    Write,
    Cti,
    /// Agent sessions only.
    Agent,
    Supervisor,
    Admin,
    /// The chat console's WebSocket: authenticated inside the socket (tests/chat.rs).
    Socket,
}

impl Rule {
    fn of_doc(op: &Value) -> Rule {
        let Some(sec) = op.get("security").and_then(Value::as_array) else { return Rule::Public };
        let scopes: Vec<&str> = sec[0]["bearer"].as_array().expect("bearer").iter().map(|s| s.as_str().unwrap()).collect();
        match scopes.as_slice() {
            [] => Rule::Any,
            ["complaints:read"] => Rule::Read,
            ["complaints:write"] => Rule::Write,
            ["cti"] => Rule::Cti,
            ["agent"] if sec.len() > 1 => Rule::Socket,
            ["agent"] => Rule::Agent,
            ["supervisor"] => Rule::Supervisor,
            ["admin"] => Rule::Admin,
            other => panic!("unknown security {other:?}"),
        }
    }
}

/// The operation is about the complaint in its path (an agent of another department gets 404).
const SCOPED: u8 = 1;
/// The path names something that does not exist (an id): "not found" counts as not refused.
const MISSING_OK: u8 = 2;
/// Agents (the role) are refused by the command's own rule, supervisors are not.
const AGENTS_REFUSED: u8 = 4;

struct Row {
    method: &'static str,
    path: &'static str,
    rule: Rule,
    body: Option<&'static str>,
    flags: u8,
}

const fn row(method: &'static str, path: &'static str, rule: Rule, body: Option<&'static str>, flags: u8) -> Row {
    Row { method, path, rule, body, flags }
}

use Rule::*;

/// Every operation with what it needs. `$AGENT` and `$TARGET` in a body are the agent of the
/// complaint's department and a second complaint of the same player.
const TABLE: &[Row] = &[
    row("POST", "/api/v1/complaints", Write, Some(r#"{"subject": "Matrix", "description": "A complaint", "department": "payments", "player": {"email": "matrix@example.com"}}"#), 0),
    row("GET", "/api/v1/complaints", Read, None, 0),
    row("GET", "/api/v1/complaints/{reference}", Read, None, SCOPED),
    row("GET", "/api/v1/complaints/{reference}/events", Read, None, SCOPED),
    row("GET", "/api/v1/complaints/{reference}/jobs", Read, None, SCOPED),
    row("GET", "/api/v1/complaints/{reference}/mails", Read, None, SCOPED),
    row("GET", "/api/v1/complaints/{reference}/mails/{id}/raw", Read, None, SCOPED | MISSING_OK),
    row("GET", "/api/v1/complaints/{reference}/attachments", Read, None, SCOPED),
    row("GET", "/api/v1/complaints/{reference}/attachments/{id}", Read, None, SCOPED | MISSING_OK),
    row("GET", "/api/v1/complaints/{reference}/calls", Read, None, SCOPED),
    row("POST", "/api/v1/complaints/{reference}/route", Write, Some(r#"{"department": "payments"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/assign", Write, Some(r#"{"agent_id": "$AGENT"}"#), SCOPED),
    // Nobody holds it: an agent may release only what they hold.
    row("POST", "/api/v1/complaints/{reference}/unassign", Write, Some("{}"), SCOPED | AGENTS_REFUSED),
    row("POST", "/api/v1/complaints/{reference}/messages", Write, Some(r#"{"kind": "note", "body": "matrix"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/propose-solution", Write, Some(r#"{"text": "try this"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/request-information", Write, Some(r#"{"text": "tell us"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/player-replies", Write, Some(r#"{"text": "hello"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/resolve", Write, Some(r#"{"measures": "m", "result": "r"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/close", Write, Some("{}"), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/reopen", Write, Some(r#"{"reason": "again"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/merge", Write, Some(r#"{"target": "$TARGET"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/escalate", Write, Some(r#"{"reason": "urgent"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/deescalate", Write, Some("{}"), SCOPED | AGENTS_REFUSED),
    row("POST", "/api/v1/complaints/{reference}/priority", Write, Some(r#"{"priority": "high"}"#), SCOPED),
    row("POST", "/api/v1/complaints/{reference}/tags", Write, Some(r#"{"add": ["matrix"]}"#), SCOPED),
    row("GET", "/api/v1/departments", Any, None, 0),
    row("PUT", "/api/v1/departments/{code}", Admin, Some("{}"), 0),
    row("GET", "/api/v1/agents", Supervisor, None, 0),
    row("POST", "/api/v1/agents", Admin, Some("{}"), 0),
    row("PATCH", "/api/v1/agents/{login}", Admin, Some("{}"), MISSING_OK),
    row("POST", "/api/v1/agents/{login}/disable", Admin, None, MISSING_OK),
    row("POST", "/api/v1/agents/{login}/enable", Admin, None, MISSING_OK),
    row("PUT", "/api/v1/agents/{login}/extension", Admin, Some(r#"{"extension": "999"}"#), MISSING_OK),
    row("DELETE", "/api/v1/agents/{login}/extension", Admin, None, MISSING_OK),
    row("POST", "/api/v1/auth/login", Public, Some("{}"), 0),
    row("GET", "/api/v1/me", Any, None, 0),
    row("POST", "/api/v1/me/password", Agent, Some(r#"{"current_password": "not the password", "new_password": "another long password"}"#), 0),
    row("POST", "/api/v1/me/totp", Agent, None, 0),
    row("DELETE", "/api/v1/me/totp", Agent, Some(r#"{"code": "000000"}"#), 0),
    row("POST", "/api/v1/me/totp/confirm", Agent, Some(r#"{"code": "000000"}"#), 0),
    row("GET", "/api/v1/tokens", Admin, None, 0),
    row("POST", "/api/v1/tokens", Admin, Some("{}"), 0),
    row("DELETE", "/api/v1/tokens/{id}", Admin, None, MISSING_OK),
    row("GET", "/api/v1/audit/verify", Admin, None, 0),
    row("GET", "/api/v1/routing/rules", Supervisor, None, 0),
    row("PUT", "/api/v1/routing/rules", Admin, Some(r#"{"rule": []}"#), 0),
    row("POST", "/api/v1/routing/dry-run", Supervisor, Some(r#"{"subject": "s", "text": "where is my withdrawal"}"#), 0),
    row("POST", "/api/v1/routing/train", Admin, None, 0),
    row("GET", "/api/v1/sla", Supervisor, None, 0),
    row("PUT", "/api/v1/sla", Admin, Some("{}"), 0),
    row("GET", "/api/v1/sla/at-risk", Read, None, 0),
    row("GET", "/api/v1/faq", Public, None, 0),
    row("POST", "/api/v1/faq", Supervisor, Some("{}"), 0),
    row("GET", "/api/v1/faq/all", Supervisor, None, 0),
    row("PUT", "/api/v1/faq/{id}", Supervisor, Some("{}"), MISSING_OK),
    row("POST", "/api/v1/faq/{id}/feedback", Public, Some(r#"{"helpful": true}"#), MISSING_OK),
    row("POST", "/api/v1/cti/events", Cti, Some(r#"{"event": "ringing", "call_id": "matrix-1", "caller": "+77015550000", "called": "7172000000"}"#), 0),
    row("GET", "/api/v1/cti/extensions", Admin, None, 0),
    row("GET", "/api/v1/calls/{id}", Read, None, MISSING_OK),
    row("POST", "/api/v1/calls/{id}/complaint", Write, Some(r#"{"subject": "From a call", "description": "The player called"}"#), MISSING_OK),
    row("POST", "/api/v1/calls/{id}/attach", Write, Some(r#"{"reference": "$TARGET"}"#), MISSING_OK),
    row("GET", "/api/v1/players/{id}/calls", Read, None, MISSING_OK),
    row("GET", "/api/v1/callbacks", Read, None, 0),
    row("POST", "/api/v1/callbacks/{id}/done", Write, Some("{}"), MISSING_OK),
    row("GET", "/api/v1/chat/ws", Socket, None, 0),
    // Last: it ends the sessions it is called with.
    row("POST", "/api/v1/auth/logout", Any, None, 0),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    AgentA,
    AgentB,
    Supervisor,
    Admin,
    TokenRead,
    TokenWrite,
    TokenCti,
    TokenAdmin,
}

const EVERYONE: [Who; 9] = [Who::Anonymous, Who::AgentB, Who::TokenRead, Who::TokenWrite, Who::TokenCti, Who::TokenAdmin, Who::AgentA, Who::Supervisor, Who::Admin];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Unauthorized,
    Forbidden,
    NotFound,
    Allowed,
}

fn expected(r: &Row, who: Who) -> Answer {
    use Answer::*;
    use Who as W;
    let scoped_b = |a: Answer| if r.flags & SCOPED != 0 && who == W::AgentB { NotFound } else { a };
    if who == W::Anonymous {
        return if r.rule == Public { Allowed } else { Unauthorized };
    }
    match r.rule {
        Public | Any | Socket => Allowed,
        Read => match who {
            W::TokenWrite | W::TokenCti => Forbidden,
            _ => scoped_b(Allowed),
        },
        Write => match who {
            W::TokenRead | W::TokenCti => Forbidden,
            // Out of reach first (404), then the role's own rule.
            W::AgentB if r.flags & SCOPED != 0 => NotFound,
            W::AgentA | W::AgentB if r.flags & AGENTS_REFUSED != 0 => Forbidden,
            _ => Allowed,
        },
        Cti => match who {
            W::TokenCti | W::TokenAdmin => Allowed,
            _ => Forbidden,
        },
        Agent => match who {
            W::AgentA | W::AgentB | W::Supervisor | W::Admin => Allowed,
            _ => Forbidden,
        },
        Supervisor => match who {
            W::Supervisor | W::Admin | W::TokenAdmin => Allowed,
            _ => Forbidden,
        },
        Admin => match who {
            W::Admin | W::TokenAdmin => Allowed,
            _ => Forbidden,
        },
    }
}

fn class(r: &Row, want: Answer, status: StatusCode) -> Answer {
    // Where the path names nothing that exists, "out of reach" and "no such thing" are one.
    if r.flags & MISSING_OK != 0 && want == Answer::NotFound && status == StatusCode::NOT_FOUND {
        return Answer::NotFound;
    }
    match status.as_u16() {
        401 => Answer::Unauthorized,
        403 => Answer::Forbidden,
        404 if r.flags & MISSING_OK == 0 => Answer::NotFound,
        _ => Answer::Allowed,
    }
}

async fn token(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let (s, b) = app.call(Method::POST, "/api/v1/tokens", Some(&app.admin), Some(json!({"name": name, "scopes": scopes}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["token"].as_str().unwrap().to_string()
}

async fn matrix(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (agent_a_id, agent_a) = app.agent("agent_a", "agent", &["payments"]).await;
    let (_, agent_b) = app.agent("agent_b", "agent", &["verification"]).await;
    let (_, supervisor) = app.agent("super_a", "supervisor", &["payments"]).await;
    let credentials: BTreeMap<&str, String> = [
        ("AgentA", agent_a),
        ("AgentB", agent_b),
        ("Supervisor", supervisor),
        ("Admin", app.admin.clone()),
        ("TokenRead", token(&app, "read", &["complaints:read"]).await),
        ("TokenWrite", token(&app, "write", &["complaints:write"]).await),
        ("TokenCti", token(&app, "pbx", &["cti"]).await),
        ("TokenAdmin", token(&app, "root", &["admin"]).await),
    ]
    .into();
    let bearer = |who: Who| -> Option<String> { (who != Who::Anonymous).then(|| credentials[format!("{who:?}").as_str()].clone()) };

    // The document, the router and the table agree.
    let (s, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut in_doc: BTreeMap<(String, String), Value> = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            in_doc.insert((method.to_uppercase(), path.clone()), op.clone());
        }
    }
    let in_router: BTreeSet<(String, String)> = ombuds_web::api_routes().into_iter().map(|(m, p)| (m.to_string(), format!("/api/v1{p}"))).collect();
    let doc_keys: BTreeSet<(String, String)> = in_doc.keys().cloned().collect();
    assert_eq!(in_router.difference(&doc_keys).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "routes missing from the OpenAPI document");
    assert_eq!(doc_keys.difference(&in_router).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "documented operations the router lacks");
    let in_table: BTreeSet<(String, String)> = TABLE.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    assert_eq!(in_table.len(), TABLE.len(), "an operation is in the table twice");
    assert_eq!(doc_keys.difference(&in_table).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "operations missing from the authorization table");
    assert_eq!(in_table.difference(&doc_keys).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "table rows for operations that do not exist");
    for r in TABLE {
        let op = &in_doc[&(r.method.to_string(), r.path.to_string())];
        assert_eq!(Rule::of_doc(op), r.rule, "{} {}: the document states another rule than the table", r.method, r.path);
    }

    let mut failures = vec![];
    for r in TABLE {
        if r.rule == Socket {
            continue;
        }
        // A fresh complaint of the payments department (and a second of the same player) per
        // operation, so one caller's command does not decide what the next one meets.
        let c = app
            .register_json(json!({"subject": "Matrix", "description": "Where is my money", "department": "payments", "player": {"email": "player@example.com"}}))
            .await;
        let t = app
            .register_json(json!({"subject": "Matrix 2", "description": "And again", "department": "payments", "player": {"email": "player@example.com"}}))
            .await;
        let path = r
            .path
            .replace("{reference}", c["reference"].as_str().unwrap())
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{login}", "nobody")
            .replace("{code}", "payments");
        let body = r.body.map(|b| {
            let b = b.replace("$AGENT", &agent_a_id).replace("$TARGET", t["reference"].as_str().unwrap());
            serde_json::from_str::<Value>(&b).unwrap()
        });
        for who in EVERYONE {
            let method = Method::from_bytes(r.method.as_bytes()).unwrap();
            let (status, answer) = app.call(method, &path, bearer(who).as_deref(), body.clone()).await;
            let want = expected(r, who);
            let got = class(r, want, status);
            if want != got || status.is_server_error() || status == StatusCode::METHOD_NOT_ALLOWED {
                failures.push(format!("{} {} as {who:?}: want {want:?}, got {status} {answer}", r.method, r.path));
            }
            if matches!(got, Answer::Unauthorized | Answer::Forbidden | Answer::NotFound) {
                assert!(answer["type"].as_str().is_some_and(|t| t.starts_with("urn:ombuds:problem:")), "{} {} as {who:?}: {answer}", r.method, r.path);
            }
        }
    }
    assert!(failures.is_empty(), "{} refusals differ from the table:\n{}", failures.len(), failures.join("\n"));
}

ombuds_store::both_backends! { authorization_matrix => matrix }

// ------------------------------------------------------------------ scopes, one at a time

/// A `complaints:write` token registers (and gets back what it registered) and sends
/// commands, but reads nothing: no complaint, list, events, player calls or at-risk list.
async fn write_only(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let write = token(&app, "writer", &["complaints:write"]).await;
    let (s, c) = app
        .call(Method::POST, "/api/v1/complaints", Some(&write), Some(json!({"subject": "S", "description": "D", "player": {"email": "p@example.com"}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert!(c["reference"].is_string(), "the 201 answer carries the complaint it registered: {c}");
    let r = c["reference"].as_str().unwrap();
    for path in [
        format!("/api/v1/complaints/{r}"),
        format!("/api/v1/complaints/{r}/events"),
        format!("/api/v1/complaints/{r}/mails"),
        "/api/v1/complaints".into(),
        "/api/v1/sla/at-risk".into(),
        "/api/v1/callbacks".into(),
        format!("/api/v1/players/{}/calls", c["player_id"].as_str().unwrap()),
    ] {
        let (s, b) = app.call(Method::GET, &path, Some(&write), None).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{path}: {b}");
    }
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{r}/priority"), Some(&write), Some(json!({"priority": "high"}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "a command answers without the complaint: {b}");
    let (_, b) = app.call(Method::GET, &format!("/api/v1/complaints/{r}"), Some(&app.token), None).await;
    assert_eq!(b["priority"], "high");
}

ombuds_store::both_backends! { a_write_only_token_reads_nothing => write_only }

/// Scopes are written `complaints:write` in answers as on input; the old form is read.
async fn scope_names(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (s, b) = app.call(Method::POST, "/api/v1/tokens", Some(&app.admin), Some(json!({"name": "old", "scopes": ["complaints_read", "complaints:write"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["scopes"], json!(["complaints:read", "complaints:write"]));
    let t = b["token"].as_str().unwrap().to_string();
    let (_, me) = app.call(Method::GET, "/api/v1/me", Some(&t), None).await;
    assert_eq!(me["scopes"], json!(["complaints:read", "complaints:write"]), "{me}");
    let (_, list) = app.call(Method::GET, "/api/v1/tokens", Some(&app.admin), None).await;
    assert!(list.as_array().unwrap().iter().any(|x| x["scopes"] == json!(["complaints:read", "complaints:write"])), "{list}");
    assert!(!list.to_string().contains("complaints_"), "{list}");
    let (_, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert!(doc.to_string().contains("\"complaints:write\""));
    assert!(!doc.to_string().contains("complaints_write"));
}

ombuds_store::both_backends! { scope_names_are_the_same_everywhere => scope_names }

/// The agent list (with e-mail addresses) is for supervisors and administrators only.
async fn agent_list(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    let (_, supervisor) = app.agent("sara", "supervisor", &["payments"]).await;
    let cti = token(&app, "pbx", &["cti"]).await;
    for (who, bearer) in [("agent", &agent), ("cti token", &cti), ("complaints token", &app.token)] {
        let (s, b) = app.call(Method::GET, "/api/v1/agents", Some(bearer), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who}: {b}");
        assert!(!b.to_string().contains("@"), "{who}: {b}");
    }
    for bearer in [&supervisor, &app.admin] {
        let (s, b) = app.call(Method::GET, "/api/v1/agents", Some(bearer), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(b.as_array().unwrap().len() >= 3);
    }
}

ombuds_store::both_backends! { only_supervisors_list_agents => agent_list }

/// `/metrics` needs an administrator or a `metrics` token.
async fn metrics(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    let scraper = token(&app, "prometheus", &["metrics"]).await;
    let get = async |bearer: Option<&str>| {
        let mut req = app.http.get(format!("{}/metrics", app.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (res.status(), ct)
    };
    let (s, ct) = get(None).await;
    assert_eq!((s, ct.as_str()), (StatusCode::UNAUTHORIZED, "application/problem+json"));
    assert_eq!(get(Some(&agent)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(Some(&app.token)).await.0, StatusCode::FORBIDDEN);
    let (s, ct) = get(Some(&scraper)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(get(Some(&app.admin)).await.0, StatusCode::OK);
    // A metrics token reads nothing else.
    let (s, _) = app.call(Method::GET, "/api/v1/complaints", Some(&scraper), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

ombuds_store::both_backends! { metrics_need_a_token => metrics }

// ------------------------------------------------------------------ sessions

/// A password change ends every other session of the agent; the one that made it stays.
async fn password_change(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, first) = app.agent("dana", "agent", &["payments"]).await;
    let (_, b) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "dana", "password": common::AGENT_PASSWORD}))).await;
    let second = b["token"].as_str().unwrap().to_string();
    let (_, other) = app.agent("aliya", "agent", &["payments"]).await;
    for t in [&first, &second] {
        assert_eq!(app.call(Method::GET, "/api/v1/me", Some(t), None).await.0, StatusCode::OK);
    }
    let (s, b) = app.call(Method::POST, "/api/v1/me/password", Some(&first), Some(json!({"current_password": common::AGENT_PASSWORD, "new_password": "a brand new password"}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = app.call(Method::GET, "/api/v1/me", Some(&second), None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "the other session ended: {b}");
    assert_eq!(app.call(Method::GET, "/api/v1/me", Some(&first), None).await.0, StatusCode::OK, "the session that changed it stays");
    assert_eq!(app.call(Method::GET, "/api/v1/me", Some(&other), None).await.0, StatusCode::OK, "other agents are untouched");
    let (s, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "dana", "password": "a brand new password"}))).await;
    assert_eq!(s, StatusCode::OK);
}

ombuds_store::both_backends! { a_password_change_ends_the_other_sessions => password_change }

// ------------------------------------------------------------------ rejections

/// axum's own rejections answer problem documents with a stable type, like every refusal.
async fn rejections(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, r) = {
        let c = app.register_json(json!({"subject": "S", "description": "D", "player": {"email": "p@example.com"}})).await;
        ((), c["reference"].as_str().unwrap().to_string())
    };
    let send = async |req: reqwest::RequestBuilder| {
        let res = req.send().await.unwrap();
        let status = res.status();
        let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let text = res.text().await.unwrap();
        (status, ct, text)
    };
    let base = &app.base;
    let big = "x".repeat(200 * 1024);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        ("a path that is not UTF-8", app.http.get(format!("{base}/api/v1/faq/%FF%FE")).bearer_auth(&app.admin), 0, ""),
        ("a path parameter that is not UTF-8", app.http.put(format!("{base}/api/v1/faq/%C3%28")).bearer_auth(&app.admin).json(&json!({})), 400, "bad_request"),
        ("a duplicated query parameter", app.http.get(format!("{base}/api/v1/sla/at-risk?near_minutes=5&near_minutes=6")).bearer_auth(&app.admin), 0, ""),
        ("a duplicated query parameter (FAQ)", app.http.get(format!("{base}/api/v1/faq?lang=ru&lang=kk")), 0, ""),
        ("a query parameter of the wrong type", app.http.get(format!("{base}/api/v1/sla/at-risk?limit=many")).bearer_auth(&app.admin), 0, ""),
        ("an oversized form", app.http.post(format!("{base}/ui/login")).header("content-type", "application/x-www-form-urlencoded").body(format!("login={big}")), 413, "payload_too_large"),
        ("a form that is not one", app.http.post(format!("{base}/ui/login")).header("content-type", "text/csv").body("a,b"), 415, "unsupported_media_type"),
        ("a WebSocket request without its headers", app.http.get(format!("{base}/api/v1/chat/ws")), 400, "bad_request"),
        ("an unknown path", app.http.get(format!("{base}/api/v1/nothing/here")), 404, "not_found"),
        ("a wrong method", app.http.patch(format!("{base}/api/v1/complaints/{r}")).bearer_auth(&app.admin), 405, "method_not_allowed"),
    ];
    for (what, req, status, code) in cases {
        let (s, ct, text) = send(req).await;
        assert_eq!(ct, "application/problem+json", "{what}: {s} {ct} {text}");
        let b: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        assert!(s.is_client_error(), "{what}: {s}");
        assert_eq!(b["status"], json!(s.as_u16()), "{what}: {b}");
        assert_eq!(b["type"], json!(format!("urn:ombuds:problem:{}", b["code"].as_str().unwrap())), "{what}: {b}");
        if status != 0 {
            assert_eq!((s.as_u16(), b["code"].as_str().unwrap()), (status, code), "{what}: {b}");
        }
    }
    // Multipart without a boundary, where a handler takes multipart (the tracking page's reply).
    let (s, ct, text) = send(app.http.post(format!("{base}/track/{r}/reply")).header("content-type", "multipart/form-data").body("--x--")).await;
    assert!(s.is_client_error(), "{s} {text}");
    if !ct.starts_with("text/html") {
        assert_eq!(ct, "application/problem+json", "{s} {text}");
    }
}

ombuds_store::both_backends! { rejections_are_problem_documents => rejections }
