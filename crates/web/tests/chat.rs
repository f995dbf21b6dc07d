//! Live chat end to end over real HTTP and real WebSockets, on SQLite and on PostgreSQL; and
//! two nodes on one PostgreSQL database, the player on one and the agent on the other.

use futures_util::{SinkExt, StreamExt};
use ombuds_desk::chat::ChatConfig;
use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SECRET: &str = "a-shared-secret-of-at-least-32-characters";
const SITE: &str = "https://www.operator.example";

struct Node {
    base: String,
    ws: String,
    http: Client,
    desk: Desk,
}

async fn node(store: ombuds_store::Store, per_minute: u32) -> Node {
    let config = DeskConfig {
        chat: ChatConfig { identity_secret: Some(SECRET.as_bytes().to_vec()), ..Default::default() },
        ..Default::default()
    };
    let desk = Desk::with_store(store, config).await;
    let web = ombuds_web::WebConfig {
        body_limit: 64 * 1024,
        chat: ombuds_web::chat::ChatWebConfig { allowed_origins: vec![SITE.into()], messages_per_minute: per_minute, burst: 20 },
        ..Default::default()
    };
    let app = ombuds_web::router(desk.clone(), &web);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
    Node { base: format!("http://{addr}"), ws: format!("ws://{addr}"), http: Client::new(), desk }
}

impl Node {
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

