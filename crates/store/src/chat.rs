//! Chat sessions and who is online to answer them. Each queue step is one conditional UPDATE
//! (the rule is `ombuds_core::chat::ChatStatus::may`), so it is race-free across nodes: of two
//! agents accepting one chat, exactly one changes a row.

use crate::db::Row;
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::chat::{Chat, ChatStatus};
use ombuds_core::{DepartmentCode, Language, PersonName, from_micros, to_micros};
use uuid::Uuid;

const CHAT_COLS: &str = "id, complaint_id, player_id, player_name, status, department, language, agent_id, created_at, accepted_at, ended_at";

fn chat_from(r: &Row) -> Result<Chat, StoreError> {
    let corrupt = |col: &str, e: String| StoreError::Corrupt(format!("chats.{col}: {e}"));
    Ok(Chat {
        id: r.uuid("id")?,
        complaint_id: r.uuid("complaint_id")?,
        player_id: r.uuid("player_id")?,
        player_name: r.opt_text("player_name")?.map(|n| PersonName::parse(&n)).transpose().map_err(|e| corrupt("player_name", e.message))?,
        status: ChatStatus::parse(&r.text("status")?).map_err(|e| corrupt("status", e.to_string()))?,
        department: r.opt_text("department")?.map(|d| DepartmentCode::parse(&d)).transpose().map_err(|e| corrupt("department", e.message))?,
        language: Language::parse(&r.text("language")?).map_err(|e| corrupt("language", e.to_string()))?,
        agent_id: r.opt_uuid("agent_id")?,
        created_at: from_micros(r.i64("created_at")?),
        accepted_at: r.opt_i64("accepted_at")?.map(from_micros),
        ended_at: r.opt_i64("ended_at")?.map(from_micros),
    })
}

/// A waiting chat as the queue shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedChat {
    pub chat: Chat,
    pub reference: ombuds_core::ComplaintRef,
    /// The start of the player's first message.
    pub preview: String,
}

impl Store {
    pub async fn insert_chat(&self, chat: &Chat, secret_hash: &[u8]) -> Result<(), StoreError> {
        let now = to_micros(chat.created_at);
        with_tx!(self.db(), |conn| conn
            .execute(
                &format!("INSERT INTO chats ({CHAT_COLS}, secret_hash, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"),
                &params![
                    chat.id,
                    chat.complaint_id,
                    chat.player_id,
                    chat.player_name.as_ref().map(|n| n.as_str()),
                    chat.status.as_str(),
                    chat.department.as_ref().map(|d| d.as_str()),
                    chat.language.as_str(),
                    chat.agent_id,
                    now,
                    chat.accepted_at.map(to_micros),
                    chat.ended_at.map(to_micros),
                    secret_hash.to_vec(),
                    now
                ]
            )
            .await)?;
        Ok(())
    }

