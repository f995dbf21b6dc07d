//! Test support shared by every crate's tests: a fresh store per test on SQLite (a temporary
//! directory) or PostgreSQL (a new database on the server `OMBUDS_TEST_POSTGRES_URL` points at).
//! Without that variable the PostgreSQL variants say they were skipped; with
//! `OMBUDS_TEST_REQUIRE_POSTGRES=1` (CI) a missing server is a failure instead.

use crate::{DbOptions, Location, Store};
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write;

pub struct TestDb {
    pub location: Location,
    /// Keeps the SQLite directory alive for the test's duration.
    pub dir: Option<tempfile::TempDir>,
    pub label: &'static str,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let location = Location::Sqlite(dir.path().join("ombuds.db"));
        TestDb { location, dir: Some(dir), label: "sqlite" }
    }

    /// A new, empty PostgreSQL database, or `None` (and a note on stderr) when no server is set.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var("OMBUDS_TEST_POSTGRES_URL") else {
            if std::env::var("OMBUDS_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("OMBUDS_TEST_REQUIRE_POSTGRES=1 but OMBUDS_TEST_POSTGRES_URL is not set");
            }
            static SAID: std::sync::Once = std::sync::Once::new();
            // Straight to the terminal, past the test harness's capture.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the PostgreSQL variants of these tests are SKIPPED: set OMBUDS_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them"
                );
            });
            return None;
        };
        let mut admin = PgConnection::connect(&base).await.unwrap_or_else(|e| panic!("cannot reach {base}: {e}"));
        let now = jiff::Timestamp::now().as_second();
        // Sweep databases left behind by crashed runs more than two hours ago.
        let old: Vec<(String,)> =
            sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'ombuds\\_t\\_%'").fetch_all(&mut admin).await.unwrap();
        for (name,) in old {
            let born: i64 = name.split('_').nth(2).and_then(|s| s.parse().ok()).unwrap_or(now);
            if now - born > 7200 {
                let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
            }
        }
        let name = format!("ombuds_t_{now}_{}", uuid::Uuid::now_v7().simple());
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("create test database");
        let url = match base.rfind('/') {
            Some(i) if base[..i].contains("://") && base[..i].len() > base.find("://").unwrap() + 2 => {
                let query = base[i + 1..].find('?').map(|q| &base[i + 1 + q..]).unwrap_or("");
                format!("{}/{name}{query}", &base[..i])
            }
            _ => format!("{base}/{name}"),
        };
        Some(TestDb { location: Location::Postgres(url), dir: None, label: "postgres" })
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.location, &DbOptions::default()).await.expect("open store")
    }

    /// Drops the PostgreSQL database (SQLite's directory goes with the value).
    pub async fn cleanup(self) {
        if let Location::Postgres(url) = &self.location {
            let base = std::env::var("OMBUDS_TEST_POSTGRES_URL").unwrap();
            let name = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
            if let Ok(mut admin) = PgConnection::connect(&base).await {
                let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
            }
        }
    }
}

/// Defines `mod $name { sqlite, postgres }` running `async fn $body(TestDb)` on each backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite();
                super::$body(&db).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$body(&db).await;
                    db.cleanup().await;
                }
            }
        }
    )*};
}
