//! The live-chat widget in real headless Chromium, against the real binary.
//!
//! An "operator site" on another origin embeds `/chat/widget.js`; an agent works the chat over
//! the agent WebSocket; the browser plays the player. Without `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` the tests say they were skipped, unless `OMBUDS_TEST_REQUIRE_BROWSER=1`
//! (CI), which makes a missing browser a failure.

mod common;

use common::*;
use common::browser::*;
use fantoccini::{Client, Locator};
use futures_util::{SinkExt, StreamExt};
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "operator-shared-identity-secret-for-tests";
const XSS: &str = "<script>alert(1)</script><b>x</b>";
const PASSWORD: &str = "correct horse battery staple";
/// How long anything the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(20);


// ---- the operator's site, on another origin ---------------------------------------------------

/// A tiny HTTP/1.0 server of fixed pages (path → HTML), on its own port: another origin than
/// the desk's.
struct Site {
    base: String,
    pages: Arc<Mutex<HashMap<String, String>>>,
}

impl Site {
    fn start() -> Site {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = pages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let pages = served.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" || h == "\n" {
                            break;
                        }
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let page = pages.lock().unwrap().get(&path).cloned();
                    let (status, body) = match page {
                        Some(p) => ("200 OK", p),
                        None => ("404 Not Found", "not here".to_string()),
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Site { base, pages }
    }

    /// A page embedding the widget of the desk at `desk`, with the tag's attributes.
    fn page(&self, path: &str, desk: &str, attrs: &[(&str, &str)]) -> String {
        let attrs: String = attrs.iter().map(|(k, v)| format!(" {k}=\"{v}\"")).collect();
        let html = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Operator</title>
<style>
  /* A careless operator stylesheet: none of it may reach the widget. */
  button, input, textarea, li, form {{ display: none !important; }}
  * {{ color: #0f0 !important; font-size: 40px !important; }}
</style>
<script>
  window.__alerts = []; window.alert = function (m) {{ window.__alerts.push(String(m)); }};
  window.__errors = []; window.addEventListener('error', function (e) {{ window.__errors.push(String(e.message)); }});
  // Lets the test cut the widget's connection and keep it cut.
  window.__sockets = []; window.__blockWs = false;
  (function () {{
    var Native = window.WebSocket;
    function Wrapped(url, protocols) {{
      if (window.__blockWs) throw new Error('blocked by the test');
      var s = protocols === undefined ? new Native(url) : new Native(url, protocols);
      window.__sockets.push(s);
      return s;
    }}
    Wrapped.prototype = Native.prototype;
    Wrapped.CONNECTING = 0; Wrapped.OPEN = 1; Wrapped.CLOSING = 2; Wrapped.CLOSED = 3;
    window.WebSocket = Wrapped;
  }})();
</script></head>
<body><h1>Operator's site</h1><p>Bets, odds and a chat.</p>
<script src="{desk}/chat/widget.js"{attrs} async></script>
</body></html>"#
        );
        self.pages.lock().unwrap().insert(path.to_string(), html);
        format!("{}{path}", self.base)
    }
}

// ---- the widget, seen from the test -----------------------------------------------------------

/// Everything the test asserts on, read through the shadow root in one script.
const SNAPSHOT: &str = r#"
const host = document.getElementById('ombuds-chat');
const r = host && host.shadowRoot;
if (!r) return null;
const q = (id) => r.querySelector('[data-testid="' + id + '"]');
const visible = (e) => !!e && !e.closest('[hidden]');
const key = Object.keys(sessionStorage).find((k) => k.startsWith('ombuds-chat:'));
return {
  messages: [...r.querySelectorAll('[data-testid="chat-message"]')].map((li) => ({
    seq: li.getAttribute('data-seq'),
    from: li.getAttribute('data-from'),
    pending: li.getAttribute('data-pending') === 'true',
    text: li.querySelector('[data-testid="chat-message-text"]').textContent,
  })),
  system: [...r.querySelectorAll('[data-testid="chat-system"]')].map((li) => li.getAttribute('data-kind')),
  system_text: [...r.querySelectorAll('[data-testid="chat-system"]')].map((li) => li.textContent),
  status: q('chat-status') ? q('chat-status').getAttribute('data-status') : null,
  status_text: q('chat-status') ? q('chat-status').textContent : null,
  reference: visible(q('chat-reference')) ? q('chat-reference').getAttribute('data-reference') : null,
  error: visible(q('chat-error')) ? q('chat-error').textContent : null,
  typing: visible(q('chat-typing')) ? q('chat-typing').textContent : null,
  panel_open: visible(q('chat-panel')),
  start_form: visible(q('chat-start-form')),
  offline_form: visible(q('chat-offline-form')),
  offline_done: visible(q('chat-offline-done')) ? q('chat-offline-done').textContent : null,
  field_errors: [...r.querySelectorAll('.ferr')].filter(visible).map((e) => e.getAttribute('data-testid') + ': ' + e.textContent),
  input_enabled: !!q('chat-input') && !q('chat-input').disabled,
  new_chat: visible(q('chat-new')),
  elements_from_text: r.querySelectorAll('script, b').length + document.querySelectorAll('b').length,
  alerts: window.__alerts,
  errors: window.__errors,
  stored: key ? JSON.parse(sessionStorage.getItem(key)) : null,
};
"#;

struct Page<'a> {
    client: &'a Client,
}

