//! The agent's chat console and the phone pop-up in real headless Chromium, against the real
//! binary: one browser plays the player (the widget on the operator's site, another origin), the
//! other the agent in the workspace. Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the
//! test says it was skipped, unless `OMBUDS_TEST_REQUIRE_BROWSER=1` (CI).

mod common;

use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const HOSTILE: &str = "<img src=x onerror=alert(1)><script>alert(2)</script>";

/// A tiny HTTP server of fixed pages on its own port: the operator's site, another origin.
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
                    let (status, body) = match pages.lock().unwrap().get(&path).cloned() {
                        Some(p) => ("200 OK", p),
                        None => ("404 Not Found", "not here".to_string()),
                    };
                    let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                });
            }
        });
        Site { base, pages }
    }

    fn page(&self, path: &str, desk: &str) -> String {
        let html = format!(
            r#"<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Operator</title>
<script>window.__alerts = []; window.alert = function (m) {{ window.__alerts.push(String(m)); }};</script></head>
<body><h1>Operator</h1><script src="{desk}/chat/widget.js" data-lang="ru" data-department="payments" async></script></body></html>"#
        );
        self.pages.lock().unwrap().insert(path.to_string(), html);
        format!("{}{path}", self.base)
    }
}

/// The widget as the player sees it (inside its shadow root).
const WIDGET: &str = r#"
const host = document.getElementById('ombuds-chat');
const r = host && host.shadowRoot;
if (!r) return null;
const q = (id) => r.querySelector('[data-testid="' + id + '"]');
const visible = (e) => !!e && !e.closest('[hidden]');
return {
  messages: [...r.querySelectorAll('[data-testid="chat-message"]')].map((li) => ({
    from: li.getAttribute('data-from'), seq: li.getAttribute('data-seq'),
    text: li.querySelector('[data-testid="chat-message-text"]').textContent,
  })),
  status: q('chat-status') ? q('chat-status').getAttribute('data-status') : null,
  reference: visible(q('chat-reference')) ? q('chat-reference').getAttribute('data-reference') : null,
  typing: visible(q('chat-typing')) ? q('chat-typing').textContent : null,
  start_form: visible(q('chat-start-form')),
  offline_form: visible(q('chat-offline-form')),
  elements_from_text: r.querySelectorAll('[data-testid="chat-message-text"] *').length,
  alerts: window.__alerts,
};
"#;

/// The console and the pop-up as the agent sees them.
const CONSOLE: &str = r#"
const q = (s, root) => (root || document).querySelector(s);
const all = (s, root) => [...(root || document).querySelectorAll(s)];
const visible = (e) => !!e && !e.closest('[hidden]');
const text = (e) => visible(e) ? e.textContent : null;
const popup = q('#call-popup');
return {
  status: q('#console-status') ? q('#console-status').getAttribute('data-state') : null,
  error: text(q('#console-error')),
  waiting: all('[data-testid=waiting-chat]').map((r) => ({
    chat_id: r.getAttribute('data-chat-id'),
    name: q('[data-testid=waiting-name]', r).textContent,
    language: q('[data-testid=waiting-language]', r).textContent,
    department: q('[data-testid=waiting-department]', r).textContent,
    preview: q('[data-testid=waiting-preview]', r).textContent,
  })),
  chats: all('[data-testid=chat]').map((c) => ({
    chat_id: c.getAttribute('data-chat-id'),
    state: c.getAttribute('data-state'),
    player: q('[data-testid=chat-player]', c).textContent,
    complaint: q('[data-testid=chat-complaint]', c) ? q('[data-testid=chat-complaint]', c).getAttribute('href') : null,
    typing: text(q('[data-testid=chat-typing]', c)),
    error: text(q('[data-testid=chat-error]', c)),
    notice: text(q('[data-testid=chat-notice]', c)),
    input_enabled: !q('[data-testid=chat-input]', c).disabled,
    lines: all('[data-testid=chat-line]', c).map((l) => ({
      from: l.getAttribute('data-from'), seq: l.getAttribute('data-seq'), pending: l.getAttribute('data-pending') === 'true',
      text: q('[data-testid=chat-line-text]', l).textContent,
    })),
  })),
  elements_from_text: all('[data-testid=chat-line-text] *').length + all('main img').length,
  popup: popup ? {
    call_id: popup.getAttribute('data-call-id'),
    caller: q('[data-testid=call-caller]', popup).textContent,
    player: q('[data-testid=call-player]', popup).textContent,
    complaints: all('[data-testid=call-complaint]', popup).map((a) => a.getAttribute('href')),
    result: text(q('[data-testid=call-result]', popup)),
    result_link: q('[data-testid=call-result-link]', popup) ? q('[data-testid=call-result-link]', popup).getAttribute('href') : null,
    error: text(q('[data-testid=call-error]', popup)),
  } : null,
  alerts: window.__alerts || [],
  live: document.body.getAttribute('data-live'),
};
"#;

