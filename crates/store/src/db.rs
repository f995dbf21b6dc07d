//! The two backends behind one concrete enum. SQL is written once with `$n` placeholders
//! (both SQLite and PostgreSQL accept them); parameters and rows are backend-neutral, so the
//! rest of the store never branches on the backend except where the SQL really differs.

use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row as _, SqliteConnection, SqlitePool};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub enum Db {
    /// One writer connection (SQLite has one writer anyway), a pool of readers, and the task
    /// that checkpoints the WAL beside them.
    Sqlite { write: SqlitePool, read: SqlitePool, checkpoints: Arc<Checkpointer> },
    Postgres(PgPool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Copies the SQLite WAL back into the database off the commit path: every
/// `CHECKPOINT_EVERY`, a PASSIVE checkpoint on its own connection (it never blocks the writer
/// or a reader; it copies what no reader still needs and fsyncs the database file).
#[derive(Debug)]
pub struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

impl Checkpointer {
    fn start(mut conn: SqliteConnection) -> Checkpointer {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let started = std::time::Instant::now();
                match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await {
                    Ok((_, log, done)) if log > 0 => {
                        metrics::histogram!("ombuds_wal_checkpoint_seconds").record(started.elapsed().as_secs_f64());
                        metrics::gauge!("ombuds_wal_frames").set(log as f64);
                        tracing::trace!(log, done, "WAL checkpoint");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints by itself past 64 MiB"),
                }
            }
        });
        Checkpointer { task }
    }

    fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How to reach the store: `sqlite://PATH` (or a bare path), or `postgres://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
            return Err(StoreError::Config(format!(
                "'{url}' is not a database location: use sqlite://PATH or postgres://USER@HOST/DB"
            )));
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }
}

/// A backend-neutral query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum P {
    I64(Option<i64>),
    Text(Option<String>),
    Uuid(Option<Uuid>),
    Bytes(Option<Vec<u8>>),
    Bool(bool),
}

impl From<i64> for P {
    fn from(v: i64) -> Self {
        P::I64(Some(v))
    }
}
impl From<Option<i64>> for P {
    fn from(v: Option<i64>) -> Self {
        P::I64(v)
    }
}
impl From<&str> for P {
    fn from(v: &str) -> Self {
        P::Text(Some(v.to_string()))
    }
}
impl From<String> for P {
    fn from(v: String) -> Self {
        P::Text(Some(v))
    }
}
impl From<Option<String>> for P {
    fn from(v: Option<String>) -> Self {
        P::Text(v)
    }
}
impl From<Option<&str>> for P {
    fn from(v: Option<&str>) -> Self {
        P::Text(v.map(str::to_string))
    }
}
impl From<Uuid> for P {
    fn from(v: Uuid) -> Self {
        P::Uuid(Some(v))
    }
}
impl From<Option<Uuid>> for P {
    fn from(v: Option<Uuid>) -> Self {
        P::Uuid(v)
    }
}
impl From<Vec<u8>> for P {
    fn from(v: Vec<u8>) -> Self {
        P::Bytes(Some(v))
    }
}
impl From<Option<Vec<u8>>> for P {
    fn from(v: Option<Vec<u8>>) -> Self {
        P::Bytes(v)
    }
}
impl From<bool> for P {
    fn from(v: bool) -> Self {
        P::Bool(v)
    }
}

/// `params![a, b, c]` → `Vec<P>`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => {{
        // Often borrowed as a slice right away; a Vec all the same, so callers can extend it.
        #[allow(clippy::useless_vec)]
        let v = vec![$($crate::db::P::from($v)),*];
        v
    }};
}

macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                P::I64(v) => q.bind(*v),
                P::Text(v) => q.bind(v.clone()),
                P::Uuid(v) => q.bind(*v),
                P::Bytes(v) => q.bind(v.clone()),
                P::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// A row from either backend, read by column name.
pub enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
}

macro_rules! getter {
    ($name:ident, $t:ty) => {
        pub fn $name(&self, col: &str) -> Result<$t, StoreError> {
            Ok(match self {
                Row::Sqlite(r) => r.try_get::<$t, _>(col)?,
                Row::Pg(r) => r.try_get::<$t, _>(col)?,
            })
        }
    };
}

impl Row {
    getter!(i64, i64);
    getter!(opt_i64, Option<i64>);
    getter!(text, String);
    getter!(opt_text, Option<String>);
    getter!(uuid, Uuid);
    getter!(opt_uuid, Option<Uuid>);
    getter!(bytes, Vec<u8>);
    getter!(opt_bytes, Option<Vec<u8>>);
    getter!(boolean, bool);
}

/// One connection of either backend, inside or outside a transaction.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }

    pub async fn execute(&mut self, sql: &str, params: &[P]) -> Result<u64, StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => bind_all!(sqlx::query(sql), params).execute(&mut **c).await?.rows_affected(),
            Conn::Pg(c) => bind_all!(sqlx::query(sql), params).execute(&mut **c).await?.rows_affected(),
        })
    }

    pub async fn fetch_all(&mut self, sql: &str, params: &[P]) -> Result<Vec<Row>, StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => bind_all!(sqlx::query(sql), params).fetch_all(&mut **c).await?.into_iter().map(Row::Sqlite).collect(),
            Conn::Pg(c) => bind_all!(sqlx::query(sql), params).fetch_all(&mut **c).await?.into_iter().map(Row::Pg).collect(),
        })
    }

    /// As `fetch_all`, planned for these very parameters each time (PostgreSQL: an unnamed
    /// statement). For queries whose best plan depends on the values: a generic plan for
    /// `search_text LIKE $1` cannot tell a word in every tenth complaint from a rare one.
    pub async fn fetch_all_planned(&mut self, sql: &str, params: &[P]) -> Result<Vec<Row>, StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => bind_all!(sqlx::query(sql), params).fetch_all(&mut **c).await?.into_iter().map(Row::Sqlite).collect(),
            Conn::Pg(c) => bind_all!(sqlx::query(sql).persistent(false), params).fetch_all(&mut **c).await?.into_iter().map(Row::Pg).collect(),
        })
    }

    pub async fn fetch_optional(&mut self, sql: &str, params: &[P]) -> Result<Option<Row>, StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => bind_all!(sqlx::query(sql), params).fetch_optional(&mut **c).await?.map(Row::Sqlite),
            Conn::Pg(c) => bind_all!(sqlx::query(sql), params).fetch_optional(&mut **c).await?.map(Row::Pg),
        })
    }

    /// Runs a script of several statements (migrations).
    pub async fn execute_script(&mut self, sql: &str) -> Result<(), StoreError> {
        let sql = AssertSqlSafe(sql.to_string());
        match self {
            Conn::Sqlite(c) => {
                sqlx::raw_sql(sql).execute(&mut **c).await?;
            }
            Conn::Pg(c) => {
                sqlx::raw_sql(sql).execute(&mut **c).await?;
            }
        }
        Ok(())
    }
}

/// Pool sizes and limits.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub busy_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions { max_connections: 8, busy_timeout: Duration::from_secs(10) }
    }
}

impl Db {
    pub async fn connect(location: &Location, opts: &DbOptions) -> Result<Db, StoreError> {
        match location {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
                }
                let base = SqliteConnectOptions::new()
                    .filename(path)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: every commit is on disk before it is answered. Speed comes from
                    // group commit, not from weaker durability.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(opts.busy_timeout)
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", "-16000");
                // Group commit makes one multi-row statement per batch size and table: keep
                // them all prepared. The WAL is checkpointed by its own task (below), so no
                // commit pays for copying most pages into the database. Under steady writes that
                // task never catches the last frames, and only a writer can restart the WAL from
                // its beginning after a complete checkpoint: so the writer still checkpoints at
                // 16k pages (64 MiB), finishing the little the task left, which bounds the WAL.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(
                        base.clone()
                            .create_if_missing(true)
                            .statement_cache_capacity(4096)
                            .pragma("cache_size", "-65536")
                            .pragma("wal_autocheckpoint", "16384")
                            .pragma("journal_size_limit", "67108864"),
                    )
                    .await?;
                let checkpoints = Arc::new(Checkpointer::start(<SqliteConnection as sqlx::Connection>::connect_with(&base).await?));
                let read = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .connect_with(base.read_only(true))
                    .await?;
                Ok(Db::Sqlite { write, read, checkpoints })
            }
            Location::Postgres(url) => {
                // As on SQLite: keep every batch-size statement prepared (a miss costs a
                // Parse/Describe round trip before the statement runs).
                let o = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
                    .statement_cache_capacity(4096);
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(o)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { write, read, checkpoints } => {
                checkpoints.stop();
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Runs `$body` with `$conn: Conn` on a read connection.
#[macro_export]
macro_rules! with_read {
    ($db:expr, |$conn:ident| $body:expr) => {{
        match $db {
            $crate::db::Db::Sqlite { read, .. } => {
                let mut pc = read.acquire().await?;
                let mut $conn = $crate::db::Conn::Sqlite(&mut *pc);
                $body
            }
            $crate::db::Db::Postgres(pool) => {
                let mut pc = pool.acquire().await?;
                let mut $conn = $crate::db::Conn::Pg(&mut *pc);
                $body
            }
        }
    }};
}

/// Runs `$body` with `$conn: Conn` inside a write transaction (`BEGIN IMMEDIATE` on SQLite,
/// so the write lock is taken up front), committing if it returns `Ok`.
#[macro_export]
macro_rules! with_tx {
    ($db:expr, |$conn:ident| $body:expr) => {{
        match $db {
            $crate::db::Db::Sqlite { write, .. } => {
                let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
                let out = {
                    let mut $conn = $crate::db::Conn::Sqlite(&mut *tx);
                    $body
                };
                if out.is_ok() {
                    tx.commit().await?;
                }
                out
            }
            $crate::db::Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let out = {
                    let mut $conn = $crate::db::Conn::Pg(&mut *tx);
                    $body
                };
                if out.is_ok() {
                    tx.commit().await?;
                }
                out
            }
        }
    }};
}



#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(Location::parse("sqlite://./data/o.db").unwrap(), Location::Sqlite("./data/o.db".into()));
        assert_eq!(Location::parse("/tmp/x.db").unwrap(), Location::Sqlite("/tmp/x.db".into()));
        assert!(matches!(Location::parse("postgres://u@h/db").unwrap(), Location::Postgres(_)));
        assert!(Location::parse("mysql://x").is_err());
        assert!(Location::parse("").is_err());
    }
}