    /// An agent of `departments` speaking ru and kk, and their session token.
    async fn agent(&self, admin: &str, login: &str, departments: &[&str]) -> String {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/agents",
                Some(admin),
                Some(json!({"login": login, "name": format!("Agent {login}"), "role": "agent", "departments": departments, "languages": ["ru", "kk"], "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        self.login(login).await
    }

    async fn login(&self, login: &str) -> String {
        let (s, b) = self.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": "correct horse battery"}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    async fn admin(&self) -> String {
        let (login, password) = self.desk.ensure_admin().await.unwrap().unwrap();
        let (s, b) = self.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    async fn start(&self, body: Value) -> Value {
        let (s, b) = self.call(Method::POST, "/chat/v1/chats", None, Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    async fn connect(&self, path: &str, headers: &[(&str, &str)]) -> Result<Ws, http::StatusCode> {
        let mut req = format!("{}{path}", self.ws).into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status()),
            Err(e) => panic!("connect {path}: {e}"),
        }
    }

    async fn player(&self, started: &Value, after: i64) -> Ws {
        let mut ws = self.connect("/chat/v1/ws", &[("origin", SITE)]).await.unwrap();
        send(&mut ws, json!({"type": "hello", "chat_id": started["chat_id"], "secret": started["secret"], "after": after})).await;
        ws
    }

    async fn console(&self, token: &str) -> Ws {
        let mut ws = self.connect("/api/v1/chat/ws", &[("authorization", &format!("Bearer {token}"))]).await.unwrap();
        assert_eq!(until(&mut ws, "ready").await["type"], "ready");
        ws
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next frame, or `None` on close (with the close code and reason in the panic-free path).
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a frame within 10 s") {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Skips frames until one of type `kind`.
async fn until(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let f = next(ws).await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if f["type"] == kind {
            return f;
        }
    }
}

/// The close frame's code and reason.
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("closed within 10 s") {
            Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (0, String::new()),
            Some(Ok(_)) => {}
        }
    }
}

/// Nothing but queue updates arrives for a moment.
async fn quiet(ws: &mut Ws) {
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout_at(until, ws.next()).await {
        if !t.contains("\"type\":\"queue\"") {
            panic!("expected silence, got {t}");
        }
    }
}

/// The next line written by `party` (each side also sees its own lines).
async fn from(ws: &mut Ws, party: &str) -> Value {
    loop {
        let m = until(ws, "msg").await;
        if m["from"] == party {
            return m;
        }
    }
}

/// The first queue update that lists `n` waiting chats.
async fn queue_of(ws: &mut Ws, n: usize) -> Value {
    loop {
        let q = until(ws, "queue").await;
        if q["waiting"].as_array().unwrap().len() == n {
            return q;
        }
    }
}

// --------------------------------------------------------------------------------- one node

async fn conversation(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    let (s, b) = n.call(Method::GET, "/chat/v1/status?department=payments&language=kk", None, None).await;
    assert_eq!((s, &b["online"]), (StatusCode::OK, &json!(false)), "nobody is online yet: {b}");

    let daniyar = n.agent(&admin, "daniyar", &["payments"]).await;
    let mut agent = n.console(&daniyar).await;
    assert_eq!(until(&mut agent, "queue").await["waiting"], json!([]));
    let (_, b) = n.call(Method::GET, "/chat/v1/status?department=payments&language=kk", None, None).await;
    assert_eq!((&b["online"], &b["agents"]), (&json!(true), &json!(1)));
    let (_, b) = n.call(Method::GET, "/chat/v1/status?department=security&language=kk", None, None).await;
    assert_eq!(b["online"], json!(false), "no agent of that department");

    let started = n.start(json!({"name": "Айгуль", "email": "aigul@example.kz", "language": "kk", "department": "payments", "text": "Менің төлемім қайда?"})).await;
    let chat_id = started["chat_id"].clone();
    assert!(started["reference"].as_str().unwrap().len() >= 8);
    let q = queue_of(&mut agent, 1).await;
    assert_eq!(q["waiting"][0]["chat_id"], chat_id, "{q}");
    assert_eq!(q["waiting"][0]["preview"], "Менің төлемім қайда?");

    let mut player = n.player(&started, 0).await;
    let w = until(&mut player, "welcome").await;
    assert_eq!((&w["status"], &w["reference"]), (&json!("waiting"), &started["reference"]));
    let first = until(&mut player, "msg").await;
    assert_eq!((&first["from"], &first["text"], &first["seq"]), (&json!("player"), &json!("Менің төлемім қайда?"), &started["seq"]));

    send(&mut agent, json!({"type": "accept", "chat_id": chat_id})).await;
    let c = until(&mut agent, "chat").await;
    assert_eq!((&c["status"], &c["reference"]), (&json!("active"), &started["reference"]));
    assert_eq!(until(&mut agent, "msg").await["text"], "Менің төлемім қайда?", "the transcript so far");
    let st = until(&mut player, "status").await;
    assert_eq!((&st["status"], &st["agent"]), (&json!("active"), &json!("Agent daniyar")));

    // The agent writes: acknowledged after the commit, then seen by both.
    send(&mut agent, json!({"type": "say", "chat_id": chat_id, "client_id": "a1", "text": "Сәлеметсіз бе! Тексеріп жатырмын."})).await;
    let ack = until(&mut agent, "ack").await;
    assert_eq!(ack["client_id"], "a1");
    let seq_a1 = ack["seq"].as_i64().unwrap();
    assert!(seq_a1 > started["seq"].as_i64().unwrap());
    let m = until(&mut player, "msg").await;
    assert_eq!((&m["from"], &m["text"], &m["seq"], &m["name"]), (&json!("agent"), &json!("Сәлеметсіз бе! Тексеріп жатырмын."), &json!(seq_a1), &json!("Agent daniyar")));

    // Typing reaches the other side.
    send(&mut player, json!({"type": "typing", "on": true})).await;
    let t = until(&mut agent, "typing").await;
    assert_eq!((&t["chat_id"], &t["on"]), (&chat_id, &json!(true)));

    // The player writes, and resends the same message (a dropped connection): stored once.
    send(&mut player, json!({"type": "say", "client_id": "c1", "text": "Рақмет!"})).await;
    let ack = until(&mut player, "ack").await;
    let seq_c1 = ack["seq"].as_i64().unwrap();
    assert_eq!(until(&mut agent, "msg").await["seq"], json!(seq_c1));
    send(&mut player, json!({"type": "say", "client_id": "c1", "text": "Рақмет!"})).await;
    let again = until(&mut player, "ack").await;
    assert_eq!((&again["client_id"], &again["seq"]), (&json!("c1"), &json!(seq_c1)), "a resend answers the first seq");
    quiet(&mut agent).await;
    // The same client id with another text is refused.
    send(&mut player, json!({"type": "say", "client_id": "c1", "text": "something else"})).await;
    assert_eq!(until(&mut player, "error").await["code"], "validation_failed");

    // The transcript is the complaint's thread, and nothing was stored twice.
    let reference = started["reference"].as_str().unwrap();
    let (s, b) = n.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&daniyar), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["channel"], "chat");
    assert!(b["assignee"].is_string(), "accepting assigned the complaint: {b}");
    let texts: Vec<&str> = b["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Сәлеметсіз бе! Тексеріп жатырмын.", "Рақмет!"]);
    // Chat lines make no e-mail: the acknowledgment is the only notice to the player (beside
    // it: the SLA timer, set again when the agent's first line stopped the first-response
    // clock, and the agent's assignment notice).
    let (_, jobs) = n.call(Method::GET, &format!("/api/v1/complaints/{reference}/jobs"), Some(&daniyar), None).await;
    let kinds: Vec<&str> = jobs.as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["acknowledge", "sla_timer", "notify_staff", "sla_timer"]);

    // The player's connection drops; the agent writes twice; the player resumes after what it
    // had shown and gets exactly the two.
    drop(player);
    for (i, text) in ["Төлем өтті.", "Тағы сұрақ бар ма?"].iter().enumerate() {
        send(&mut agent, json!({"type": "say", "chat_id": chat_id, "client_id": format!("a{}", i + 2), "text": text})).await;
        until(&mut agent, "ack").await;
    }
    let mut player = n.player(&started, seq_c1).await;
    until(&mut player, "welcome").await;
    let a = until(&mut player, "msg").await;
    let b2 = until(&mut player, "msg").await;
    assert_eq!((a["text"].as_str().unwrap(), b2["text"].as_str().unwrap()), ("Төлем өтті.", "Тағы сұрақ бар ма?"));
    quiet(&mut player).await;

    // The player ends the chat; the agent hears; writing into it is refused.
    send(&mut player, json!({"type": "end"})).await;
    until(&mut player, "ended").await;
    assert_eq!(until(&mut agent, "ended").await["chat_id"], chat_id);
    let mut late = n.player(&started, 0).await;
    until(&mut late, "welcome").await;
    send(&mut late, json!({"type": "say", "client_id": "late", "text": "hello?"})).await;
    assert_eq!(until(&mut late, "error").await["code"], "chat_ended");
}

