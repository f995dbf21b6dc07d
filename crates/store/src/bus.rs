//! What happens, live: every committed event, in chain order, and short-lived signals (typing,
//! a call ringing for an agent) that are never stored.
//!
//! The writer hands each committed batch to the bus. On SQLite there is one node, so that is
//! the whole story. On PostgreSQL several nodes write: each batch also sends
//! `NOTIFY ombuds_events, '<node> <first> <last>'` inside its transaction (delivered on
//! commit), and every node LISTENs. One sequencer task per node publishes events strictly in
//! `seq` order, exactly once: a batch that arrives with a gap before it (another node's commit
//! whose notification is late, or was lost while the listening connection reconnected) has the
//! gap read from the `events` table first, and a notification for events already published is
//! ignored. A poll of the chain head every second closes a gap no notification announces.
//! Signals go through `NOTIFY ombuds_live` and are best effort, like the typing they carry.

use crate::db::Db;
use crate::queries::{StoredEvent, stored_event_from};
use crate::{StoreError, params, with_read};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// A signal: a topic and a JSON payload, for whoever listens on any node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub topic: String,
    pub payload: String,
}

/// Largest signal payload; PostgreSQL's NOTIFY takes at most 8000 bytes.
pub const MAX_SIGNAL_BYTES: usize = 7_000;

enum Feed {
    /// A batch this node committed.
    Local(Vec<StoredEvent>),
    /// Another node committed `first..=last`.
    Remote { first: i64, last: i64 },
    /// Check the chain head for events nobody announced.
    Poll,
}

struct Inner {
    node: Uuid,
    db: Db,
    events: broadcast::Sender<Arc<StoredEvent>>,
    signals: broadcast::Sender<Arc<Signal>>,
    feed: mpsc::UnboundedSender<Feed>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Cheap to clone; the tasks stop when the last clone is dropped or `stop` is called.
#[derive(Clone)]
pub struct Bus(Arc<Inner>);

const CAPACITY: usize = 16_384;

impl Bus {
    pub(crate) fn start(db: Db) -> Bus {
        let node = Uuid::now_v7();
        let (events, _) = broadcast::channel(CAPACITY);
        let (signals, _) = broadcast::channel(CAPACITY);
        let (feed, rx) = mpsc::unbounded_channel();
        let mut tasks = vec![tokio::spawn(sequencer(db.clone(), rx, events.clone()))];
        if let Db::Postgres(pool) = &db {
            tasks.push(tokio::spawn(listen(pool.clone(), node, feed.clone(), signals.clone())));
            let poll = feed.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if poll.send(Feed::Poll).is_err() {
                        return;
                    }
                }
            }));
        }
        Bus(Arc::new(Inner { node, db, events, signals, feed, tasks }))
    }

    /// This node's id (tells its own notifications from others').
    pub fn node(&self) -> Uuid {
        self.0.node
    }

    /// Every committed event from now on, in `seq` order. A receiver that falls more than
    /// 16k events behind gets `Lagged` and must catch up from the store.
    pub fn events(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.0.events.subscribe()
    }

    pub fn signals(&self) -> broadcast::Receiver<Arc<Signal>> {
        self.0.signals.subscribe()
    }

    /// Sends a signal to every node (this one at once). Payloads over `MAX_SIGNAL_BYTES` are
    /// refused: signals are small by design.
    pub async fn signal(&self, topic: &str, payload: String) -> Result<(), StoreError> {
        if payload.len() > MAX_SIGNAL_BYTES || topic.contains(' ') {
            return Err(StoreError::Config(format!("a signal of {} bytes on '{topic}' is too big to send", payload.len())));
        }
        if let Db::Postgres(pool) = &self.0.db {
            let note = format!("{} {topic} {payload}", self.0.node);
            sqlx::query("SELECT pg_notify('ombuds_live', $1)").bind(note).execute(pool).await?;
        }
        let _ = self.0.signals.send(Arc::new(Signal { topic: topic.to_string(), payload }));
        Ok(())
    }

    /// Called by the writer after a batch committed.
    pub(crate) fn committed(&self, events: Vec<StoredEvent>) {
        if !events.is_empty() {
            let _ = self.0.feed.send(Feed::Local(events));
        }
    }

    /// The payload of the `NOTIFY ombuds_events` a batch sends inside its transaction.
    pub(crate) fn announcement(&self, first: i64, last: i64) -> String {
        format!("{} {first} {last}", self.0.node)
    }

    pub fn stop(&self) {
        for t in &self.0.tasks {
            t.abort();
        }
    }
}

