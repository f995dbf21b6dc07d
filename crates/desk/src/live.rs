//! Live signals between the desk's users on every node: an agent's pop-up, a chat's typing
//! indicator, "the queue changed". They ride on the store's bus (`NOTIFY` on PostgreSQL), are
//! never stored, and are best effort: losing one loses a blink of a typing indicator, and every
//! view they refresh can be read again from the store.

use ombuds_store::Store;
use ombuds_store::bus::Bus;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Who is typing in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Player,
    Agent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveSignal {
    /// A frame for one agent's console (e.g. a call ringing).
    ToAgent { agent_id: Uuid, frame: serde_json::Value },
    Typing { chat_id: Uuid, complaint_id: Uuid, party: Party, on: bool },
    /// The waiting chats changed: consoles read the queue again.
    QueueChanged,
    /// A chat's status or agent changed.
    ChatChanged { chat_id: Uuid, complaint_id: Uuid },
    /// The routing rules were saved or the classifier retrained: every node reloads them.
    RoutingChanged,
    /// SLA settings were saved: every node reloads them.
    SlaChanged,
    /// FAQ articles changed: every node reads them again.
    FaqChanged,
    /// An e-mail template was replaced or reset: every node builds its composer again.
    TemplatesChanged,
    /// A department was added, renamed or (de)activated: every node reads them again.
    DepartmentsChanged,
    /// Sessions or tokens ended or an agent changed (sign-out, password change, disabled,
    /// role or departments, a token revoked): every node drops its cached principals, and the
    /// agent's live sockets check their session again and close if it ended.
    CredentialsChanged { agent_id: Option<Uuid> },
}

const TOPIC: &str = "live";

pub struct Live {
    bus: Bus,
    out: broadcast::Sender<LiveSignal>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Live {
    pub(crate) fn start(store: &Store) -> Live {
        let bus = store.bus().clone();
        let (out, _) = broadcast::channel(16_384);
        let mut rx = bus.signals();
        let tx = out.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(s) if s.topic == TOPIC => match serde_json::from_str::<LiveSignal>(&s.payload) {
                        Ok(sig) => {
                            let _ = tx.send(sig);
                        }
                        Err(e) => tracing::warn!(error = %e, "an unreadable live signal was dropped"),
                    },
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "live signals lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Live { bus, out, task }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveSignal> {
        self.out.subscribe()
    }

    /// Sends `signal` to every node. Never fails the caller: a lost signal is logged.
    pub async fn send(&self, signal: &LiveSignal) {
        let payload = serde_json::to_string(signal).expect("signals serialise");
        if let Err(e) = self.bus.signal(TOPIC, payload).await {
            tracing::warn!(error = %e, "a live signal could not be sent");
        }
    }

    /// A frame for one agent's console, wherever it is connected.
    pub async fn to_agent(&self, agent_id: Uuid, frame: serde_json::Value) {
        self.send(&LiveSignal::ToAgent { agent_id, frame }).await;
    }
}
