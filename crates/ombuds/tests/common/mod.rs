//! Running the real `ombuds` binary in tests.
#![allow(dead_code)]

pub mod browser;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn ombuds(database: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ombuds"));
    c.arg("--database").arg(database).env("OMBUDS_LOG", "warn").env_remove("OMBUDS_CONFIG").current_dir(std::env::temp_dir());
    c
}

pub fn run(database: &str, args: &[&str]) -> Output {
    ombuds(database).args(args).stdin(Stdio::null()).output().expect("run ombuds")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Adds an agent with the CLI (`ombuds user add <args> --password-stdin`), the password typed on
/// standard input; fails the test unless the agent is added.
pub fn add_user(database: &str, args: &[&str], password: &str) {
    use std::io::Write;
    let mut add = ombuds(database)
        .args(["user", "add"])
        .args(args)
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ombuds");
    add.stdin.take().expect("piped").write_all(format!("{password}\n").as_bytes()).expect("write the password");
    let o = add.wait_with_output().expect("run ombuds");
    assert!(o.status.success(), "{}", text(&o));
}

/// Creates an API token with the CLI and returns its secret.
pub fn token(database: &str) -> String {
    let o = run(database, &["token", "create", "--name", "test", "--scope", "complaints:write", "--scope", "complaints:read"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(database: &str) -> Server {
        Server::start_with(database, &[]).await
    }

    /// With global arguments before `serve` (`--config FILE`, say).
    pub async fn start_with(database: &str, global: &[&str]) -> Server {
        Server::start_on(database, global, free_port()).await
    }

    /// On a port chosen beforehand (a config that names the desk's own address needs it).
    pub async fn start_on(database: &str, global: &[&str], port: u16) -> Server {
        let child = ombuds(database)
            .args(global)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ombuds serve");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, base }
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database URL of a test store.
pub fn url(db: &ombuds_store::testing::TestDb) -> String {
    match &db.location {
        ombuds_store::Location::Sqlite(p) => format!("sqlite://{}", p.display()),
        ombuds_store::Location::Postgres(u) => u.clone(),
    }
}

/// An SMTP relay on loopback that keeps every message it is given (the binary's outbox sends
/// through it), for tests that read what players would receive.
pub struct MailCatcher(pub std::sync::Mutex<Vec<Vec<u8>>>);

impl ombuds_channels::smtp_in::SmtpHandler for MailCatcher {
    fn rcpt_to(&self, _: &str) -> Result<(), ombuds_channels::smtp_in::Reply> {
        Ok(())
    }
    fn data(self: std::sync::Arc<Self>, _: ombuds_channels::smtp_in::Envelope, raw: Vec<u8>) -> futures_util::future::BoxFuture<'static, ombuds_channels::smtp_in::Reply> {
        self.0.lock().unwrap().push(raw);
        Box::pin(async { ombuds_channels::smtp_in::Reply::ok("queued") })
    }
}

impl MailCatcher {
    /// Listens on a free loopback port: the catcher, its port, and the handle that keeps it up.
    pub async fn start() -> (std::sync::Arc<MailCatcher>, u16, tokio::sync::watch::Sender<bool>) {
        let me = std::sync::Arc::new(MailCatcher(std::sync::Mutex::new(vec![])));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(ombuds_channels::smtp_in::serve(listener, ombuds_channels::smtp_in::SmtpConfig::default(), me.clone(), stop_rx));
        (me, port, stop)
    }

    /// The first message (decoded as text, quoted-printable soft breaks joined) that contains
    /// `needle`, waiting for it to arrive.
    pub async fn wait_for(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self.0.lock().unwrap().iter().map(|raw| decoded(raw)).find(|m| m.contains(needle));
            if let Some(m) = found {
                return m;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no e-mail with {needle:?} arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A message's text parts as a player's mail client shows them.
fn decoded(raw: &[u8]) -> String {
    let parsed = ombuds_mail::inbound::parse(raw, &ombuds_mail::inbound::Limits::default());
    match parsed {
        Ok(m) => format!("{}\n{}\n{}", m.subject, m.text, String::from_utf8_lossy(raw)),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}
