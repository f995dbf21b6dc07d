//! The player's side: one-time codes that open a complaint on the portal, and the desk's own
//! secrets (tracking links and codes are derived from one; only nonces are stored).

use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{from_micros, now, to_micros};
use uuid::Uuid;

/// The live code of a complaint: the code itself is derived from `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackCode {
    pub nonce: Vec<u8>,
    pub issued_at: jiff::Timestamp,
    pub attempts: i64,
}

/// The outbox job that e-mails a player their code and link.
pub const TRACK_ACCESS_JOB: &str = "track_access";

impl Store {
    /// The secret called `name`, made (from `fresh`) the first time anyone asks. Nodes racing to
    /// make it all end up with the one that was stored first.
    pub async fn desk_secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let read = |row: Option<crate::db::Row>| row.map(|r| r.bytes("value")).transpose();
        if let Some(v) = read(with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT value FROM desk_secrets WHERE name = $1", &params![name])
            .await)?)?
        {
            return Ok(v);
        }
        with_tx!(self.db(), |conn| {
            conn.execute(
                "INSERT INTO desk_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &params![name, fresh.to_vec(), to_micros(now())],
            )
            .await?;
            let row = conn.fetch_optional("SELECT value FROM desk_secrets WHERE name = $1", &params![name]).await?;
            read(row)?.ok_or_else(|| StoreError::Corrupt(format!("secret {name} vanished")))
        })
    }

    /// Issues a new code for the complaint (replacing any live one) and queues the e-mail that
    /// carries it, in one transaction. `false`, and nothing written, when the last code was
    /// issued less than `gap` ago: a player (or someone else) pressing the button again does not
    /// flood the mailbox.
    pub async fn issue_track_code(&self, complaint_id: Uuid, nonce: &[u8], gap: std::time::Duration) -> Result<bool, StoreError> {
        let at = to_micros(now());
        let since = at - gap.as_micros() as i64;
        with_tx!(self.db(), |conn| {
            let last = conn.fetch_optional("SELECT issued_at FROM track_codes WHERE complaint_id = $1", &params![complaint_id]).await?;
            if let Some(r) = last
                && r.i64("issued_at")? > since
            {
                return Ok(false);
            }
            conn.execute(
                "INSERT INTO track_codes (complaint_id, nonce, issued_at, attempts) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (complaint_id) DO UPDATE SET nonce = excluded.nonce, issued_at = excluded.issued_at, attempts = 0",
                &params![complaint_id, nonce.to_vec(), at],
            )
            .await?;
            let payload = serde_json::json!({ "kind": TRACK_ACCESS_JOB, "complaint_id": complaint_id }).to_string();
            conn.execute(
                "INSERT INTO jobs (id, kind, complaint_id, payload, run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5)",
                &params![Uuid::now_v7(), TRACK_ACCESS_JOB, complaint_id, payload, at],
            )
            .await?;
            Ok::<_, StoreError>(true)
        })
    }

    /// The complaint's live code, if any.
    pub async fn track_code(&self, complaint_id: Uuid) -> Result<Option<TrackCode>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT nonce, issued_at, attempts FROM track_codes WHERE complaint_id = $1", &params![complaint_id])
            .await)?;
        row.map(|r| Ok(TrackCode { nonce: r.bytes("nonce")?, issued_at: from_micros(r.i64("issued_at")?), attempts: r.i64("attempts")? }))
            .transpose()
    }

    /// Counts one wrong try at the complaint's code; the count after it.
    pub async fn count_track_attempt(&self, complaint_id: Uuid) -> Result<i64, StoreError> {
        with_tx!(self.db(), |conn| {
            conn.execute("UPDATE track_codes SET attempts = attempts + 1 WHERE complaint_id = $1", &params![complaint_id]).await?;
            let row = conn.fetch_optional("SELECT attempts FROM track_codes WHERE complaint_id = $1", &params![complaint_id]).await?;
            row.map(|r| r.i64("attempts")).transpose().map(|n| n.unwrap_or(0))
        })
    }

    /// Spends the complaint's code (it opened the complaint, or too many tries were wrong).
    /// `false` when it was already gone (spent by a concurrent request).
    pub async fn spend_track_code(&self, complaint_id: Uuid, nonce: &[u8]) -> Result<bool, StoreError> {
        let n = with_tx!(self.db(), |conn| conn
            .execute("DELETE FROM track_codes WHERE complaint_id = $1 AND nonce = $2", &params![complaint_id, nonce.to_vec()])
            .await)?;
        Ok(n == 1)
    }
}
