//! The chat console and the phone pop-up over real HTTP and WebSocket, on SQLite and on
//! PostgreSQL: the agent socket opened with the workspace's session cookie (and refused from any
//! other origin), the calls-only socket of the other pages, and the pop-up's cookie-and-CSRF
//! endpoints with every bad input refused and nothing changed.

mod common;
use common::{Jar, TestApp, encode, page, read};
use futures_util::{SinkExt, StreamExt};
use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The operator's site: the widget may open a socket from it, the console may not.
const SITE: &str = "https://www.operator.example";

ombuds_store::both_backends! {
    the_console_socket_takes_the_session_cookie_from_its_own_pages_only => cookie_socket,
    the_pop_up_acts_on_the_agents_own_calls_only => pop_up_actions,
}

/// (cookies, path, form fields, status, problem code)
type Case<'a> = (Option<&'a Jar>, String, Vec<(&'a str, &'a str)>, StatusCode, &'static str);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct App {
    t: TestApp,
    /// An API token with the `cti` scope.
    pbx: String,
}

async fn spawn(db: &TestDb) -> App {
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();
    let (login, password) = desk.ensure_admin().await.unwrap().unwrap();
    let web = ombuds_web::WebConfig {
        body_limit: 64 * 1024,
        chat: ombuds_web::chat::ChatWebConfig { allowed_origins: vec![SITE.into()], ..Default::default() },
        ..Default::default()
    };
    let app = ombuds_web::router(desk.clone(), &web);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
    let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut t = TestApp { base, http, desk, token: String::new(), admin: String::new() };
    let (s, b) = t.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    t.admin = b["token"].as_str().unwrap().to_string();
    let (_, b) = t.call(Method::POST, "/api/v1/tokens", Some(&t.admin), Some(json!({"name": "backend", "scopes": ["complaints:read", "complaints:write"]}))).await;
    t.token = b["token"].as_str().unwrap().to_string();
    let (_, b) = t.call(Method::POST, "/api/v1/tokens", Some(&t.admin), Some(json!({"name": "asterisk", "scopes": ["cti"]}))).await;
    let pbx = b["token"].as_str().unwrap().to_string();
    App { t, pbx }
}

impl App {
    /// Signs `login` in through the sign-in form: the browser's cookies.
    async fn sign_in(&self, login: &str) -> Jar {
        common::sign_in(&self.t, login, "ru").await
    }

    async fn connect(&self, path: &str, headers: &[(&str, &str)]) -> Result<Ws, StatusCode> {
        let mut req = format!("{}{path}", self.t.base.replacen("http", "ws", 1)).into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(StatusCode::from_u16(r.status().as_u16()).unwrap()),
            Err(e) => panic!("connect {path}: {e}"),
        }
    }

    async fn event(&self, body: Value) -> Value {
        let (s, b) = self.t.call(Method::POST, "/api/v1/cti/events", Some(&self.pbx), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// A pop-up action as the page's script posts it.
    async fn act(&self, jar: Option<&Jar>, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self.t.http.post(format!("{}{path}", self.t.base)).header("content-type", "application/x-www-form-urlencoded").body(encode(fields));
        if let Some(j) = jar {
            req = req.header("cookie", j.header());
        }
        read(req.send().await.unwrap()).await
    }

    async fn online(&self) -> bool {
        let (s, b) = self.t.call(Method::GET, "/chat/v1/status?department=payments&language=ru", None, None).await;
        assert_eq!(s, StatusCode::OK);
        b["online"].as_bool().unwrap()
    }
}

/// The next text frame of `kind`, reading the others.
async fn until(ws: &mut Ws, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next()).await.unwrap_or_else(|_| panic!("no {kind} frame within 10 s"));
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == kind {
                    return v;
                }
            }
            Some(Ok(Message::Close(c))) => panic!("closed while waiting for {kind}: {c:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended while waiting for {kind}: {other:?}"),
        }
    }
}