async fn queue_and_transfer(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    let (a1, a2, kyc) = (n.agent(&admin, "alma", &["payments"]).await, n.agent(&admin, "bolat", &["payments"]).await, n.agent(&admin, "kyc", &["verification"]).await);
    let (mut alma, mut bolat, mut kyc_ws) = (n.console(&a1).await, n.console(&a2).await, n.console(&kyc).await);
    let started = n.start(json!({"name": "Иван", "email": "ivan@example.ru", "language": "ru", "department": "payments", "text": "Где мой вывод?"})).await;
    let chat_id = started["chat_id"].clone();
    // Only agents of the department see it waiting.
    queue_of(&mut alma, 1).await;
    queue_of(&mut bolat, 1).await;
    let kq = until(&mut kyc_ws, "queue").await;
    assert!(kq["waiting"].as_array().unwrap().is_empty(), "{kq}");
    // Two agents accept at once: one wins, whichever it is.
    send(&mut alma, json!({"type": "accept", "chat_id": chat_id})).await;
    send(&mut bolat, json!({"type": "accept", "chat_id": chat_id})).await;
    async fn outcome(ws: &mut Ws) -> Value {
        loop {
            let f = next(ws).await.unwrap();
            if f["type"] == "chat" || f["type"] == "error" {
                return f;
            }
        }
    }
    let (oa, ob) = (outcome(&mut alma).await, outcome(&mut bolat).await);
    let ((mut alma, _), (mut bolat, lost), (_alma_login, bolat_login)) = if oa["type"] == "chat" {
        ((alma, oa), (bolat, ob), ("alma", "bolat"))
    } else {
        ((bolat, ob), (alma, oa), ("bolat", "alma"))
    };
    assert_eq!(lost["code"], "already_taken", "{lost}");
    // Bolat cannot write into alma's chat.
    send(&mut bolat, json!({"type": "say", "chat_id": chat_id, "client_id": "x", "text": "hi"})).await;
    assert_eq!(until(&mut bolat, "error").await["code"], "not_found");
    // Alma hands it to bolat, who now holds it and gets the transcript.
    send(&mut alma, json!({"type": "transfer", "chat_id": chat_id, "agent": bolat_login})).await;
    let handed = until(&mut alma, "chat").await;
    assert_eq!(handed["agent"], format!("Agent {bolat_login}"), "{handed}");
    let c = until(&mut bolat, "chat").await;
    assert_eq!((&c["chat_id"], &c["status"]), (&chat_id, &json!("active")));
    send(&mut bolat, json!({"type": "say", "chat_id": chat_id, "client_id": "b1", "text": "Здравствуйте, я продолжу."})).await;
    until(&mut bolat, "ack").await;
    // A transfer to an agent of another department is refused; to the department, it queues.
    send(&mut bolat, json!({"type": "transfer", "chat_id": chat_id, "agent": "kyc"})).await;
    assert_eq!(until(&mut bolat, "error").await["code"], "validation_failed");
    send(&mut bolat, json!({"type": "transfer", "chat_id": chat_id, "department": "verification"})).await;
    assert_eq!(until(&mut bolat, "chat").await["status"], "waiting");
    let kq = queue_of(&mut kyc_ws, 1).await;
    assert_eq!(kq["waiting"][0]["chat_id"], chat_id, "{kq}");
    send(&mut kyc_ws, json!({"type": "accept", "chat_id": chat_id})).await;
    assert_eq!(until(&mut kyc_ws, "chat").await["status"], "active");
    let lines: Vec<String> = {
        let mut v = vec![];
        for _ in 0..2 {
            v.push(until(&mut kyc_ws, "msg").await["text"].as_str().unwrap().to_string());
        }
        v
    };
    assert_eq!(lines, ["Где мой вывод?", "Здравствуйте, я продолжу."]);
}