async fn head(db: &Db) -> Result<i64, StoreError> {
    let row = with_read!(db, |conn| conn.fetch_optional("SELECT seq FROM event_chain WHERE id = 1", &[]).await)?;
    row.map_or(Ok(0), |r| r.i64("seq"))
}

async fn between(db: &Db, from: i64, to: i64) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = with_read!(db, |conn| conn
        .fetch_all(
            "SELECT seq, id, complaint_id, actor, data, at, hash FROM events WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
            &params![from, to]
        )
        .await)?;
    rows.iter().map(stored_event_from).collect()
}

/// Publishes events in `seq` order, each once.
async fn sequencer(db: Db, mut rx: mpsc::UnboundedReceiver<Feed>, out: broadcast::Sender<Arc<StoredEvent>>) {
    // The next seq to publish; 0 until the head is known (then anything goes first).
    let mut next = match head(&db).await {
        Ok(h) => h + 1,
        Err(e) => {
            tracing::warn!(error = %e, "live events: cannot read the chain head; starting from the first batch");
            0
        }
    };
    let publish = |e: StoredEvent, next: &mut i64| {
        if e.seq >= *next {
            *next = e.seq + 1;
            let _ = out.send(Arc::new(e));
        }
    };
    while let Some(feed) = rx.recv().await {
        let (first, last, local) = match feed {
            Feed::Local(events) => (events[0].seq, events[events.len() - 1].seq, Some(events)),
            Feed::Remote { first, last } => (first, last, None),
            Feed::Poll => match head(&db).await {
                Ok(h) if next > 0 && h >= next => (next, h, None),
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "live events: head poll failed");
                    continue;
                }
            },
        };
        if last < next {
            continue;
        }
        // Read what this node has not published yet: a gap before a local batch, or a
        // remote batch (or the part of it that is new).
        let from = if next == 0 { first } else { next };
        let upto = if local.is_some() { first - 1 } else { last };
        if from <= upto {
            match between(&db, from, upto).await {
                Ok(missing) => missing.into_iter().for_each(|e| publish(e, &mut next)),
                Err(e) => tracing::warn!(error = %e, from, upto, "live events: reading committed events failed; they are skipped live"),
            }
        }
        if let Some(events) = local {
            events.into_iter().for_each(|e| publish(e, &mut next));
        }
    }
}

/// LISTENs for other nodes' commits and signals (PostgreSQL).
async fn listen(pool: sqlx::PgPool, node: Uuid, feed: mpsc::UnboundedSender<Feed>, signals: broadcast::Sender<Arc<Signal>>) {
    let me = node.to_string();
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "live events: cannot LISTEN; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all(["ombuds_events", "ombuds_live"]).await {
            tracing::warn!(error = %e, "live events: LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            let n = match listener.recv().await {
                Ok(n) => n,
                Err(e) => {
                    // The poll of the chain head covers what was missed meanwhile.
                    tracing::warn!(error = %e, "live events: the listening connection failed; reconnecting");
                    break;
                }
            };
            let mut parts = n.payload().splitn(3, ' ');
            let (Some(from), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if from == me {
                continue;
            }
            match n.channel() {
                "ombuds_events" => {
                    if let (Ok(first), Ok(last)) = (a.parse(), b.parse()) {
                        let _ = feed.send(Feed::Remote { first, last });
                    }
                }
                _ => {
                    let _ = signals.send(Arc::new(Signal { topic: a.to_string(), payload: b.to_string() }));
                }
            }
        }
    }
}
