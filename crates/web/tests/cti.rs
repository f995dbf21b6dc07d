//! The phone channel end to end over real HTTP, on SQLite and on PostgreSQL: a PBX posting
//! call events (JSON and forms), agents turning calls into complaints, callbacks, extensions,
//! and every kind of bad input refused with a problem document and nothing stored changed.

use ombuds_desk::live::LiveSignal;
use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

struct TestApp {
    base: String,
    http: Client,
    desk: Desk,
    /// The administrator's session.
    admin: String,
    /// An API token with the `cti` scope: the PBX.
    pbx: String,
    /// An API token with complaints:read/write: the operator's backend.
    backend: String,
}

impl TestApp {
    async fn spawn(db: &TestDb) -> TestApp {
        let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
        desk.seed_departments().await.unwrap();
        let (login, password) = desk.ensure_admin().await.unwrap().unwrap();
        let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig { body_limit: 16 * 1024, ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
        let mut t = TestApp { base, http: Client::new(), desk, admin: String::new(), pbx: String::new(), backend: String::new() };
        let (s, b) = t.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        t.admin = b["token"].as_str().unwrap().to_string();
        // The cti scope goes through the ordinary token API.
        let (s, b) = t.call(Method::POST, "/api/v1/tokens", Some(&t.admin), Some(json!({"name": "asterisk", "scopes": ["cti"]}))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["scopes"], json!(["cti"]));
        t.pbx = b["token"].as_str().unwrap().to_string();
        let (_, b) = t.call(Method::POST, "/api/v1/tokens", Some(&t.admin), Some(json!({"name": "backend", "scopes": ["complaints:read", "complaints:write"]}))).await;
        t.backend = b["token"].as_str().unwrap().to_string();
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
        read(req.send().await.unwrap()).await
    }

    /// A call event as JSON, from the PBX.
    async fn event(&self, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/api/v1/cti/events", Some(&self.pbx), Some(body)).await
    }

    /// A call event as a form, the way Asterisk's `CURL()` posts it.
    async fn form(&self, body: &str) -> (StatusCode, Value) {
        let req = self
            .http
            .post(format!("{}/api/v1/cti/events", self.base))
            .bearer_auth(&self.pbx)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        read(req.send().await.unwrap()).await
    }

    async fn raw(&self, bearer: Option<&str>, content_type: Option<&str>, body: &'static str) -> (StatusCode, Value, String) {
        let mut req = self.http.post(format!("{}/api/v1/cti/events", self.base)).body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let (s, b) = read(res).await;
        (s, b, ct)
    }

    async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    async fn agent(&self, login: &str, role: &str, departments: &[&str]) -> (String, String) {
        let (s, b) = self
            .call(Method::POST, "/api/v1/agents", Some(&self.admin), Some(json!({"login": login, "name": login, "role": role, "departments": departments, "password": "correct horse battery"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["agent"]["id"].as_str().unwrap().to_string();
        let (_, b) = self.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": "correct horse battery"}))).await;
        (id, b["token"].as_str().unwrap().to_string())
    }

    /// Everything a refused request must leave as it was: complaints, the chain, every call
    /// and callback.
    async fn fingerprint(&self, calls: &[&str]) -> Value {
        let (_, complaints) = self.get("/api/v1/complaints?limit=200", &self.backend).await;
        let chain = self.desk.verify_chain().await.unwrap();
        assert!(chain.broken.is_none());
        let mut all = vec![];
        for id in calls {
            all.push(self.get(&format!("/api/v1/calls/{id}"), &self.backend).await.1);
        }
        let (_, callbacks) = self.get("/api/v1/callbacks?status=all", &self.backend).await;
        json!({"complaints": complaints["items"], "chain": chain.checked, "calls": all, "callbacks": callbacks})
    }
}

async fn read(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn hours_ago(h: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(h)).to_string()
}

ombuds_store::both_backends! {
    a_call_reaches_an_agent_and_becomes_a_complaint => a_call_reaches_an_agent_and_becomes_a_complaint,
    missed_calls_and_voicemails_make_callbacks => missed_calls_and_voicemails_make_callbacks,
    bad_events_get_problems_and_change_nothing => bad_events,
    extensions_and_who_may_do_what => extensions_and_permissions,
}

async fn a_call_reaches_an_agent_and_becomes_a_complaint(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (dana_id, dana) = app.agent("dana", "agent", &["payments"]).await;
    let (s, b) = app.call(Method::PUT, "/api/v1/agents/dana/extension", Some(&app.admin), Some(json!({"extension": "101"}))).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"extension": "101", "login": "dana", "agent_id": dana_id})));
    // A player the desk knows by phone, with an open complaint.
    let (s, open) = app
        .call(Method::POST, "/api/v1/complaints", Some(&app.backend), Some(json!({
            "channel": "web", "department": "payments",
            "player": {"external_id": "P-104233", "name": "Айгерим Сапарова", "phone": "+7 701 123 45 67", "language": "kk"},
            "subject": "Ақша шығару кешігіп жатыр", "description": "Үш күн бұрын өтінім бердім"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{open}");
    let mut live = app.desk.live().subscribe();

    // The PBX: ringing as JSON, answered as a form (Asterisk), hang-up, recording.
    let (s, rung) = app.event(json!({"event": "ringing", "call_id": "1732530000.42", "caller": "8-701-123-45-67", "called": "3300", "direction": "inbound"})).await;
    assert_eq!(s, StatusCode::OK, "{rung}");
    assert_eq!(rung["changed"], true);
    let call = &rung["call"];
    assert_eq!((call["status"].as_str(), call["phone"].as_str()), (Some("ringing"), Some("+77011234567")));
    assert_eq!(call["player_id"], open["player_id"], "matched by the number in E.164");
    let id = call["id"].as_str().unwrap().to_string();
    let (s, b) = app.form("event=answered&call_id=1732530000.42&extension=101&agent=&url=").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["changed"].as_bool(), b["call"]["status"].as_str(), b["call"]["agent_id"].as_str()), (Some(true), Some("answered"), Some(dana_id.as_str())));
    let frame = loop {
        match tokio::time::timeout(Duration::from_secs(10), live.recv()).await.expect("the agent is told").unwrap() {
            LiveSignal::ToAgent { agent_id, frame } if agent_id.to_string() == dana_id => break frame,
            _ => continue,
        }
    };
    assert_eq!((frame["type"].as_str(), frame["status"].as_str(), frame["caller"].as_str()), (Some("call"), Some("answered"), Some("+77011234567")));
    assert_eq!((frame["id"].as_str(), frame["call_id"].as_str()), (Some(id.as_str()), Some("1732530000.42")));
    assert_eq!(frame["player"]["external_id"], "P-104233");
    assert_eq!(frame["open_complaints"], json!([{"reference": open["reference"], "subject": "Ақша шығару кешігіп жатыр", "status": "routed", "department": "payments"}]));
    // The same events again change nothing (and tell nobody again).
    let (s, b) = app.form("event=answered&call_id=1732530000.42&extension=101").await;
    assert_eq!((s, b["changed"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, b) = app.form("event=hangup&call_id=1732530000.42&cause=NORMAL_CLEARING&duration_s=95").await;
    assert_eq!((s, b["call"]["status"].as_str(), b["call"]["duration_s"].as_i64()), (StatusCode::OK, Some("ended"), Some(95)));
    let (s, again) = app.event(json!({"event": "hangup", "call_id": "1732530000.42", "cause": "NORMAL_CLEARING", "duration_s": 95})).await;
    assert_eq!((s, again["changed"].as_bool()), (StatusCode::OK, Some(false)));
    assert_eq!(again["call"], b["call"]);
    let (s, b) = app.event(json!({"event": "recording", "call_id": 1732530000.42, "url": "https://pbx.example/rec/1732530000.42.wav"})).await;
    assert_eq!((s, b["call"]["recording_url"].as_str()), (StatusCode::OK, Some("https://pbx.example/rec/1732530000.42.wav")), "{b}");
    assert!(live.try_recv().is_err(), "nobody was told twice");

    // Logged on the player.
    let player = open["player_id"].as_str().unwrap();
    let (s, calls) = app.get(&format!("/api/v1/players/{player}/calls"), &dana).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(calls.as_array().unwrap().len(), 1);
    assert_eq!(calls[0]["id"], id.as_str());

    // The agent registers a complaint from it: the call is its first message.
    let (s, made) = app
        .call(Method::POST, &format!("/api/v1/calls/{id}/complaint"), Some(&dana), Some(json!({"subject": "Бонус не начислен", "description": "Игрок звонил: бонус за депозит не пришёл", "language": "ru"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let reference = made["complaint"]["reference"].as_str().unwrap().to_string();
    assert_eq!((made["complaint"]["channel"].as_str(), made["complaint"]["player_id"].as_str()), (Some("phone"), Some(player)));
    assert_eq!(made["call"]["complaint_id"], made["complaint"]["id"]);
    let (_, c) = app.get(&format!("/api/v1/complaints/{reference}"), &app.backend).await;
    let msgs = c["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0]["kind"].as_str(), msgs[0]["channel"].as_str()), (Some("inbound"), Some("phone")));
    let text = msgs[0]["body"].as_str().unwrap();
    for part in ["from 8-701-123-45-67 to 3300", "by dana (extension 101)", "95 s (NORMAL_CLEARING)", "Recording: https://pbx.example/rec/1732530000.42.wav", "PBX call id: 1732530000.42"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let (_, jobs) = app.get(&format!("/api/v1/complaints/{reference}/jobs"), &app.backend).await;
    assert_eq!(jobs.as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["acknowledge", "sla_timer"], "the call itself sends nothing (beside the acknowledgment: the SLA timer)");
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{id}/complaint"), Some(&dana), Some(json!({"subject": "x", "description": "y"}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    assert_eq!(b["detail"], format!("the call is already part of complaint {reference}"));

    // A second call, added to the open complaint (once), then refused for another one.
    app.form("event=ringing&call_id=c2&caller=87011234567&called=3300").await;
    let (_, b) = app.form("event=hangup&call_id=c2&cause=NOANSWER").await;
    let c2 = b["call"]["id"].as_str().unwrap().to_string();
    let first = open["reference"].as_str().unwrap();
    let (s, added) = app.call(Method::POST, &format!("/api/v1/calls/{c2}/attach"), Some(&app.backend), Some(json!({"reference": first}))).await;
    assert_eq!(s, StatusCode::OK, "{added}");
    assert_eq!(added["call"]["complaint_id"], open["id"]);
    let (s, _) = app.call(Method::POST, &format!("/api/v1/calls/{c2}/attach"), Some(&app.backend), Some(json!({"reference": first}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = app.get(&format!("/api/v1/complaints/{first}"), &app.backend).await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 1, "added once");
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{c2}/attach"), Some(&app.backend), Some(json!({"reference": reference}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (s, list) = app.get(&format!("/api/v1/complaints/{first}/calls"), &app.backend).await;
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 1));
    // Agents see complaints of their departments only: the triage complaint is out of reach.
    let (s, _) = app.call(Method::POST, &format!("/api/v1/calls/{c2}/attach"), Some(&dana), Some(json!({"reference": reference}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(app.desk.verify_chain().await.unwrap().broken.is_none());
}

async fn missed_calls_and_voicemails_make_callbacks(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, dana) = app.agent("dana", "agent", &["payments"]).await;
    // Missed three hours ago (the PBX's queue delivered it late): due within two, overdue now.
    let (s, b) = app.event(json!({"event": "hangup", "call_id": "m1", "caller": "+7 777 000 11 22", "called": "3300", "at": hours_ago(3), "cause": "NOANSWER"})).await;
    assert_eq!((s, b["call"]["status"].as_str()), (StatusCode::OK, Some("missed")), "a hang-up first starts the call from its numbers");
    let m1 = b["call"].clone();
    assert!(m1["player_id"].is_string(), "an unknown number makes a player");
    // A second missed call from the number joins the open callback; its voicemail, posted
    // after the hang-up as the Asterisk dialplan does, raises it to a voicemail.
    app.form("event=ringing&call_id=m2&caller=87770001122&called=3300").await;
    let (_, b) = app.form("event=hangup&call_id=m2&cause=NOANSWER&duration_s=0").await;
    assert_eq!(b["call"]["status"], "missed");
    let (_, open) = app.get("/api/v1/callbacks", &dana).await;
    assert_eq!((open[0]["calls"].as_i64(), open[0]["reason"].as_str()), (Some(2), Some("missed")));
    assert_eq!(b["call"]["callback_id"], open[0]["id"]);
    let (s, b) = app.form("event=voicemail&call_id=m2&url=%2Fvar%2Fspool%2Fasterisk%2Fvoicemail%2Fdefault%2F3300%2FINBOX%2Fmsg0000.wav").await;
    assert_eq!((s, b["call"]["status"].as_str()), (StatusCode::OK, Some("voicemail")), "{b}");
    assert_eq!((b["call"]["player_id"].as_str(), b["call"]["ended_at"].is_string()), (m1["player_id"].as_str(), true));
    // A voicemail left while still ringing, then the hang-up: ended, still a voicemail.
    app.form("event=ringing&call_id=m6&caller=87770001122&called=3300").await;
    app.form("event=voicemail&call_id=m6&url=https%3A%2F%2Fpbx.example%2Fvm%2Fm6.wav").await;
    let (_, b) = app.form("event=hangup&call_id=m6&duration_s=31").await;
    assert_eq!((b["changed"].as_bool(), b["call"]["status"].as_str(), b["call"]["ended_at"].is_string()), (Some(true), Some("voicemail"), true));
    // A withheld number: logged, no player, no callback.
    let (s, b) = app.form("event=hangup&call_id=m3&caller=&called=3300").await;
    assert_eq!((s, b["call"]["player_id"].is_null(), b["call"]["callback_id"].is_null()), (StatusCode::OK, true, true));
    let (s, list) = app.get("/api/v1/callbacks", &dana).await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let cb = &list[0];
    assert_eq!((cb["phone"].as_str(), cb["reason"].as_str(), cb["calls"].as_i64(), cb["status"].as_str()), (Some("+77770001122"), Some("voicemail"), Some(3), Some("open")));
    assert_eq!((cb["overdue"].as_bool(), cb["call_id"].as_str()), (Some(true), m1["id"].as_str()));
    let due: jiff::Timestamp = cb["due_at"].as_str().unwrap().parse().unwrap();
    let missed_at: jiff::Timestamp = m1["ended_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due.duration_since(missed_at), jiff::SignedDuration::from_hours(2), "the callback's own deadline");
    // Done, once; then listed as done.
    let path = format!("/api/v1/callbacks/{}/done", cb["id"].as_str().unwrap());
    let (s, b) = app.call(Method::POST, &path, Some(&dana), Some(json!({"note": "Дозвонились, объяснили задержку"}))).await;
    assert_eq!((s, b["status"].as_str(), b["overdue"].as_bool(), b["done_by"]["type"].as_str()), (StatusCode::OK, Some("done"), Some(false), Some("agent")));
    let (s, again) = app.call(Method::POST, &path, Some(&dana), Some(json!({"note": "другое"}))).await;
    assert_eq!((s, again["note"].as_str()), (StatusCode::OK, Some("Дозвонились, объяснили задержку")), "the first record stands");
    let (_, open) = app.get("/api/v1/callbacks?status=open", &dana).await;
    assert_eq!(open, json!([]));
    let (_, done) = app.get("/api/v1/callbacks?status=done&limit=5", &dana).await;
    assert_eq!(done.as_array().unwrap().len(), 1);
    // A new missed call opens a new callback; the player calling again and getting through
    // closes it by itself.
    app.form("event=hangup&call_id=m4&caller=87770001122&called=3300").await;
    let (_, open) = app.get("/api/v1/callbacks", &dana).await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    app.form("event=ringing&call_id=m5&caller=87770001122&called=3300").await;
    app.form("event=answered&call_id=m5&agent=dana").await;
    let (_, open) = app.get("/api/v1/callbacks", &dana).await;
    assert_eq!(open, json!([]));
    let (_, all) = app.get("/api/v1/callbacks?status=all", &dana).await;
    assert_eq!(all[1]["done_by"]["type"], "agent");
    assert_eq!(all[1]["note"], "call m5 answered");
    // Bad list parameters.
    for bad in ["status=lost", "limit=0", "limit=201", "colour=red"] {
        let (s, b) = app.get(&format!("/api/v1/callbacks?{bad}"), &dana).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")), "{bad}");
    }
    let (s, _) = app.call(Method::POST, &format!("/api/v1/callbacks/{}/done", uuid::Uuid::now_v7()), Some(&dana), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call(Method::POST, "/api/v1/callbacks/nope/done", Some(&dana), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn bad_events(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, dana) = app.agent("dana", "agent", &["payments"]).await;
    let (_, b) = app.event(json!({"event": "ringing", "call_id": "k1", "caller": "87011234567", "called": "3300"})).await;
    let k1 = b["call"]["id"].as_str().unwrap().to_string();
    let (_, b) = app.event(json!({"event": "hangup", "call_id": "k2", "caller": "87012223344", "called": "3300"})).await;
    let k2 = b["call"]["id"].as_str().unwrap().to_string();
    let before = app.fingerprint(&[&k1, &k2]).await;
    let problem = |b: &Value| (b["status"].as_u64().unwrap(), b["code"].as_str().unwrap().to_string());
    let ringing = r#"{"event": "ringing", "call_id": "k9", "caller": "87011234567", "called": "3300"}"#;

    // Credentials: none, forged, another kind; scope: a token without cti, an agent.
    let (s, b, ct) = app.raw(None, Some("application/json"), ringing).await;
    assert_eq!((s, problem(&b), ct.as_str()), (StatusCode::UNAUTHORIZED, (401, "unauthorized".into()), "application/problem+json"));
    let (s, b, _) = app.raw(Some("omt_forged-token"), Some("application/json"), ringing).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("authentication required: the API token is unknown or revoked")));
    let (s, _, _) = app.raw(Some("Basic YWRtaW46YWRtaW4="), Some("application/json"), ringing).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b, _) = app.raw(Some(&app.backend), Some("application/json"), ringing).await;
    assert_eq!(
        (s, b),
        (StatusCode::FORBIDDEN, json!({"type": "urn:ombuds:problem:forbidden", "title": "Not allowed", "status": 403, "code": "forbidden", "detail": "call events are posted with an API token that has the cti scope"}))
    );
    let (s, _, _) = app.raw(Some(&dana), Some("application/json"), ringing).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A token without cti learns nothing from a garbage body either: 403 before parsing.
    let (s, _, _) = app.raw(Some(&app.backend), Some("application/json"), "{not json").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // And the cti token reads nothing else.
    let (s, _) = app.get(&format!("/api/v1/calls/{k1}"), &app.pbx).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app.get("/api/v1/complaints", &app.pbx).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "a cti token lists no complaints: {b}");

    // Garbage bodies.
    let (s, b, _) = app.raw(Some(&app.pbx), Some("application/json"), "{\"event\": ").await;
    assert_eq!((s, problem(&b)), (StatusCode::BAD_REQUEST, (400, "malformed_json".into())));
    let (s, b, _) = app.raw(Some(&app.pbx), Some("text/plain"), "event=ringing").await;
    assert_eq!((s, problem(&b)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, (415, "unsupported_media_type".into())));
    let (s, b, _) = app.raw(Some(&app.pbx), Some("application/x-www-form-urlencoded"), "event=ringing&call_id=%zz").await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("the form cannot be read: a '%' is not followed by two hex digits")));
    let (s, b, _) = app.raw(Some(&app.pbx), Some("application/json"), "[1, 2]").await;
    assert_eq!((s, problem(&b)), (StatusCode::UNPROCESSABLE_ENTITY, (422, "validation_failed".into())));
    let (s, b, _) = app.raw(Some(&app.pbx), Some("application/json"), "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = |b: &Value| b["errors"].as_array().unwrap().iter().map(|e| format!("{}:{}", e["field"].as_str().unwrap(), e["code"].as_str().unwrap())).collect::<Vec<_>>();
    assert_eq!(fields(&b), ["event:required", "call_id:required"]);
    let (s, b) = app.event(json!({"event": "ringing", "call_id": "k9", "caller": "87011234567", "called": "3300", "calling": "typo"})).await;
    assert_eq!((s, b["detail"].as_str().map(|d| d.starts_with("unknown field `calling`"))), (StatusCode::UNPROCESSABLE_ENTITY, Some(true)));
    let (s, b) = app.form("event=ringing&call_id=k9&call_id=k10&caller=1&called=2").await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["call_id:duplicate_field".to_string()]));
    let (s, b) = app
        .event(json!({"event": "rang", "call_id": "k 9", "at": "yesterday", "direction": "sideways", "extension": "1 01", "duration_s": -1, "url": "javascript:alert(1)"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&b), ["event:invalid_value", "call_id:invalid_call_id", "at:invalid_timestamp", "direction:invalid_value", "extension:invalid_extension", "duration_s:out_of_range", "url:invalid_url"]);
    let (s, b) = app.event(json!({"event": "ringing", "call_id": "k9", "caller": "87011234567"})).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["called:required".to_string()]));
    let (s, b) = app.event(json!({"event": "voicemail", "call_id": "k2"})).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["url:required".to_string()]));
    let (s, b) = app.event(json!({"event": "hangup", "call_id": "k9", "at": (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string()})).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["at:in_future".to_string()]));
    let (s, b) = app.event(json!({"event": "answered", "call_id": "k1", "agent": "nobody"})).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["agent:unknown_agent".to_string()]));
    let big = format!(r#"{{"event": "hangup", "call_id": "k1", "cause": "{}"}}"#, "x".repeat(20_000));
    let res = app.http.post(format!("{}/api/v1/cti/events", app.base)).bearer_auth(&app.pbx).header("content-type", "application/json").body(big).send().await.unwrap();
    let (s, b) = read(res).await;
    assert_eq!((s, problem(&b)), (StatusCode::PAYLOAD_TOO_LARGE, (413, "payload_too_large".into())));

    // Unknown calls: without numbers there is nothing to start from.
    let (s, b) = app.event(json!({"event": "answered", "call_id": "nope", "extension": "101"})).await;
    assert_eq!(
        (s, b),
        (StatusCode::NOT_FOUND, json!({"type": "urn:ombuds:problem:not_found", "title": "Not found", "status": 404, "code": "not_found",
            "detail": "no call 'nope' is known: report it with a ringing event first, or give caller and called with this one"}))
    );
    let (s, b) = app.event(json!({"event": "recording", "call_id": "nope", "caller": "1", "called": "2", "url": "https://pbx/r.wav"})).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::NOT_FOUND, Some("no call 'nope' is known: a recording is for a call reported before")));
    // Out of order: an answer stamped after the unanswered hang-up; a voicemail on an
    // answered call; the same call id from another number or direction.
    let (s, b) = app.event(json!({"event": "answered", "call_id": "k2", "extension": "101"})).await;
    assert_eq!((s, problem(&b)), (StatusCode::CONFLICT, (409, "conflict".into())));
    assert!(b["detail"].as_str().unwrap().starts_with("call 'k2' ended unanswered at "), "{b}");
    let (s, b) = app.event(json!({"event": "recording", "call_id": "k2", "url": "https://pbx/r.wav"})).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::CONFLICT, Some("call 'k2' was not answered: send a caller's message as a voicemail event")));
    let (s, b) = app.event(json!({"event": "ringing", "call_id": "k1", "caller": "87770000000", "called": "3300"})).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::CONFLICT, Some("call 'k1' is known with caller '87011234567', not '87770000000'")));
    let (s, _) = app.event(json!({"event": "hangup", "call_id": "k1", "direction": "outbound"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Duplicates: 200, unchanged.
    let (s, b) = app.event(json!({"event": "ringing", "call_id": "k1", "caller": "+7 701 123 45 67", "called": "3300"})).await;
    assert_eq!((s, b["changed"].as_bool()), (StatusCode::OK, Some(false)), "the same number, written another way");
    let (s, b) = app.event(json!({"event": "hangup", "call_id": "k2"})).await;
    assert_eq!((s, b["changed"].as_bool()), (StatusCode::OK, Some(false)));
    // Calls and callbacks: bad ids and unknown ones.
    for path in ["/api/v1/calls/nope", &format!("/api/v1/calls/{}", uuid::Uuid::now_v7()), &format!("/api/v1/players/{}/calls", uuid::Uuid::now_v7())] {
        let (s, b) = app.get(path, &app.backend).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
    }
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{k1}/complaint"), Some(&dana), Some(json!({"subject": "  ", "kind": "rant"}))).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["kind:invalid_value".to_string(), "subject:required".into(), "description:required".into()]));
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{k1}/complaint"), Some(&app.pbx), Some(json!({"subject": "x", "description": "y"}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{k1}/attach"), Some(&app.backend), Some(json!({"reference": "000-000-000"}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, b) = app.call(Method::POST, &format!("/api/v1/calls/{k1}/attach"), Some(&app.backend), Some(json!({}))).await;
    assert_eq!((s, fields(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["reference:required".to_string()]));

    // Nothing stored changed.
    assert_eq!(app.fingerprint(&[&k1, &k2]).await, before);
    let (_, b) = app.get("/api/v1/calls/nope", &app.backend).await;
    assert_eq!(b["detail"], "no call 'nope'");
}

async fn extensions_and_permissions(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (dana_id, dana) = app.agent("dana", "agent", &["payments"]).await;
    let (erlan_id, _) = app.agent("erlan", "agent", &["payments"]).await;
    let put = |login: &'static str, body: Value, who: String| {
        let app = &app;
        async move { app.call(Method::PUT, &format!("/api/v1/agents/{login}/extension"), Some(&who), Some(body)).await }
    };
    assert_eq!(put("dana", json!({"extension": "101"}), app.admin.clone()).await.0, StatusCode::OK);
    let (s, b) = put("erlan", json!({"extension": "101"}), app.admin.clone()).await;
    assert_eq!((s, b["detail"].as_str()), (StatusCode::CONFLICT, Some("extension '101' belongs to another agent")));
    assert_eq!(put("erlan", json!({"extension": "102"}), app.admin.clone()).await.0, StatusCode::OK);
    // Moving dana to another extension frees 101.
    assert_eq!(put("dana", json!({"extension": "103"}), app.admin.clone()).await.0, StatusCode::OK);
    let (s, list) = app.get("/api/v1/cti/extensions", &app.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list, json!([{"extension": "102", "login": "erlan", "agent_id": erlan_id}, {"extension": "103", "login": "dana", "agent_id": dana_id}]));
    let (s, b) = put("dana", json!({"extension": "10 1"}), app.admin.clone()).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_extension")));
    let (s, b) = put("dana", json!({}), app.admin.clone()).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("required")));
    let (s, _) = put("nobody", json!({"extension": "104"}), app.admin.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = put("dana", json!({"extension": "104"}), dana.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put("dana", json!({"extension": "104"}), app.pbx.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.get("/api/v1/cti/extensions", &dana).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An extension nobody has: the call is answered, nobody is told.
    app.form("event=ringing&call_id=x1&caller=87011234567&called=3300").await;
    let (s, b) = app.form("event=answered&call_id=x1&extension=999").await;
    assert_eq!((s, b["call"]["extension"].as_str(), b["call"]["agent_id"].is_null()), (StatusCode::OK, Some("999"), true));
    // A transfer to dana's extension reaches her.
    let (_, b) = app.form("event=answered&call_id=x1&extension=103").await;
    assert_eq!((b["changed"].as_bool(), b["call"]["agent_id"].as_str()), (Some(true), Some(dana_id.as_str())));
    let (s, _) = app.call(Method::DELETE, "/api/v1/agents/dana/extension", Some(&app.admin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/api/v1/cti/extensions", &app.admin).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The OpenAPI document lists the phone endpoints.
    let (_, spec) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    for p in ["/api/v1/cti/events", "/api/v1/calls/{id}/complaint", "/api/v1/calls/{id}/attach", "/api/v1/callbacks", "/api/v1/callbacks/{id}/done", "/api/v1/agents/{login}/extension", "/api/v1/players/{id}/calls"] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
    let (_, b) = app.call(Method::GET, "/api/v1/tokens", Some(&app.admin), None).await;
    assert!(b.as_array().unwrap().iter().any(|t| t["scopes"] == json!(["cti"])));
}