async fn cookie_socket(db: &TestDb) {
    let app = spawn(db).await;
    app.t.agent("dana", "agent", &["payments"]).await;
    app.t.agent("erlan", "agent", &["payments"]).await;
    let mut dana = app.sign_in("dana").await;
    let own = app.t.base.clone();

    // The page: signed out it sends to the sign-in; signed in it is the console, in Russian,
    // with a colleague to transfer to.
    let mut nobody = Jar::default();
    let (s, h, _) = page(&app.t, &mut nobody, "/ui/chat").await;
    assert_eq!((s, h.get("location").map(|l| l.to_str().unwrap())), (StatusCode::SEE_OTHER, Some("/ui/login")));
    let (s, h, body) = page(&app.t, &mut dana, "/ui/chat").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(body.contains("id=\"console\"") && body.contains("Ожидающие чаты") && body.contains("value=\"agent:erlan\""), "{body}");
    assert!(body.contains("<a href=\"/ui/chat\">Чаты</a>"), "the nav links the console: {body}");
    assert!(body.contains("/ui/assets/console.js"));
    let (s, _, js) = page(&app.t, &mut nobody, "/ui/assets/console.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(js.contains("only=calls"));

    // The script's texts: only for the signed-in.
    let (s, b) = read(app.t.http.get(format!("{own}/ui/chat/texts")).send().await.unwrap()).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (s, b) = read(app.t.http.get(format!("{own}/ui/chat/texts?lang=kk")).header("cookie", dana.header()).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((b["texts"]["console-accept"].as_str(), b["languages"]["kk"].as_str()), (Some("Қабылдау"), Some("Қазақша")), "{b}");

    // The session cookie opens the console from the desk's own page.
    let cookie = dana.header();
    let mut ws = app.connect("/api/v1/chat/ws", &[("cookie", &cookie), ("origin", &own)]).await.expect("the console opens");
    assert_eq!(until(&mut ws, "ready").await["agent"], "dana");
    assert_eq!(until(&mut ws, "queue").await["waiting"], json!([]));
    assert!(app.online().await, "the console makes dana online for chats");

    // From anywhere else, the same cookie opens nothing: another site, even the widget's
    // operator site, or no Origin at all; a session that is not valid is 401.
    for origin in [Some(SITE), Some("https://evil.example"), Some("null"), None] {
        let mut h = vec![("cookie", cookie.as_str())];
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        assert_eq!(app.connect("/api/v1/chat/ws", &h).await.err(), Some(StatusCode::FORBIDDEN), "origin {origin:?}");
    }
    let forged = format!("ombuds_session=omt_forged; ombuds_csrf={}", dana.get("ombuds_csrf").unwrap());
    assert_eq!(app.connect("/api/v1/chat/ws", &[("cookie", &forged), ("origin", &own)]).await.err(), Some(StatusCode::UNAUTHORIZED));
    // Bearer and first-frame authentication work as before, with or without an Origin.
    let (_, session) = app.t.agent("olga", "agent", &["payments"]).await;
    let mut by_frame = app.connect("/api/v1/chat/ws", &[]).await.unwrap();
    by_frame.send(Message::text(json!({"type": "auth", "token": session}).to_string())).await.unwrap();
    assert_eq!(until(&mut by_frame, "ready").await["agent"], "olga");
    let mut by_header = app.connect("/api/v1/chat/ws", &[("authorization", &format!("Bearer {session}")), ("origin", SITE)]).await.unwrap();
    assert_eq!(until(&mut by_header, "ready").await["agent"], "olga");
    drop((by_frame, by_header));
    ws.close(None).await.unwrap();
    drop(ws);

    // The other pages' calls-only socket: nobody is "online" for chats because of it.
    let started = tokio::time::Instant::now();
    while app.online().await {
        assert!(started.elapsed() < Duration::from_secs(10), "the consoles closed, yet payments/ru stays online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut calls = app.connect("/api/v1/chat/ws?only=calls", &[("cookie", &cookie), ("origin", &own)]).await.unwrap();
    let ready = until(&mut calls, "ready").await;
    assert_eq!((ready["agent"].as_str(), ready["only"].as_str()), (Some("dana"), Some("calls")));
    assert!(!app.online().await, "a calls-only socket takes no chats");
    // It takes no commands either.
    calls.send(Message::text(json!({"type": "accept", "chat_id": "0193a0c2-0000-7000-8000-000000000000"}).to_string())).await.unwrap();
    assert_eq!(until(&mut calls, "error").await["code"], "bad_frame");
}

async fn pop_up_actions(db: &TestDb) {
    let app = spawn(db).await;
    let (dana_id, _) = app.t.agent("dana", "agent", &["payments"]).await;
    app.t.agent("erlan", "agent", &["payments"]).await;
    let (s, b) = app.t.call(Method::PUT, "/api/v1/agents/dana/extension", Some(&app.t.admin), Some(json!({"extension": "101"}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let dana = app.sign_in("dana").await;
    let erlan = app.sign_in("erlan").await;
    let dana_csrf = dana.get("ombuds_csrf").unwrap();
    let erlan_csrf = erlan.get("ombuds_csrf").unwrap();
    let own = app.t.base.clone();
    let mut calls = app.connect("/api/v1/chat/ws?only=calls", &[("cookie", &dana.header()), ("origin", &own)]).await.unwrap();
    until(&mut calls, "ready").await;

    // A player with an open complaint calls; dana answers.
    let open = app
        .t
        .register_json(json!({"channel": "web", "department": "payments", "subject": "Вывод задерживается", "description": "Три дня жду вывод",
            "player": {"name": "Айгерим", "phone": "+7 701 123 45 67", "language": "ru"}}))
        .await;
    let reference = open["reference"].as_str().unwrap().to_string();
    let rung = app.event(json!({"event": "ringing", "call_id": "c-1", "caller": "87011234567", "called": "3300"})).await;
    let call = rung["call"]["id"].as_str().unwrap().to_string();
    app.event(json!({"event": "answered", "call_id": "c-1", "extension": "101"})).await;
    let frame = until(&mut calls, "call").await;
    assert_eq!((frame["id"].as_str(), frame["caller"].as_str()), (Some(call.as_str()), Some("+77011234567")));
    assert_eq!(frame["open_complaints"][0]["reference"], reference.as_str());

    let attach = format!("/ui/calls/{call}/attach");
    let before = app.t.call(Method::GET, &format!("/api/v1/calls/{call}"), Some(&app.t.token), None).await.1;
    // Refused: signed out, a wrong or missing CSRF token, another agent's call, no such call,
    // no reference or a malformed one, a complaint that does not exist.
    let nowhere = ombuds_core::ComplaintRef::from_bits(0x5eed_5eed).to_string();
    let cases: Vec<Case> = vec![
        (None, attach.clone(), vec![("csrf", &dana_csrf), ("reference", &reference)], StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some(&dana), attach.clone(), vec![("csrf", "not-the-token"), ("reference", &reference)], StatusCode::FORBIDDEN, "forbidden"),
        (Some(&dana), attach.clone(), vec![("reference", &reference)], StatusCode::FORBIDDEN, "forbidden"),
        (Some(&erlan), attach.clone(), vec![("csrf", &erlan_csrf), ("reference", &reference)], StatusCode::FORBIDDEN, "forbidden"),
        (Some(&dana), "/ui/calls/0193a0c2-0000-7000-8000-000000000000/attach".into(), vec![("csrf", &dana_csrf), ("reference", &reference)], StatusCode::NOT_FOUND, "not_found"),
        (Some(&dana), "/ui/calls/%3Cscript%3E/attach".into(), vec![("csrf", &dana_csrf), ("reference", &reference)], StatusCode::NOT_FOUND, "not_found"),
        (Some(&dana), attach.clone(), vec![("csrf", &dana_csrf)], StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (Some(&dana), attach.clone(), vec![("csrf", &dana_csrf), ("reference", "<b>")], StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (Some(&dana), attach.clone(), vec![("csrf", &dana_csrf), ("reference", &nowhere)], StatusCode::NOT_FOUND, "not_found"),
        (Some(&dana), format!("/ui/calls/{call}/complaint"), vec![("csrf", &dana_csrf), ("subject", " "), ("description", "")], StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (Some(&erlan), format!("/ui/calls/{call}/complaint"), vec![("csrf", &erlan_csrf), ("subject", "Тема"), ("description", "Текст")], StatusCode::FORBIDDEN, "forbidden"),
    ];
    for (jar, path, fields, status, code) in cases {
        let (s, b) = app.act(jar, &path, &fields).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{path} {fields:?}: {b}");
    }
    let (_, b) = app.act(Some(&dana), &format!("/ui/calls/{call}/complaint"), &[("csrf", &dana_csrf), ("subject", ""), ("description", "")]).await;
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["subject", "description"], "{b}");
    let after = app.t.call(Method::GET, &format!("/api/v1/calls/{call}"), Some(&app.t.token), None).await.1;
    assert_eq!(before, after, "a refused action changes nothing");

    // Added to the open complaint; again changes nothing.
    let (s, b) = app.act(Some(&dana), &attach, &[("csrf", &dana_csrf), ("reference", &reference)]).await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"reference": reference, "url": format!("/ui/complaints/{reference}")})));
    let (s, b) = app.act(Some(&dana), &attach, &[("csrf", &dana_csrf), ("reference", &reference)]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, linked) = app.t.call(Method::GET, &format!("/api/v1/complaints/{reference}/calls"), Some(&app.t.token), None).await;
    assert_eq!(linked.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect::<Vec<_>>(), [call.as_str()]);
    assert_eq!(linked[0]["agent_id"], dana_id.as_str());
    // Registered as a complaint of its own, it would be a second home: 409.
    let (s, b) = app.act(Some(&dana), &format!("/ui/calls/{call}/complaint"), &[("csrf", &dana_csrf), ("subject", "Тема"), ("description", "Текст")]).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{b}");

    // A second call becomes a complaint of its own, once.
    app.event(json!({"event": "ringing", "call_id": "c-2", "caller": "+77011234567", "called": "3300"})).await;
    let second = app.event(json!({"event": "answered", "call_id": "c-2", "extension": "101"})).await["call"]["id"].as_str().unwrap().to_string();
    until(&mut calls, "call").await;
    let path = format!("/ui/calls/{second}/complaint");
    let (s, b) = app.act(Some(&dana), &path, &[("csrf", &dana_csrf), ("subject", "Бонус не начислен"), ("description", "Игрок звонил: бонус за депозит не пришёл")]).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let made = b["reference"].as_str().unwrap().to_string();
    let (_, c) = app.t.call(Method::GET, &format!("/api/v1/complaints/{made}"), Some(&app.t.token), None).await;
    assert_eq!((c["channel"].as_str(), c["subject"].as_str(), c["player_id"].as_str()), (Some("phone"), Some("Бонус не начислен"), open["player_id"].as_str()));
    let (s, b) = app.act(Some(&dana), &path, &[("csrf", &dana_csrf), ("subject", "Бонус не начислен"), ("description", "Ещё раз")]).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{b}");
    let (s, b) = app.act(Some(&dana), &format!("/ui/calls/{second}/attach"), &[("csrf", &dana_csrf), ("reference", &reference)]).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{b}");
}