impl Page<'_> {
    async fn snapshot(&self) -> Value {
        self.client.execute(SNAPSHOT, vec![]).await.expect("snapshot script")
    }

    /// Polls until `ready` holds; on timeout fails with what the widget showed last.
    async fn wait(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let s = self.snapshot().await;
            if !s.is_null() && ready(&s) {
                return s;
            }
            assert!(started.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}; the widget shows:\n{s:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element with this `data-testid` inside the widget's shadow root.
    async fn el(&self, testid: &str) -> fantoccini::elements::Element {
        let started = Instant::now();
        loop {
            let found = async {
                let host = self.client.find(Locator::Css("#ombuds-chat")).await.ok()?;
                let root = host.shadow_root().await.ok()?;
                root.find(Locator::Css(&format!("[data-testid=\"{testid}\"]"))).await.ok()
            }
            .await;
            if let Some(e) = found {
                return e;
            }
            assert!(started.elapsed() < PATIENCE, "no element {testid} in the widget");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, testid: &str) {
        self.el(testid).await.click().await.unwrap_or_else(|e| panic!("click {testid}: {e}"));
    }

    async fn type_into(&self, testid: &str, text: &str) {
        let e = self.el(testid).await;
        e.clear().await.unwrap_or_else(|e| panic!("clear {testid}: {e}"));
        e.send_keys(text).await.unwrap_or_else(|e| panic!("type into {testid}: {e}"));
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
    }
}

fn texts(s: &Value) -> Vec<String> {
    s["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

/// Every message on screen has a seq and no seq is on screen twice.
fn assert_unique_seqs(s: &Value) {
    let seqs: Vec<&str> = s["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_str().unwrap_or_else(|| panic!("a message without seq: {s:#}"))).collect();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seqs.len(), unique.len(), "a seq is shown twice: {seqs:?}");
}

// ---- the agent's side -------------------------------------------------------------------------

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Agent {
    ws: Ws,
    /// Every frame received, in order.
    frames: Vec<Value>,
}

impl Agent {
    async fn connect(base: &str, session: &str) -> Agent {
        let mut req = format!("{}/api/v1/chat/ws", base.replacen("http", "ws", 1)).into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {session}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("agent WebSocket");
        let mut a = Agent { ws, frames: vec![] };
        a.expect("ready", |f| f["type"] == "ready").await;
        a
    }

    async fn send(&mut self, frame: Value) {
        self.ws.send(Message::text(frame.to_string())).await.expect("agent sends");
    }

    async fn next(&mut self, until: Instant) -> Option<Value> {
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("the agent's WebSocket closed; frames so far: {:#?}", self.frames),
                Ok(Some(Err(e))) => panic!("the agent's WebSocket failed: {e}; frames so far: {:#?}", self.frames),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("agent frame is not JSON ({e}): {t}"));
                    self.frames.push(v.clone());
                    return Some(v);
                }
                Ok(Some(Ok(Message::Close(c)))) => panic!("the server closed the agent's WebSocket: {c:?}; frames so far: {:#?}", self.frames),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame that matches, reading (and keeping) the others.
    async fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + PATIENCE;
        while let Some(f) = self.next(until).await {
            if matches(&f) {
                return f;
            }
        }
        panic!("the agent waited {PATIENCE:?} for {what}; it got: {:#?}", self.frames);
    }

    /// Reads whatever comes for `d`.
    async fn drain(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while self.next(until).await.is_some() {}
    }

    /// The chat's entry in the next `queue` frame that lists it.
    async fn waiting(&mut self, chat_id: &str) -> Value {
        let queue = self
            .expect("the chat in the queue", |f| f["type"] == "queue" && f["waiting"].as_array().is_some_and(|w| w.iter().any(|c| c["chat_id"] == chat_id)))
            .await;
        queue["waiting"].as_array().unwrap().iter().find(|c| c["chat_id"] == chat_id).unwrap().clone()
    }

    fn count(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.frames.iter().filter(|f| matches(f)).count()
    }
}

/// The agent and the player must see one reference for one chat.
fn assert_same_reference(agent_sees: &Value, player_sees: &str) {
    // The queue lists the compact form (`K7M4QX2PH`), everything else the grouped one
    // (`K7M-4QX-2PH`): both name the same complaint.
    assert_eq!(agent_sees.as_str().map(|r| r.replace('-', "")), Some(player_sees.replace('-', "")), "the queue names another reference than the widget");
}

fn is_msg_with(f: &Value, chat_id: &str, text: &str) -> bool {
    f["type"] == "msg" && f["chat_id"] == chat_id && f["text"] == text
}

// ---- the desk --------------------------------------------------------------------------------

struct Desk {
    server: Server,
    /// An API token that reads complaints.
    token: String,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// The binary with a `[chat]` section that trusts `origin`, and an agent `daniyar` (payments,
/// Russian and Kazakh) whose password is `PASSWORD`.
async fn desk(origin: &str) -> Desk {
    let db = TestDb::sqlite();
    let database = url(&db);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ombuds.toml");
    std::fs::write(&config, format!("[chat]\nallowed_origins = [\"{origin}\"]\nidentity_secret = \"{SECRET}\"\n")).unwrap();
    add_user(&database, &["daniyar", "--name", "Данияр", "--role", "agent", "--department", "payments", "--language", "ru", "--language", "kk"], PASSWORD);
    let token = token(&database);
    let server = Server::start_with(&database, &["--config", config.to_str().unwrap()]).await;
    Desk { server, token, _db: db, _dir: dir }
}

impl Desk {
    async fn login(&self) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.server.base))
            .json(&json!({"login": "daniyar", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    async fn complaint(&self, reference: &str) -> Value {
        let r = reqwest::Client::new().get(format!("{}/api/v1/complaints/{reference}", self.server.base)).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "complaint {reference}");
        r.json().await.unwrap()
    }

    async fn online(&self, department: &str, language: &str) -> bool {
        let r = reqwest::get(format!("{}/chat/v1/status?department={department}&language={language}", self.server.base)).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().await.unwrap()["online"].as_bool().unwrap()
    }
}

// ---- the tests --------------------------------------------------------------------------------

/// A whole chat: start in Kazakh, accept, a hostile reply shown as text, a reload and a cut
/// connection with nothing lost or doubled, the player ends it; then the offline form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_in_the_browser() {
    if !browser_present("a_chat_in_the_browser") {
        return;
    }
    let _one = BROWSER.lock().await;
    let site = Site::start();
    let desk = desk(&site.base).await;
    let base = desk.server.base.clone();
    let session = desk.login().await;
    let mut agent = Agent::connect(&base, &session).await;
    assert!(desk.online("payments", "kk").await, "the agent is connected, so payments/kk is online");
    assert!(!desk.online("bonuses", "kk").await, "nobody works bonuses");

    let (_driver, client) = browser().await;
    let page = Page { client: &client };
    let url = site.page("/kk", &base, &[("data-lang", "kk"), ("data-department", "payments")]);
    client.goto(&url).await.unwrap();

    // The launcher, in Kazakh, survives the operator's stylesheet.
    let open = page.el("chat-open").await;
    assert_eq!(open.text().await.unwrap(), "Чат");
    assert!(open.is_displayed().await.unwrap(), "the page's CSS must not hide the widget");
    open.click().await.unwrap();
    page.wait("the start form", |s| s["start_form"] == true).await;

    // A field error from the desk is shown next to its field.
    let name = "Айгүл Сәрсенова";
    let first = "Сәлеметсіз бе! Менің төлемім қайда? Платёж на 25 000 ₸ не пришёл уже три дня.";
    page.type_into("chat-start-name", name).await;
    page.type_into("chat-start-email", "aigul-at-example.kz").await;
    page.type_into("chat-start-text", first).await;
    page.click("chat-start-submit").await;
    let s = page.wait("the e-mail field's error", |s| s["field_errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().starts_with("chat-start-error-email"))).await;
    assert!(s["field_errors"].to_string().contains("Электрондық пошта мекенжайын дұрыс енгізіңіз"), "{s:#}");
    assert!(s["stored"].is_null(), "no chat was started: {s:#}");

    page.type_into("chat-start-email", "aigul@example.kz").await;
    page.click("chat-start-submit").await;
    let s = page.wait("the chat with its reference and first message", |s| !s["reference"].is_null() && texts(s).iter().any(|t| t == first)).await;
    let reference = s["reference"].as_str().unwrap().to_string();
    let chat_id = s["stored"]["chat_id"].as_str().expect("the chat is kept in sessionStorage").to_string();
    assert_eq!(s["messages"][0]["from"], "player");
    assert_eq!(page.el("chat-send").await.text().await.unwrap(), "Жіберу");
    assert_eq!(page.el("chat-input").await.attr("placeholder").await.unwrap().as_deref(), Some("Хабарлама жазыңыз…"));

    // The agent sees it waiting, takes it.
    let waiting = agent.waiting(&chat_id).await;
    assert_eq!((waiting["name"].as_str(), waiting["language"].as_str(), waiting["department"].as_str()), (Some(name), Some("kk"), Some("payments")), "{waiting:#}");
    assert_same_reference(&waiting["reference"], &reference);
    agent.send(json!({"type": "accept", "chat_id": chat_id})).await;
    let taken = agent.expect("the accepted chat", |f| f["type"] == "chat" && f["chat_id"] == chat_id.as_str()).await;
    assert_eq!(taken["status"], "active", "{taken:#}");
    agent.send(json!({"type": "resume", "chat_id": chat_id, "after": 0})).await;
    let m = agent.expect("the first message", |f| is_msg_with(f, &chat_id, first)).await;
    assert_eq!(m["from"], "player");
    let s = page.wait("the status change", |s| s["status"] == "active").await;
    assert_eq!(s["system"], json!(["waiting", "active"]), "{s:#}");
    assert!(s["system_text"][1].as_str().unwrap().contains("Данияр"), "{s:#}");

    // Typing, then a reply that tries to be markup.
    agent.send(json!({"type": "typing", "chat_id": chat_id, "on": true})).await;
    page.wait("the typing indicator", |s| s["typing"].as_str().is_some_and(|t| t.contains("жазып жатыр"))).await;
    agent.send(json!({"type": "say", "chat_id": chat_id, "client_id": "a1", "text": XSS})).await;
    agent.expect("the ack of a1", |f| f["type"] == "ack" && f["client_id"] == "a1").await;
    let s = page.wait("the agent's reply", |s| texts(s).iter().any(|t| t == XSS)).await;
    let reply = s["messages"].as_array().unwrap().iter().find(|m| m["text"] == XSS).unwrap();
    assert_eq!(reply["from"], "agent");
    assert_eq!(s["elements_from_text"], 0, "the reply made elements: {s:#}");
    assert_eq!(s["alerts"], json!([]), "the reply ran a script: {s:#}");
    assert!(s["typing"].is_null(), "a message ends the typing indicator");

    // The player answers; the agent gets it, and saw the player typing.
    let answer = "Рақмет! Жду, спасибо.";
    page.type_into("chat-input", answer).await;
    page.click("chat-send").await;
    agent.expect("the player's answer", |f| is_msg_with(f, &chat_id, answer)).await;
    assert!(agent.count(|f| f["type"] == "typing" && f["chat_id"] == chat_id.as_str() && f["on"] == true) >= 1, "{:#?}", agent.frames);
    page.wait("the answer stored", |s| s["messages"].as_array().unwrap().iter().any(|m| m["text"] == answer && !m["seq"].is_null())).await;

    // A reload: the transcript comes back once, and a message typed at once arrives once.
    client.refresh().await.unwrap();
    let after_reload = "После перезагрузки: ещё один вопрос";
    page.type_into("chat-input", after_reload).await;
    page.click("chat-send").await;
    agent.expect("the message typed after the reload", |f| is_msg_with(f, &chat_id, after_reload)).await;
    let s = page
        .wait("the resumed chat", |s| s["status"] == "active" && s["messages"].as_array().unwrap().iter().any(|m| m["text"] == after_reload && !m["seq"].is_null()))
        .await;
    assert_eq!(texts(&s), [first, XSS, answer, after_reload], "{s:#}");
    assert_unique_seqs(&s);
    assert_eq!(s["system"], json!(["waiting", "active"]), "no status line twice: {s:#}");
    assert_eq!(s["reference"], reference.as_str());

    // The connection is cut and stays cut: a message is kept as pending, then sent once.
    page.js("window.__blockWs = true; window.__sockets.forEach(function (s) { s.close(); }); return true;").await;
    page.wait("the widget noticing", |s| s["status"] == "reconnecting").await;
    let offline_msg = "Пока не было связи: номер карты 4400 **** 1234";
    page.type_into("chat-input", offline_msg).await;
    page.click("chat-send").await;
    let s = page.wait("the pending message", |s| s["messages"].as_array().unwrap().iter().any(|m| m["text"] == offline_msg && m["pending"] == true)).await;
    assert_eq!(s["stored"]["pending"][0]["text"], offline_msg, "pending messages survive in sessionStorage: {s:#}");
    agent.drain(Duration::from_millis(1500)).await;
    assert_eq!(agent.count(|f| is_msg_with(f, &chat_id, offline_msg)), 0);
    page.js("window.__blockWs = false; return true;").await;
    agent.expect("the message sent on reconnect", |f| is_msg_with(f, &chat_id, offline_msg)).await;
    let s = page.wait("the message confirmed", |s| s["status"] == "active" && s["messages"].as_array().unwrap().iter().any(|m| m["text"] == offline_msg && !m["seq"].is_null())).await;
    assert_eq!(texts(&s), [first, XSS, answer, after_reload, offline_msg], "{s:#}");
    assert_unique_seqs(&s);
    assert_eq!(s["stored"]["pending"], json!([]), "{s:#}");
    agent.drain(Duration::from_secs(2)).await;
    for t in [answer, after_reload, offline_msg] {
        assert_eq!(agent.count(|f| is_msg_with(f, &chat_id, t)), 1, "'{t}' reached the agent once: {:#?}", agent.frames);
    }

    // The player ends the chat.
    page.click("chat-end").await;
    agent.expect("the end of the chat", |f| f["type"] == "ended" && f["chat_id"] == chat_id.as_str()).await;
    let s = page.wait("the ended chat", |s| s["status"] == "ended").await;
    assert!(s["new_chat"] == true && s["input_enabled"] == false, "{s:#}");
    assert_eq!(s["errors"], json!([]), "script errors on the page: {s:#}");

    // The chat is a complaint like any other.
    let c = desk.complaint(&reference).await;
    assert_eq!(c["channel"], "chat", "{c:#}");

    // Nobody online: the offline form.
    agent.ws.close(None).await.unwrap();
    let started = Instant::now();
    while desk.online("payments", "ru").await {
        assert!(started.elapsed() < PATIENCE, "the agent left but payments/ru stays online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page.js("sessionStorage.clear(); return true;").await;
    let url = site.page("/ru", &base, &[("data-lang", "ru"), ("data-department", "payments")]);
    client.goto(&url).await.unwrap();
    page.click("chat-open").await;
    page.wait("the offline form", |s| s["offline_form"] == true).await;
    let intro = page.el("chat-offline-intro").await.text().await.unwrap();
    assert!(intro.contains("нет операторов"), "{intro}");
    let offline_text = "Верните, пожалуйста, ставку: матч отменён. <img src=x onerror=alert(2)>";
    page.type_into("chat-offline-name", "Тимур").await;
    page.type_into("chat-offline-email", "timur@mail.kz").await;
    page.type_into("chat-offline-text", offline_text).await;
    page.click("chat-offline-submit").await;
    let s = page.wait("the offline confirmation", |s| !s["offline_done"].is_null()).await;
    let offline_ref = s["reference"].as_str().unwrap().to_string();
    assert!(s["offline_done"].as_str().unwrap().contains(&offline_ref) && s["offline_done"].as_str().unwrap().contains("электронной почте"), "{s:#}");
    assert_eq!(s["alerts"], json!([]), "{s:#}");
    let c = desk.complaint(&offline_ref).await;
    assert_eq!(c["channel"], "web", "{c:#}");
    assert!(c["description"].as_str().unwrap().contains("ставку"), "{c:#}");

    client.close().await.unwrap();
}

/// A token the operator did not sign starts nothing; one it signed starts a chat without
/// asking the player's name or address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_tokens_in_the_browser() {
    if !browser_present("identity_tokens_in_the_browser") {
        return;
    }
    let _one = BROWSER.lock().await;
    let site = Site::start();
    let desk = desk(&site.base).await;
    let base = desk.server.base.clone();
    let session = desk.login().await;
    let mut agent = Agent::connect(&base, &session).await;

    let (_driver, client) = browser().await;
    let page = Page { client: &client };
    let exp = jiff::Timestamp::now().as_second() + 3600;
    let claims = json!({"sub": "P-104233", "name": "Айгерим", "email": "aigerim@mail.kz", "exp": exp});
    let forged = ombuds_core::chat::sign_identity(&claims, b"not the operator's secret");
    let url = site.page("/forged", &base, &[("data-lang", "ru"), ("data-department", "payments"), ("data-token", &forged)]);
    client.goto(&url).await.unwrap();
    page.click("chat-open").await;
    page.wait("the start form", |s| s["start_form"] == true).await;
    assert!(!page.el("chat-start-name").await.is_displayed().await.unwrap(), "a token replaces the name field");
    assert!(!page.el("chat-start-email").await.is_displayed().await.unwrap(), "a token replaces the e-mail field");
    page.type_into("chat-start-text", "Здравствуйте, вопрос по выводу").await;
    page.click("chat-start-submit").await;
    let s = page.wait("the identity error", |s| !s["error"].is_null()).await;
    assert!(s["error"].as_str().unwrap().contains("Не удалось подтвердить"), "{s:#}");
    assert!(s["stored"].is_null() && s["messages"] == json!([]) && s["reference"].is_null(), "no chat started: {s:#}");
    agent.drain(Duration::from_millis(1500)).await;
    assert!(
        agent.frames.iter().filter(|f| f["type"] == "queue").all(|f| f["waiting"] == json!([])),
        "a forged identity reached the queue: {:#?}",
        agent.frames
    );

    // The operator's real signature.
    page.js("sessionStorage.clear(); return true;").await;
    let signed = ombuds_core::chat::sign_identity(&claims, SECRET.as_bytes());
    let url = site.page("/signed", &base, &[("data-lang", "ru"), ("data-department", "payments"), ("data-token", &signed)]);
    client.goto(&url).await.unwrap();
    page.click("chat-open").await;
    page.wait("the start form", |s| s["start_form"] == true).await;
    page.type_into("chat-start-text", "Здравствуйте, вопрос по выводу").await;
    page.click("chat-start-submit").await;
    let s = page.wait("the chat", |s| !s["reference"].is_null() && s["messages"].as_array().unwrap().len() == 1).await;
    let reference = s["reference"].as_str().unwrap().to_string();
    let waiting = agent.waiting(s["stored"]["chat_id"].as_str().unwrap()).await;
    assert_same_reference(&waiting["reference"], &reference);
    assert_eq!(waiting["name"], "Айгерим", "the name comes from the token: {waiting:#}");
    let c = desk.complaint(&reference).await;
    assert_eq!(c["channel"], "chat", "{c:#}");

    client.close().await.unwrap();
}
