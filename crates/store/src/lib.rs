//! ombuds persistence. Only this crate speaks SQL. `Store` is opened from a location
//! (`sqlite://…` or `postgres://…`) and offers typed reads, the group-commit `Writer` for
//! complaint changes, the directory (departments, agents, sessions, tokens), the outbox job
//! queue, the audit walk of the event chain, export and backup.

pub mod audit;
pub mod bus;
pub mod chat;
pub mod cti;
pub mod db;
pub mod directory;
pub mod faq;
pub mod workspace;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod migrate;
pub mod queries;
pub mod routing;
pub mod sla;
pub mod tracking;
pub mod templates;
mod rows;
pub mod writer;
#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Backend, Db, DbOptions, Location};
pub use audit::ChainReport;
pub use directory::*;
pub use jobs::*;
pub use queries::*;
pub use routing::{StoredModel, StoredRules, TrainingRow};
pub use sla::StoredSla;
pub use templates::StoredTemplate;
pub use tracking::{TRACK_ACCESS_JOB, TrackCode};
pub use chat::QueuedChat;
pub use mail::{AttachmentInfo, AuthResult, Bouncing, Direction, DmarcPolicy, MailInfo, OutboundMail, SenderAuth};
pub use writer::{Build, ChangeRequest, Decide, DecidePair, IdempotencyKey, NewAttachment, NewComplaint, NewMail, Outcome, PairChange, WriteOp, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken (a login or token that exists already).
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A drawn complaint reference exists already (the writer answers `Outcome::Retry`).
    #[error("complaint references taken: {0:?}")]
    ReferenceTaken(Vec<String>),
    #[error("the store is shutting down")]
    Closed,
    #[error("database: {0}")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_string()),
            sqlx::Error::RowNotFound => StoreError::NotFound,
            _ => StoreError::Db(e),
        }
    }
}

/// The store: a database and the writer task in front of it.
#[derive(Clone)]
pub struct Store {
    db: Db,
    writer: Writer,
    bus: bus::Bus,
}

impl Store {
    /// Connects, applies missing migrations, and starts the writer.
    pub async fn open(location: &Location, opts: &DbOptions) -> Result<Store, StoreError> {
        let db = Db::connect(location, opts).await?;
        migrate::run(&db).await?;
        Ok(Store::from_db(db))
    }

    fn from_db(db: Db) -> Store {
        let bus = bus::Bus::start(db.clone());
        let writer = Writer::start(db.clone(), bus.clone());
        Store { db, writer, bus }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Committed events and signals, live.
    pub fn bus(&self) -> &bus::Bus {
        &self.bus
    }

    pub async fn write(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        self.writer.write(op).await
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_read!(&self.db, |conn| conn.fetch_optional("SELECT 1 AS one", &[]).await.map(|_| ()))
    }

    pub async fn close(&self) {
        self.bus.stop();
        self.db.close().await;
    }
}