    /// A chat and the hash of its secret.
    pub async fn chat(&self, id: Uuid) -> Result<(Chat, Vec<u8>), StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(&format!("SELECT {CHAT_COLS}, secret_hash FROM chats WHERE id = $1"), &params![id])
            .await)?
        .ok_or(StoreError::NotFound)?;
        Ok((chat_from(&row)?, row.bytes("secret_hash")?))
    }

    pub async fn chat_of_complaint(&self, complaint_id: Uuid) -> Result<Option<Chat>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(&format!("SELECT {CHAT_COLS} FROM chats WHERE complaint_id = $1"), &params![complaint_id])
            .await)?;
        row.as_ref().map(chat_from).transpose()
    }

    /// Waiting chats, oldest first.
    pub async fn waiting_chats(&self, limit: i64) -> Result<Vec<QueuedChat>, StoreError> {
        let cols: String = CHAT_COLS.split(", ").map(|c| format!("ch.{c}")).collect::<Vec<_>>().join(", ");
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                &format!(
                    "SELECT {cols}, c.ref, c.description FROM chats ch JOIN complaints c ON c.id = ch.complaint_id \
                     WHERE ch.status = 'waiting' ORDER BY ch.created_at LIMIT $1"
                ),
                &params![limit]
            )
            .await)?;
        rows.iter()
            .map(|r| {
                let preview: String = r.text("description")?.chars().take(140).collect();
                let reference = ombuds_core::ComplaintRef::parse(&r.text("ref")?).map_err(|e| StoreError::Corrupt(format!("complaints.ref: {e}")))?;
                Ok(QueuedChat { chat: chat_from(r)?, reference, preview })
            })
            .collect()
    }

    /// The chats an agent holds.
    pub async fn active_chats_of(&self, agent_id: Uuid) -> Result<Vec<Chat>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                &format!("SELECT {CHAT_COLS} FROM chats WHERE agent_id = $1 AND status = 'active' ORDER BY created_at"),
                &params![agent_id]
            )
            .await)?;
        rows.iter().map(chat_from).collect()
    }

    /// waiting → active for `agent`; `false` when the chat was not waiting (taken, ended).
    pub async fn accept_chat(&self, id: Uuid, agent: Uuid, at: jiff::Timestamp) -> Result<bool, StoreError> {
        let at = to_micros(at);
        let n = with_tx!(self.db(), |conn| conn
            .execute(
                "UPDATE chats SET status = 'active', agent_id = $2, accepted_at = $3, updated_at = $3 WHERE id = $1 AND status = 'waiting'",
                &params![id, agent, at]
            )
            .await)?;
        Ok(n == 1)
    }

    /// An active chat of `from` goes to `to`; `false` when `from` does not hold it.
    pub async fn hand_chat_to_agent(&self, id: Uuid, from: Uuid, to: Uuid, at: jiff::Timestamp) -> Result<bool, StoreError> {
        let n = with_tx!(self.db(), |conn| conn
            .execute(
                "UPDATE chats SET agent_id = $3, updated_at = $4 WHERE id = $1 AND agent_id = $2 AND status = 'active'",
                &params![id, from, to, to_micros(at)]
            )
            .await)?;
        Ok(n == 1)
    }

    /// Back to the queue for `department`, if `holder` still holds it (`None`: it is still
    /// waiting); `false` when the chat has ended or changed hands meanwhile.
    pub async fn requeue_chat(&self, id: Uuid, holder: Option<Uuid>, department: &DepartmentCode, at: jiff::Timestamp) -> Result<bool, StoreError> {
        let n = match holder {
            Some(h) => with_tx!(self.db(), |conn| conn
                .execute(
                    "UPDATE chats SET status = 'waiting', agent_id = NULL, department = $2, updated_at = $3 WHERE id = $1 AND status <> 'ended' AND agent_id = $4",
                    &params![id, department.as_str(), to_micros(at), h]
                )
                .await)?,
            None => with_tx!(self.db(), |conn| conn
                .execute(
                    "UPDATE chats SET status = 'waiting', agent_id = NULL, department = $2, updated_at = $3 WHERE id = $1 AND status = 'waiting' AND agent_id IS NULL",
                    &params![id, department.as_str(), to_micros(at)]
                )
                .await)?,
        };
        Ok(n == 1)
    }

    /// `false` when it had ended already.
    pub async fn end_chat(&self, id: Uuid, at: jiff::Timestamp) -> Result<bool, StoreError> {
        let at = to_micros(at);
        let n = with_tx!(self.db(), |conn| conn
            .execute("UPDATE chats SET status = 'ended', ended_at = $2, updated_at = $2 WHERE id = $1 AND status <> 'ended'", &params![id, at])
            .await)?;
        Ok(n == 1)
    }

    /// Records that `agent` has `connections` chat consoles open on `node` (0 removes it).
    pub async fn set_presence(&self, agent: Uuid, node: &str, connections: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
        let at = to_micros(at);
        with_tx!(self.db(), |conn| {
            if connections <= 0 {
                conn.execute("DELETE FROM agent_presence WHERE agent_id = $1 AND node = $2", &params![agent, node]).await
            } else {
                conn.execute(
                    "INSERT INTO agent_presence (agent_id, node, connections, seen_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (agent_id, node) DO UPDATE SET connections = excluded.connections, seen_at = excluded.seen_at",
                    &params![agent, node, connections, at],
                )
                .await
            }
        })?;
        Ok(())
    }

    /// Agents with a console open on some node seen since `since`.
    pub async fn online_agents(&self, since: jiff::Timestamp) -> Result<Vec<Uuid>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT DISTINCT agent_id FROM agent_presence WHERE seen_at >= $1", &params![to_micros(since)])
            .await)?;
        rows.iter().map(|r| r.uuid("agent_id")).collect()
    }
}
