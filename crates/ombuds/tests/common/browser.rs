//! Headless Chromium through chromedriver, for the browser tests. Without `/usr/bin/chromium`
//! and `/usr/bin/chromedriver` they say they were skipped, unless
//! `OMBUDS_TEST_REQUIRE_BROWSER=1` (CI) makes a missing browser a failure.

use super::free_port;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long anything a browser test waits for may take.
pub const BROWSER_PATIENCE: Duration = Duration::from_secs(20);

/// One browser test at a time: two Chromiums on a two-core machine make both slow.
pub static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the browser is here; panics when CI requires it and it is not.
pub fn browser_present(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !std::path::Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("OMBUDS_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("{test}: OMBUDS_TEST_REQUIRE_BROWSER=1 but {} missing (apt-get install chromium chromium-driver)", missing.join(" and "));
    }
    eprintln!("SKIPPED {test}: {} missing (apt-get install chromium chromium-driver); set OMBUDS_TEST_REQUIRE_BROWSER=1 to fail instead", missing.join(" and "));
    false
}

// ---- chromedriver and the browser ------------------------------------------------------------

/// Chromedriver in its own process group, so that dropping it also ends the Chromium it started.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn browser() -> (Driver, Client) {
    use std::os::unix::process::CommandExt;
    // Two rustls crypto providers are compiled in (lettre's ring, hyper-rustls' aws-lc): name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "chromedriver did not come up on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"],
        },
    });
    let caps = caps.as_object().unwrap().clone();
    let client = ClientBuilder::rustls().expect("rustls").capabilities(caps).connect(&url).await.expect("start a Chromium session");
    (driver, client)
}

