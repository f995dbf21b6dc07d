//! The HTTP test harness shared by the routing and SLA tests: a desk on a test store behind a
//! real listener, an administrator's session and a complaints:read/write token.
#![allow(dead_code)]

use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub desk: Desk,
    /// complaints:read/write
    pub token: String,
    /// The administrator's session.
    pub admin: String,
}

impl TestApp {
    pub async fn spawn(db: &TestDb, config: DeskConfig) -> TestApp {
        let desk = Desk::with_store(db.open().await, config).await;
        desk.seed_departments().await.unwrap();
        let (login, password) = desk.ensure_admin().await.unwrap().unwrap();
        let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig { body_limit: 64 * 1024, ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(ombuds_web::serve(listener, app, std::future::pending()));
        let mut t = TestApp { base, http: Client::new(), desk, token: String::new(), admin: String::new() };
        let (s, b) = t.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        t.admin = b["token"].as_str().unwrap().to_string();
        let (s, b) = t
            .call(Method::POST, "/api/v1/tokens", Some(&t.admin), Some(json!({"name": "backend", "scopes": ["complaints:read", "complaints:write"]})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        t.token = b["token"].as_str().unwrap().to_string();
        t
    }

    pub async fn call(&self, m: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap()).await
    }

    /// Adds an agent and signs them in: (id, session).
    pub async fn agent(&self, login: &str, role: &str, departments: &[&str]) -> (String, String) {
        let (s, b) = self
            .call(Method::POST, "/api/v1/agents", Some(&self.admin), Some(json!({"login": login, "name": login, "role": role, "departments": departments, "password": AGENT_PASSWORD})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["agent"]["id"].as_str().unwrap().to_string();
        let (_, b) = self.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": AGENT_PASSWORD}))).await;
        (id, b["token"].as_str().unwrap().to_string())
    }

    /// Registers a complaint with the backend's token; fails the test unless it is created.
    pub async fn register_json(&self, body: Value) -> Value {
        let (s, b) = self.call(Method::POST, "/api/v1/complaints", Some(&self.token), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    /// The `data` of a complaint's events of one type.
    pub async fn events_of(&self, reference: &str, kind: &str) -> Vec<Value> {
        let (_, events) = self.call(Method::GET, &format!("/api/v1/complaints/{reference}/events"), Some(&self.token), None).await;
        events.as_array().unwrap().iter().filter(|e| e["data"]["type"] == kind).map(|e| e["data"].clone()).collect()
    }
}

pub async fn read(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A browser's cookie jar, kept by hand to see every attribute the server sets.
#[derive(Default)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    pub fn take(&mut self, headers: &HeaderMap) -> Vec<String> {
        let set: Vec<String> = headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set {
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
        set
    }
    pub fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

pub async fn page(app: &TestApp, jar: &mut Jar, path: &str) -> (StatusCode, HeaderMap, String) {
    let res = app.http.get(format!("{}{path}", app.base)).header("cookie", jar.header()).send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    jar.take(&h);
    (s, h, res.text().await.unwrap())
}

/// `application/x-www-form-urlencoded`, as a browser sends a form.
pub fn encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// The password `TestApp::agent` gives every agent.
pub const AGENT_PASSWORD: &str = "correct horse battery";

/// Signs `login` in through the sign-in form (in `lang`) with `password`: the browser's cookies,
/// or the status the sign-in answered.
pub async fn try_sign_in(app: &TestApp, login: &str, password: &str, lang: &str) -> Result<Jar, StatusCode> {
    let mut jar = Jar::default();
    page(app, &mut jar, &format!("/ui/login?lang={lang}")).await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let res = app
        .http
        .post(format!("{}/ui/login", app.base))
        .header("cookie", jar.header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("login", login), ("password", password), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    if res.status() != StatusCode::SEE_OTHER {
        return Err(res.status());
    }
    jar.take(res.headers());
    Ok(jar)
}

/// Signs in an agent `TestApp::agent` made, through the sign-in form: the browser's cookies.
pub async fn sign_in(app: &TestApp, login: &str, lang: &str) -> Jar {
    try_sign_in(app, login, AGENT_PASSWORD, lang).await.unwrap_or_else(|s| panic!("{login} signs in: {s}"))
}

pub async fn form(app: &TestApp, jar: &mut Jar, path: &str, fields: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let res = app.http.post(format!("{}{path}", app.base)).header("cookie", jar.header()).header("content-type", "application/x-www-form-urlencoded").body(encode(fields)).send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    jar.take(&h);
    (s, h, res.text().await.unwrap())
}

/// The player's side: an app whose client does not follow redirects (the tests read them) and
/// whose tracking codes may be asked for back to back.
pub async fn tracking_app(db: &TestDb) -> TestApp {
    let mut config = DeskConfig::default();
    config.tracking.code_gap = std::time::Duration::ZERO;
    let app = TestApp::spawn(db, config).await;
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { http: client, ..app }
}

/// The code the player would read in the e-mail (the test reads the mailbox's side: the store).
pub async fn track_code(app: &TestApp, reference: &str) -> Option<String> {
    let store = app.desk.store();
    let c = store.complaint_by_ref(&ombuds_core::ComplaintRef::parse(reference).unwrap()).await.unwrap();
    let live = store.track_code(c.id).await.unwrap()?;
    let secret = store.desk_secret("tracking", b"unused").await.unwrap();
    Some(ombuds_core::tracking::TrackKeys::new(&secret).code(c.id, &live.nonce))
}

pub const BOUNDARY: &str = "----ombudsTestBoundary7MA4YWxkTrZu0gW";

/// A multipart form as a browser sends it: (name, filename, bytes), parts in the given order.
pub fn multipart_body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes()),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Posts [`multipart_body`] with the jar's cookies: (status, Location, body).
pub async fn multipart(app: &TestApp, jar: &mut Jar, path: &str, parts: &[(&str, Option<&str>, &[u8])]) -> (StatusCode, String, String) {
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .header("cookie", jar.header())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart_body(parts))
        .send()
        .await
        .unwrap();
    let s = res.status();
    let location = res.headers().get(reqwest::header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    jar.take(res.headers());
    (s, location, res.text().await.unwrap_or_default())
}
