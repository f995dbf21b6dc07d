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
        let port = free_port();
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