async fn bad_input(db: &TestDb) {
    let n = node(db.open().await, 6).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    // Start: missing and bad fields, each named.
    let (s, b) = n.call(Method::POST, "/chat/v1/chats", None, Some(json!({"email": "not mail", "text": ""}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"name") && fields.contains(&"email") && fields.contains(&"text"), "{b}");
    let (s, b) = n.call(Method::POST, "/chat/v1/chats", None, Some(json!({"name": "A", "email": "a@b.kz", "text": "x", "department": "nowhere"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = n.call(Method::POST, "/chat/v1/chats", None, Some(json!({"name": "A", "email": "a@b.kz", "text": "x", "language": "de"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Forged and expired identities.
    let forged = ombuds_core::chat::sign_identity(&json!({"sub": "p-1", "exp": jiff::Timestamp::now().as_second() + 600}), b"not the operator's secret at all!");
    let (s, b) = n.call(Method::POST, "/chat/v1/chats", None, Some(json!({"token": forged, "text": "hello"}))).await;
    assert_eq!((s, &b["code"]), (StatusCode::UNAUTHORIZED, &json!("invalid_identity")), "{b}");
    let expired = ombuds_core::chat::sign_identity(&json!({"sub": "p-1", "exp": jiff::Timestamp::now().as_second() - 3600}), SECRET.as_bytes());
    let (s, _) = n.call(Method::POST, "/chat/v1/chats", None, Some(json!({"token": expired, "text": "hello"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A good token names the player by the operator's id; the same player again is one player.
    let good = ombuds_core::chat::sign_identity(&json!({"sub": "p-77", "name": "Ерлан", "exp": jiff::Timestamp::now().as_second() + 600}), SECRET.as_bytes());
    let one = n.start(json!({"token": good, "text": "Бонус не начислен", "language": "ru"})).await;
    let two = n.start(json!({"token": good, "text": "И ещё вопрос", "language": "ru"})).await;
    let p1 = n.desk.store().chat(one["chat_id"].as_str().unwrap().parse().unwrap()).await.unwrap().0.player_id;
    let p2 = n.desk.store().chat(two["chat_id"].as_str().unwrap().parse().unwrap()).await.unwrap().0.player_id;
    assert_eq!(p1, p2);
    let complaints_before = 1 + n.desk.store().list_complaints(&Default::default(), &ombuds_core::Visibility::All, ombuds_store::PageRequest { after: None, limit: 500 }).await.unwrap().items.len();

    // CORS: the operator's site may call; another site may not.
    let pre = n.http.request(Method::OPTIONS, format!("{}/chat/v1/chats", n.base)).header("origin", SITE).header("access-control-request-method", "POST").send().await.unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(pre.headers()["access-control-allow-origin"], SITE);
    let pre = n.http.request(Method::OPTIONS, format!("{}/chat/v1/chats", n.base)).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(pre.status(), StatusCode::FORBIDDEN);
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    assert_eq!(n.connect("/chat/v1/ws", &[("origin", "https://evil.example")]).await.err(), Some(http::StatusCode::FORBIDDEN));
    assert_eq!(n.connect("/api/v1/chat/ws", &[("authorization", "Bearer oms_forged")]).await.err(), Some(http::StatusCode::UNAUTHORIZED));

    // Socket: a wrong secret, a first frame that is not hello.
    let mut ws = n.player(&json!({"chat_id": one["chat_id"], "secret": "omc_wrong"}), 0).await;
    assert_eq!(closed(&mut ws).await, (1008, "unknown chat or wrong secret".into()));
    let mut ws = n.connect("/chat/v1/ws", &[]).await.unwrap();
    send(&mut ws, json!({"type": "say", "text": "hi"})).await;
    assert_eq!(closed(&mut ws).await.0, 1008);

    // Garbage: an error for each, and the fifth closes the connection.
    let mut ws = n.player(&one, 0).await;
    until(&mut ws, "welcome").await;
    for junk in ["not json", "{\"no\":\"type\"}", "[1,2]", "{\"type\":\"launch\"}"] {
        ws.send(Message::Text(junk.into())).await.unwrap();
        assert_eq!(until(&mut ws, "error").await["code"], "bad_frame", "{junk}");
    }
    ws.send(Message::Binary(vec![0u8, 159, 146, 150].into())).await.unwrap();
    assert_eq!(closed(&mut ws).await, (1008, "too many bad frames".into()));
    // Bad messages are answered, not stored.
    let mut ws = n.player(&one, 0).await;
    until(&mut ws, "welcome").await;
    send(&mut ws, json!({"type": "say", "client_id": "bad id!", "text": "x"})).await;
    assert_eq!(until(&mut ws, "error").await["code"], "validation_failed");
    send(&mut ws, json!({"type": "say", "client_id": "ok", "text": "   "})).await;
    assert_eq!(until(&mut ws, "error").await["code"], "validation_failed");
    // Oversized: closed with 1009.
    send(&mut ws, json!({"type": "say", "client_id": "big", "text": "я".repeat(20_000)})).await;
    assert_eq!(closed(&mut ws).await.0, u16::from(CloseCode::Size));
    // A flood: the bucket (burst 20) empties and the connection is closed.
    let mut ws = n.player(&one, 0).await;
    until(&mut ws, "welcome").await;
    for i in 0..40 {
        if ws.send(Message::Text(json!({"type": "say", "client_id": format!("f{i}"), "text": "spam"}).to_string().into())).await.is_err() {
            break;
        }
    }
    let mut close = (0, String::new());
    while let Some(m) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
        if let Ok(Message::Close(Some(f))) = m {
            close = (f.code.into(), f.reason.to_string());
            break;
        }
    }
    assert_eq!(close, (1008, "too many messages".into()));
    // The agent side: a frame without a chat id, a chat it does not hold.
    let t = n.agent(&admin, "zhanar", &["bonuses"]).await;
    let mut agent = n.console(&t).await;
    send(&mut agent, json!({"type": "accept"})).await;
    assert_eq!(until(&mut agent, "error").await["code"], "validation_failed");
    send(&mut agent, json!({"type": "accept", "chat_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(until(&mut agent, "error").await["code"], "not_found");
    let payments = n.start(json!({"name": "Дина", "email": "dina@example.kz", "language": "ru", "department": "payments", "text": "Вывод"})).await;
    send(&mut agent, json!({"type": "accept", "chat_id": payments["chat_id"]})).await;
    assert_eq!(until(&mut agent, "error").await["code"], "not_found", "a payments chat is out of a bonuses agent's reach");
    // Nothing was lost or added by all that: the same complaints, and the flood stored at most
    // its burst, each once.
    let after = n.desk.store().list_complaints(&Default::default(), &ombuds_core::Visibility::All, ombuds_store::PageRequest { after: None, limit: 500 }).await.unwrap().items.len();
    assert_eq!(after, complaints_before);
    let chat = n.desk.store().chat(one["chat_id"].as_str().unwrap().parse().unwrap()).await.unwrap().0;
    let msgs = n.desk.store().messages(chat.complaint_id).await.unwrap();
    assert!(msgs.len() <= 20 && msgs.iter().all(|m| m.body.as_str() == "spam"), "{} messages", msgs.len());
    assert!(n.desk.verify_chain().await.unwrap().broken.is_none());
}

async fn offline_form(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let (s, b) = n.call(Method::POST, "/chat/v1/offline", None, Some(json!({"name": "Asel", "email": "asel@example.kz", "language": "en", "text": "Nobody was online. My withdrawal is stuck."}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let r: ombuds_core::ComplaintRef = b["reference"].as_str().unwrap().parse().unwrap();
    let c = n.desk.store().complaint_by_ref(&r).await.unwrap();
    assert_eq!(c.channel, ombuds_core::Channel::Web, "answered by e-mail");
    let (s, _) = n.call(Method::POST, "/chat/v1/offline", None, Some(json!({"name": "Asel", "text": "no address"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The widget is served by ombuds itself.
    let res = n.http.get(format!("{}/chat/widget.js", n.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(res.text().await.unwrap().len() > 1000);
}

ombuds_store::both_backends! {
    chat_conversation => conversation,
    chat_queue_and_transfer => queue_and_transfer,
    chat_bad_input => bad_input,
    chat_offline_form => offline_form,
}

// --------------------------------------------------------------------------------- two nodes

/// A player on node A and an agent on node B of one PostgreSQL database talk; each message
/// crosses nodes through LISTEN/NOTIFY, stored first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    let a = node(db.open().await, 60).await;
    let b = node(db.open().await, 60).await;
    a.desk.seed_departments().await.unwrap();
    let admin = b.admin().await;
    let token = b.agent(&admin, "nurlan", &["technical"]).await;
    let mut agent = b.console(&token).await;
    // Node A sees the agent connected to node B.
    let (_, st) = a.call(Method::GET, "/chat/v1/status?department=technical&language=ru", None, None).await;
    assert_eq!(st["online"], json!(true), "{st}");

    let started = a.start(json!({"name": "Олег", "email": "oleg@example.ru", "language": "ru", "department": "technical", "text": "Не грузится приложение"})).await;
    let chat_id = started["chat_id"].clone();
    let q = queue_of(&mut agent, 1).await;
    assert_eq!(q["waiting"][0]["chat_id"], chat_id);
    let mut player = a.player(&started, 0).await;
    until(&mut player, "welcome").await;
    send(&mut agent, json!({"type": "accept", "chat_id": chat_id})).await;
    until(&mut agent, "chat").await;
    assert_eq!(until(&mut agent, "msg").await["text"], "Не грузится приложение", "the transcript, read on node B");
    assert_eq!(until(&mut player, "status").await["status"], "waiting");
    assert_eq!(until(&mut player, "status").await["status"], "active", "the accept on node B reaches node A");
    for i in 0..5 {
        send(&mut player, json!({"type": "say", "client_id": format!("p{i}"), "text": format!("сообщение {i}")})).await;
        let ack = until(&mut player, "ack").await;
        let m = from(&mut agent, "player").await;
        assert_eq!((&m["text"], &m["seq"]), (&json!(format!("сообщение {i}")), &ack["seq"]));
        send(&mut agent, json!({"type": "say", "chat_id": chat_id, "client_id": format!("r{i}"), "text": format!("ответ {i}")})).await;
        let ack = until(&mut agent, "ack").await;
        let m = from(&mut player, "agent").await;
        assert_eq!((&m["text"], &m["seq"]), (&json!(format!("ответ {i}")), &ack["seq"]));
    }
    send(&mut agent, json!({"type": "typing", "chat_id": chat_id, "on": true})).await;
    assert_eq!(until(&mut player, "typing").await["on"], true);
    drop((player, agent));
    db.cleanup().await;
}

// --------------------------------------------------------------------------------- phone pop-up

/// A call answered at an agent's extension pops up in that agent's console (over the same
/// socket as chats), with the caller's open complaints; other agents see nothing.
async fn call_pops_up(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    let (s, b) = n.call(Method::POST, "/api/v1/tokens", Some(&admin), Some(json!({"name": "pbx", "scopes": ["cti"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let pbx = b["token"].as_str().unwrap().to_string();
    let gulnar = n.agent(&admin, "gulnar", &["payments"]).await;
    let other = n.agent(&admin, "other", &["payments"]).await;
    let (s, b) = n.call(Method::PUT, "/api/v1/agents/gulnar/extension", Some(&admin), Some(json!({"extension": "101"}))).await;
    assert!(s.is_success(), "{b}");
    // The caller has an open complaint from an earlier chat, under the same phone number.
    let (s, b) = n
        .call(Method::POST, "/api/v1/complaints", Some(&admin), Some(json!({"kind": "complaint", "channel": "phone", "subject": "Вывод не пришёл", "description": "Жду третий день", "player": {"phone": "8 701 555 12 34", "name": "Марат"}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let reference = b["reference"].clone();
    let mut console = n.console(&gulnar).await;
    let mut bystander = n.console(&other).await;
    let event = |e: Value| n.call(Method::POST, "/api/v1/cti/events", Some(&pbx), Some(e));
    let (s, b) = event(json!({"event": "ringing", "call_id": "pbx-1", "caller": "+7 (701) 555-12-34", "called": "7172000000"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = event(json!({"event": "answered", "call_id": "pbx-1", "extension": "101"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pop = until(&mut console, "call").await;
    assert_eq!((&pop["status"], &pop["caller"]), (&json!("answered"), &json!("+77015551234")), "{pop}");
    assert_eq!(pop["open_complaints"][0]["reference"], reference, "{pop}");
    quiet(&mut bystander).await;
}

ombuds_store::both_backends! {
    chat_call_pops_up => call_pops_up,
}

// --------------------------------------------------------------------------------- sessions end sockets

/// Disabling an agent, signing out and a password change made in another session close the
/// agent's live console at once, and a frame queued behind is not acted on: the chat stays
/// waiting and its complaint unassigned. A token never holds a console.
async fn ended_sessions_close_sockets(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    let started = n.start(json!({"name": "Иван", "email": "ivan@example.ru", "language": "ru", "department": "payments", "text": "Где мой вывод?"})).await;
    let chat_id = started["chat_id"].clone();
    let reference = started["reference"].as_str().unwrap().to_string();
    let still_waiting = async || {
        let (_, c) = n.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&admin), None).await;
        assert!(c["assignee"].is_null(), "nobody took the complaint: {c}");
        let (chat, _) = n.desk.store().chat(chat_id.as_str().unwrap().parse().unwrap()).await.unwrap();
        assert_eq!(chat.status.as_str(), "waiting");
    };

    // Disabled: the socket closes without waiting for a frame.
    let dana = n.agent(&admin, "dana", &["payments"]).await;
    let mut ws = n.console(&dana).await;
    queue_of(&mut ws, 1).await;
    let (s, b) = n.call(Method::POST, "/api/v1/agents/dana/disable", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (code, reason) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "the session has ended"));
    still_waiting().await;

    // Signed out, with an accept sent at once: refused; another session's socket stays.
    let eva = n.agent(&admin, "eva", &["payments"]).await;
    let eva2 = n.login("eva").await;
    let (mut ws, mut other) = (n.console(&eva).await, n.console(&eva2).await);
    queue_of(&mut ws, 1).await;
    let (s, _) = n.call(Method::POST, "/api/v1/auth/logout", Some(&eva), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let _ = ws.send(Message::Text(json!({"type": "accept", "chat_id": chat_id}).to_string().into())).await;
    let (code, _) = closed(&mut ws).await;
    assert_eq!(code, 1008);
    still_waiting().await;
    send(&mut other, json!({"type": "resume", "chat_id": chat_id})).await;
    assert_eq!(until(&mut other, "error").await["code"], "not_found", "the other session's socket still answers");

    // A password change in one session closes the sockets of the others, not its own.
    send(&mut other, json!({"type": "typing", "chat_id": chat_id})).await;
    let eva3 = n.login("eva").await;
    let (s, b) = n
        .call(Method::POST, "/api/v1/me/password", Some(&eva3), Some(json!({"current_password": "correct horse battery", "new_password": "a brand new password"})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (code, _) = closed(&mut other).await;
    assert_eq!(code, 1008);
    let mut own = n.console(&eva3).await;
    send(&mut own, json!({"type": "resume", "chat_id": chat_id})).await;
    assert_eq!(until(&mut own, "error").await["code"], "not_found");
    still_waiting().await;

    // A token (revoked or not) never holds a console.
    let (_, b) = n.call(Method::POST, "/api/v1/tokens", Some(&admin), Some(json!({"name": "t", "scopes": ["admin"]}))).await;
    let mut ws = n.connect("/api/v1/chat/ws", &[("authorization", &format!("Bearer {}", b["token"].as_str().unwrap()))]).await.unwrap();
    let (code, reason) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "only agents use the chat console"));
}

/// Only the agent holding a chat (or a supervisor) hands it on: a colleague cannot send it
/// to a department and then take it.
async fn colleagues_chat(db: &TestDb) {
    let n = node(db.open().await, 60).await;
    n.desk.seed_departments().await.unwrap();
    let admin = n.admin().await;
    let (alma, bolat) = (n.agent(&admin, "alma", &["payments", "verification"]).await, n.agent(&admin, "bolat", &["payments", "verification"]).await);
    let (s, b) = n
        .call(Method::POST, "/api/v1/agents", Some(&admin), Some(json!({"login": "sara", "name": "Sara", "role": "supervisor", "departments": ["payments"], "password": "correct horse battery"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let sara = n.login("sara").await;
    let (mut alma, mut bolat, mut sara) = (n.console(&alma).await, n.console(&bolat).await, n.console(&sara).await);
    let started = n.start(json!({"name": "Иван", "email": "ivan@example.ru", "language": "ru", "department": "payments", "text": "Где мой вывод?"})).await;
    let chat_id = started["chat_id"].clone();
    queue_of(&mut alma, 1).await;
    send(&mut alma, json!({"type": "accept", "chat_id": chat_id})).await;
    assert_eq!(until(&mut alma, "chat").await["status"], "active");
    for to in [json!({"department": "verification"}), json!({"agent": "bolat"})] {
        let mut frame = json!({"type": "transfer", "chat_id": chat_id});
        frame.as_object_mut().unwrap().extend(to.as_object().unwrap().clone());
        send(&mut bolat, frame).await;
        let e = until(&mut bolat, "error").await;
        assert_eq!(e["code"], "forbidden", "{e}");
    }
    let (chat, _) = n.desk.store().chat(chat_id.as_str().unwrap().parse().unwrap()).await.unwrap();
    assert_eq!((chat.status.as_str(), chat.department.as_ref().map(|d| d.to_string())), ("active", Some("payments".into())), "still alma's");
    // A supervisor may send it back to the queue.
    send(&mut sara, json!({"type": "transfer", "chat_id": chat_id, "department": "payments"})).await;
    assert_eq!(until(&mut sara, "chat").await["status"], "waiting");
}

ombuds_store::both_backends! {
    chat_ended_sessions_close_sockets => ended_sessions_close_sockets,
    chat_only_the_holder_hands_a_chat_on => colleagues_chat,
}

/// Disabling an agent on one node closes their console on another at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_closes_a_socket_on_another_node() {
    let Some(db) = TestDb::postgres().await else { return };
    let a = node(db.open().await, 60).await;
    let b = node(db.open().await, 60).await;
    a.desk.seed_departments().await.unwrap();
    let admin = a.admin().await;
    let token = a.agent(&admin, "nurlan", &["technical"]).await;
    let mut ws = b.console(&token).await;
    until(&mut ws, "queue").await;
    let (s, _) = a.call(Method::POST, "/api/v1/agents/nurlan/disable", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let started = tokio::time::Instant::now();
    let (code, _) = closed(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(started.elapsed() < Duration::from_secs(3), "closed by the live signal, not the keep-alive: {:?}", started.elapsed());
    drop(ws);
    db.cleanup().await;
}
