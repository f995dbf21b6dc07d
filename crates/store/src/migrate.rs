//! Embedded migrations, one folder per backend, applied in order and recorded in
//! `schema_migrations`. Both folders must list the same versions (a test guards it).

use crate::db::{Conn, Db};
use crate::{StoreError, with_tx};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($version:literal $name:literal),* $(,)?) => {
        &[$(Migration { version: $version, name: $name, sql: include_str!(concat!("../migrations/", $dir, "/", $name, ".sql")) }),*]
    };
}

pub const SQLITE: &[Migration] = migrations!("sqlite": 1 "0001_init", 2 "0002_mail", 3 "0003_cti", 4 "0004_chat", 5 "0005_routing", 6 "0006_sla", 7 "0007_sla_settings", 8 "0008_login_lockout", 9 "0009_faq", 10 "0010_faq_deflections", 11 "0011_totp", 12 "0012_tracking", 13 "0013_queues", 14 "0014_workspace", 15 "0015_merge", 16 "0016_mail_templates", 17 "0017_history_queue", 18 "0018_bouncing", 19 "0019_limits", 20 "0020_sender_auth");
pub const POSTGRES: &[Migration] = migrations!("postgres": 1 "0001_init", 2 "0002_mail", 3 "0003_cti", 4 "0004_chat", 5 "0005_routing", 6 "0006_sla", 7 "0007_sla_settings", 8 "0008_login_lockout", 9 "0009_faq", 10 "0010_faq_deflections", 11 "0011_totp", 12 "0012_tracking", 13 "0013_queues", 14 "0014_workspace", 15 "0015_merge", 16 "0016_mail_templates", 17 "0017_history_queue", 18 "0018_bouncing", 19 "0019_limits", 20 "0020_sender_auth");

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies what is missing. Safe to run from several nodes at once on PostgreSQL (an advisory
/// lock serialises them) and while the server runs on SQLite (the write lock does).
pub async fn run(db: &Db) -> Result<Vec<&'static str>, StoreError> {
    let list = match db {
        Db::Sqlite { .. } => SQLITE,
        Db::Postgres(_) => POSTGRES,
    };
    with_tx!(db, |conn| {
        if let Conn::Pg(_) = conn {
            conn.execute("SELECT pg_advisory_xact_lock(7264001)", &[]).await?;
        }
        conn.execute(LEDGER, &[]).await?;
        let applied: Vec<i64> = conn
            .fetch_all("SELECT version FROM schema_migrations ORDER BY version", &[])
            .await?
            .iter()
            .map(|r| r.i64("version"))
            .collect::<Result<_, _>>()?;
        if let Some(newer) = applied.iter().find(|v| !list.iter().any(|m| m.version == **v)) {
            return Err(StoreError::Config(format!(
                "the database has migration {newer}, which this ombuds does not know: it was written by a newer version"
            )));
        }
        let mut done = vec![];
        for m in list.iter().filter(|m| !applied.contains(&m.version)) {
            conn.execute_script(m.sql).await?;
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &crate::params![m.version, m.name, ombuds_core::to_micros(ombuds_core::now())],
            )
            .await?;
            done.push(m.name);
        }
        Ok::<_, StoreError>(done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |l: &[Migration]| l.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
        // And the same tables, in the same order.
        let tables = |sql: &str| {
            sql.lines()
                .filter_map(|l| l.strip_prefix("CREATE TABLE ").map(|t| t.split_whitespace().next().unwrap().to_string()))
                .collect::<Vec<_>>()
        };
        for (s, p) in SQLITE.iter().zip(POSTGRES) {
            assert_eq!(tables(s.sql), tables(p.sql), "migration {}", s.name);
        }
    }

    #[test]
    fn queries_say_open_as_the_partial_indexes_do() {
        let open = crate::queries::OPEN;
        for list in [SQLITE, POSTGRES] {
            let sql = list.iter().find(|m| m.name == "0013_queues").expect("listed").sql;
            assert!(sql.matches(&format!("WHERE {open}")).count() >= 3);
            assert!(sql.contains(&format!("WHERE sla_breached AND {open}")));
            assert!(sql.contains(&format!("WHERE escalated AND {open}")));
            let sql = list.iter().find(|m| m.name == "0017_history_queue").expect("listed").sql;
            assert_eq!(sql.matches(&format!("WHERE {open}")).count(), 2);
        }
    }
}