async fn wait_for(client: &Client, script: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let s = client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("snapshot for {what}: {e}"));
        if !s.is_null() && ready(&s) {
            return s;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "waited {BROWSER_PATIENCE:?} for {what}; the page shows:\n{s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An element of the widget's shadow root.
async fn widget_el(client: &Client, testid: &str) -> fantoccini::elements::Element {
    let started = Instant::now();
    loop {
        let found = async {
            let host = client.find(Locator::Css("#ombuds-chat")).await.ok()?;
            let root = host.shadow_root().await.ok()?;
            root.find(Locator::Css(&format!("[data-testid=\"{testid}\"]"))).await.ok()
        }
        .await;
        if let Some(e) = found {
            return e;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "no element {testid} in the widget");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn widget_type(client: &Client, testid: &str, text: &str) {
    let e = widget_el(client, testid).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    let started = Instant::now();
    loop {
        if let Ok(e) = client.find(Locator::Css(selector)).await {
            return e;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "no element {selector}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn chat<'a>(s: &'a Value, chat_id: &str) -> Option<&'a Value> {
    s["chats"].as_array().unwrap().iter().find(|c| c["chat_id"] == chat_id)
}

fn has_line(s: &Value, chat_id: &str, from: &str, text: &str) -> bool {
    chat(s, chat_id).is_some_and(|c| c["lines"].as_array().unwrap().iter().any(|l| l["from"] == from && l["text"] == text && !l["seq"].is_null() && l["pending"] == false))
}

async fn api(method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_a_chat_and_the_pop_up_a_call() {
    if !browser_present("the_console_works_a_chat_and_the_pop_up_a_call") {
        return;
    }
    let _one = BROWSER.lock().await;
    let site = Site::start();
    let db = TestDb::sqlite();
    let database = url(&db);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ombuds.toml");
    std::fs::write(&config, format!("[chat]\nallowed_origins = [\"{}\"]\n", site.base)).unwrap();
    add_user(&database, &["daniyar", "--name", "Данияр", "--role", "agent", "--department", "payments", "--language", "ru", "--language", "kk"], PASSWORD);
    let backend = token(&database);
    let mint = |scope: &str| {
        let o = run(&database, &["token", "create", "--name", scope, "--scope", scope]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string()
    };
    let (admin, pbx) = (mint("admin"), mint("cti"));
    let server = Server::start_with(&database, &["--config", config.to_str().unwrap()]).await;
    let base = server.base.clone();
    let (s, b) = api(reqwest::Method::PUT, format!("{base}/api/v1/agents/daniyar/extension"), &admin, Some(json!({"extension": "101"}))).await;
    assert_eq!(s, 200, "{b}");

    // The agent signs in and opens the console: connected with the session cookie.
    let (_agent_driver, agent) = browser().await;
    agent.goto(&format!("{base}/ui/login?lang=ru")).await.unwrap();
    css(&agent, "#login").await.send_keys("daniyar").await.unwrap();
    css(&agent, "#password").await.send_keys(PASSWORD).await.unwrap();
    css(&agent, "form button[type=submit]").await.click().await.unwrap();
    let started = Instant::now();
    while agent.current_url().await.unwrap().path() != "/ui/queue" {
        assert!(started.elapsed() < BROWSER_PATIENCE, "not signed in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.find(Locator::LinkText("Чаты")).await.expect("the nav links the console").click().await.unwrap();
    agent.execute("window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); }; return true;", vec![]).await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the console online", |s| s["status"] == "online").await;
    assert_eq!(s["chats"], json!([]), "{s:#}");

    // The player starts a chat through the widget on the operator's site.
    let (_player_driver, player) = browser().await;
    player.goto(&site.page("/", &base)).await.unwrap();
    widget_el(&player, "chat-open").await.click().await.unwrap();
    wait_for(&player, WIDGET, "the start form (an agent is online)", |s| s["start_form"] == true).await;
    let first = "Здравствуйте! Вывод на карту не пришёл уже три дня.";
    widget_type(&player, "chat-start-name", "Айгүл Сәрсенова").await;
    widget_type(&player, "chat-start-email", "aigul@example.kz").await;
    widget_type(&player, "chat-start-text", first).await;
    widget_el(&player, "chat-start-submit").await.click().await.unwrap();
    let w = wait_for(&player, WIDGET, "the chat started", |s| !s["reference"].is_null()).await;
    let reference = w["reference"].as_str().unwrap().to_string();

    // The agent sees it waiting and accepts it.
    let s = wait_for(&agent, CONSOLE, "the chat waiting", |s| s["waiting"].as_array().unwrap().iter().any(|w| w["name"] == "Айгүл Сәрсенова")).await;
    let waiting = s["waiting"].as_array().unwrap().iter().find(|w| w["name"] == "Айгүл Сәрсенова").unwrap().clone();
    assert_eq!((waiting["language"].as_str(), waiting["preview"].as_str()), (Some("Русский"), Some(first)), "{waiting:#}");
    assert!(!waiting["department"].as_str().unwrap().is_empty(), "{waiting:#}");
    let chat_id = waiting["chat_id"].as_str().unwrap().to_string();
    css(&agent, &format!("[data-chat-id=\"{chat_id}\"] [data-testid=accept]")).await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the accepted chat with its first message", |s| has_line(s, &chat_id, "player", first)).await;
    let c = chat(&s, &chat_id).unwrap();
    assert_eq!(c["player"], "Айгүл Сәрсенова");
    assert_eq!(c["complaint"].as_str().map(|h| h.replace('-', "")), Some(format!("/ui/complaints/{}", reference.replace('-', ""))), "{c:#}");
    wait_for(&agent, CONSOLE, "the accepted chat gone from the waiting list", |s| s["waiting"].as_array().unwrap().iter().all(|w| w["chat_id"] != chat_id.as_str())).await;
    wait_for(&player, WIDGET, "the widget told the chat is active", |w| w["status"] == "active").await;

    // The player types: the agent sees it, then the message.
    let from_player = "Номер заявки 4471, сумма 25 000 ₸.";
    widget_type(&player, "chat-input", from_player).await;
    wait_for(&agent, CONSOLE, "the player typing", |s| chat(s, &chat_id).is_some_and(|c| c["typing"].as_str().is_some_and(|t| t.contains("печатает")))).await;
    widget_el(&player, "chat-send").await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the player's message", |s| has_line(s, &chat_id, "player", from_player)).await;
    assert!(chat(&s, &chat_id).unwrap()["typing"].is_null(), "a message ends the typing indicator: {s:#}");

    // The agent types (the player sees it), Shift+Enter makes a new line, Enter sends.
    let input = css(&agent, &format!("[data-chat-id=\"{chat_id}\"] [data-testid=chat-input]")).await;
    input.send_keys("Проверяю заявку.").await.unwrap();
    wait_for(&player, WIDGET, "the agent typing", |w| w["typing"].as_str().is_some_and(|t| t.contains("Данияр"))).await;
    input.send_keys("\u{E008}\u{E007}\u{E000}Минуту, пожалуйста.\u{E007}").await.unwrap();
    let reply = "Проверяю заявку.\nМинуту, пожалуйста.";
    let w = wait_for(&player, WIDGET, "the agent's reply", |w| w["messages"].as_array().unwrap().iter().any(|m| m["from"] == "agent" && m["text"] == reply)).await;
    assert!(w["typing"].is_null(), "{w:#}");
    wait_for(&agent, CONSOLE, "the reply acknowledged", |s| has_line(s, &chat_id, "agent", reply)).await;
    assert_eq!(input.prop("value").await.unwrap().as_deref(), Some(""), "the box is emptied");

    // A player's message that looks like markup is text on the agent's page, and runs nothing.
    widget_type(&player, "chat-input", HOSTILE).await;
    widget_el(&player, "chat-send").await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the hostile message", |s| has_line(s, &chat_id, "player", HOSTILE)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s2 = agent.execute(CONSOLE, vec![]).await.unwrap();
    assert_eq!((s["elements_from_text"].as_u64(), s2["alerts"].clone()), (Some(0), json!([])), "the message made elements or ran: {s2:#}");
    let lines: Vec<&str> = chat(&s, &chat_id).unwrap()["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(lines, [first, from_player, reply, HOSTILE], "each message once, in order");

    // The agent ends the chat: both sides say so.
    css(&agent, &format!("[data-chat-id=\"{chat_id}\"] [data-testid=chat-end]")).await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the ended chat", |s| chat(s, &chat_id).is_some_and(|c| c["state"] == "ended")).await;
    let c = chat(&s, &chat_id).unwrap();
    assert!(c["input_enabled"] == false && c["notice"].as_str().unwrap().contains("Чат завершён"), "{c:#}");
    wait_for(&player, WIDGET, "the widget told the chat ended", |w| w["status"] == "ended").await;
    player.close().await.unwrap();

    // A call: the player, known by phone with an open complaint, rings and the agent answers.
    let (s, filed) = api(
        reqwest::Method::POST,
        format!("{base}/api/v1/complaints"),
        &backend,
        Some(json!({"channel": "web", "department": "payments", "subject": "Вывод не пришёл", "description": "Заявка 4471",
            "player": {"name": "Айгүл Сәрсенова", "email": "aigul@example.kz", "phone": "+7 701 123 45 67", "language": "ru"}})),
    )
    .await;
    assert_eq!(s, 201, "{filed}");
    let open_ref = filed["reference"].as_str().unwrap().to_string();
    let events = format!("{base}/api/v1/cti/events");
    let (s, b) = api(reqwest::Method::POST, events.clone(), &pbx, Some(json!({"event": "ringing", "call_id": "1732530000.42", "caller": "8 701 123 45 67", "called": "3300"}))).await;
    assert_eq!(s, 200, "{b}");
    let call_id = b["call"]["id"].as_str().unwrap().to_string();
    let (s, b) = api(reqwest::Method::POST, events.clone(), &pbx, Some(json!({"event": "answered", "call_id": "1732530000.42", "extension": "101"}))).await;
    assert_eq!(s, 200, "{b}");
    let s = wait_for(&agent, CONSOLE, "the pop-up", |s| !s["popup"].is_null()).await;
    let p = &s["popup"];
    assert_eq!((p["call_id"].as_str(), p["caller"].as_str()), (Some(call_id.as_str()), Some("+77011234567")), "{p:#}");
    assert!(p["player"].as_str().unwrap().contains("Айгүл"), "{p:#}");
    assert!(p["complaints"].as_array().unwrap().iter().any(|h| h.as_str() == Some(&format!("/ui/complaints/{open_ref}"))), "{p:#}");

    // "Add the call to complaint …".
    css(&agent, "[data-testid=call-attach-ref]").await.select_by_value(&open_ref).await.unwrap();
    css(&agent, "[data-testid=call-attach]").await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the call added", |s| !s["popup"]["result"].is_null() || !s["popup"]["error"].is_null()).await;
    assert_eq!(s["popup"]["result_link"], format!("/ui/complaints/{open_ref}"), "{s:#}");
    let (st, calls) = api(reqwest::Method::GET, format!("{base}/api/v1/complaints/{open_ref}/calls"), &backend, None).await;
    assert_eq!(st, 200, "{calls}");
    assert_eq!(calls.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect::<Vec<_>>(), [call_id.as_str()]);

    // On the queue page the pop-up comes too (a calls-only socket): register a complaint there.
    agent.goto(&format!("{base}/ui/queue")).await.unwrap();
    agent.execute("window.__alerts = []; return true;", vec![]).await.unwrap();
    // The page's calls-only socket is up once the script marks the page live.
    wait_for(&agent, CONSOLE, "the queue page's socket", |s| s["live"] == "ready" && s["status"].is_null()).await;
    let (s, b) = api(reqwest::Method::POST, events.clone(), &pbx, Some(json!({"event": "ringing", "call_id": "1732530100.7", "caller": "+77011234567", "called": "3300"}))).await;
    assert_eq!(s, 200, "{b}");
    let second = b["call"]["id"].as_str().unwrap().to_string();
    api(reqwest::Method::POST, events.clone(), &pbx, Some(json!({"event": "answered", "call_id": "1732530100.7", "extension": "101"}))).await;
    wait_for(&agent, CONSOLE, "the pop-up on the queue page", |s| s["popup"]["call_id"] == second.as_str()).await;
    css(&agent, "[data-testid=call-register]").await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the missing fields", |s| !s["popup"]["error"].is_null()).await;
    assert!(s["popup"]["error"].as_str().unwrap().contains("Заполните тему"), "{s:#}");
    css(&agent, "[data-testid=call-subject]").await.send_keys("Бонус не начислен").await.unwrap();
    css(&agent, "[data-testid=call-description]").await.send_keys("Игрок звонил: бонус за депозит не пришёл").await.unwrap();
    css(&agent, "[data-testid=call-register]").await.click().await.unwrap();
    let s = wait_for(&agent, CONSOLE, "the complaint registered", |s| !s["popup"]["result_link"].is_null()).await;
    let made = s["popup"]["result_link"].as_str().unwrap().trim_start_matches("/ui/complaints/").to_string();
    let (st, c) = api(reqwest::Method::GET, format!("{base}/api/v1/complaints/{made}"), &backend, None).await;
    assert_eq!((st, c["channel"].as_str(), c["subject"].as_str()), (200, Some("phone"), Some("Бонус не начислен")), "{c:#}");
    assert_eq!(s["alerts"], json!([]), "{s:#}");
    agent.close().await.unwrap();
    drop(server);
}
