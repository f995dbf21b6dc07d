//! E-mail records: Message-IDs received and sent (threading), the original bytes of inbound
//! mail, and attachments. Inbound records are written by the writer with the change they cause;
//! outbound ones by the sender, before it hands the message to the relay.

use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{from_micros, now, to_micros};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// One e-mail of a complaint, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MailInfo {
    pub id: Uuid,
    pub complaint_id: Uuid,
    /// The thread message it carried (none: the complaint's first description).
    pub message_id: Option<Uuid>,
    pub direction: Direction,
    pub header_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub size: i64,
    /// Who the sender proved to be (inbound mail checked at intake; none: sent, or received
    /// before checks existed or with them turned off).
    pub auth: Option<SenderAuth>,
    pub created_at: jiff::Timestamp,
}

/// One SPF, DKIM or DMARC result (RFC 8601 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    #[default]
    None,
    /// A DNS failure (ours or theirs): not known.
    TempError,
    /// A broken record or signature.
    PermError,
}

impl AuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

/// The policy the `From` domain publishes for mail that fails DMARC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

/// The sender checks of one received mail, kept with it (`mail_messages.auth`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SenderAuth {
    /// Whether the connecting host may send for the `MAIL FROM` domain (`none` for IMAP).
    pub spf: AuthResult,
    /// The best of the message's DKIM signatures.
    pub dkim: AuthResult,
    /// Whether the `From` domain is proven (an aligned SPF or DKIM pass).
    pub dmarc: AuthResult,
    /// The `From` domain (empty: none or several).
    pub domain: String,
    /// The domain's DMARC policy, when it publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DmarcPolicy>,
}

impl SenderAuth {
    /// Results when DNS could not be asked: `temperror` (SPF too when there was an SMTP peer).
    pub fn unavailable(domain: String, smtp: bool) -> SenderAuth {
        SenderAuth {
            spf: if smtp { AuthResult::TempError } else { AuthResult::None },
            dkim: AuthResult::TempError,
            dmarc: AuthResult::TempError,
            domain,
            policy: None,
        }
    }

    /// The `From` domain is proven.
    pub fn verified(&self) -> bool {
        self.dmarc == AuthResult::Pass
    }

    /// The `From` domain publishes DMARC and this mail fails it: likely forged.
    pub fn forged(&self) -> bool {
        self.dmarc == AuthResult::Fail
    }

    /// A forgery the domain asks receivers to refuse.
    pub fn rejected(&self) -> bool {
        self.forged() && self.policy == Some(DmarcPolicy::Reject)
    }

    /// Whether the mail may join an existing complaint as its player's: not when DMARC fails.
    pub fn may_thread(&self) -> bool {
        self.dmarc != AuthResult::Fail
    }

    /// Whether it may join one by a reference in its subject, which anyone can type: not when
    /// it could not be checked either (a DNS failure, or DNS resting after failures, must not be
    /// a way to slip a forged reply into someone's complaint); it may still join by the
    /// thread's Message-IDs, which only the mail's recipients know.
    pub fn may_thread_by_reference(&self) -> bool {
        !matches!(self.dmarc, AuthResult::Fail | AuthResult::TempError)
    }

    /// Some check could not be made for DNS.
    pub fn dns_failed(&self) -> bool {
        [self.spf, self.dkim, self.dmarc].contains(&AuthResult::TempError)
    }
}

/// A mail ombuds sends, recorded before it goes out so that a reply threads however fast it
/// comes back. `id` is the outbox job's id: a retried job records nothing new.
#[derive(Debug, Clone)]
pub struct OutboundMail {
    pub id: Uuid,
    pub complaint_id: Uuid,
    pub message_id: Option<Uuid>,
    pub header_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub complaint_id: Uuid,
    pub message_id: Option<Uuid>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: jiff::Timestamp,
}

const INFO_COLS: &str = "id, complaint_id, message_id, direction, header_id, sender, recipient, subject, size, auth, created_at";
const ATTACHMENT_COLS: &str = "id, complaint_id, message_id, filename, content_type, size, sha256, created_at";

fn info_from(r: &crate::db::Row) -> Result<MailInfo, StoreError> {
    Ok(MailInfo {
        id: r.uuid("id")?,
        complaint_id: r.uuid("complaint_id")?,
        message_id: r.opt_uuid("message_id")?,
        direction: if r.text("direction")? == "in" { Direction::In } else { Direction::Out },
        header_id: r.text("header_id")?,
        sender: r.text("sender")?,
        recipient: r.text("recipient")?,
        subject: r.text("subject")?,
        size: r.i64("size")?,
        // A record this version cannot read shows as unchecked rather than failing the list.
        auth: r.opt_text("auth")?.and_then(|j| serde_json::from_str(&j).ok()),
        created_at: from_micros(r.i64("created_at")?),
    })
}

fn attachment_from(r: &crate::db::Row) -> Result<AttachmentInfo, StoreError> {
    Ok(AttachmentInfo {
        id: r.uuid("id")?,
        complaint_id: r.uuid("complaint_id")?,
        message_id: r.opt_uuid("message_id")?,
        filename: r.text("filename")?,
        content_type: r.text("content_type")?,
        size: r.i64("size")?,
        sha256: crate::queries::hex_string(&r.bytes("sha256")?),
        created_at: from_micros(r.i64("created_at")?),
    })
}

impl Store {
    /// The complaint a mail with these `Message-ID`s in its `In-Reply-To`/`References` belongs
    /// to: the first key (the most direct parent) that is known wins.
    pub async fn thread_of(&self, header_ids: &[&str]) -> Result<Option<Uuid>, StoreError> {
        let keys: Vec<&str> = header_ids.iter().copied().filter(|k| !k.is_empty()).take(64).collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let marks: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT header_id, complaint_id FROM mail_messages WHERE header_id IN ({})", marks.join(", "));
        let params: Vec<crate::db::P> = keys.iter().map(|k| crate::db::P::from(*k)).collect();
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params).await)?;
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            found.push((r.text("header_id")?, r.uuid("complaint_id")?));
        }
        Ok(keys.iter().find_map(|k| found.iter().find(|(h, _)| h == k).map(|(_, c)| *c)))
    }

    /// Records a mail about to be sent; recording it again (a retried job) changes nothing.
    pub async fn record_outbound_mail(&self, m: &OutboundMail) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO mail_messages (id, complaint_id, message_id, direction, header_id, sender, recipient, subject, size, raw, created_at) \
                 VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, $8, NULL, $9) ON CONFLICT (id) DO NOTHING",
                &params![m.id, m.complaint_id, m.message_id, m.header_id.as_str(), m.sender.as_str(), m.recipient.as_str(), m.subject.as_str(), m.size, now]
            )
            .await)?;
        Ok(())
    }

    /// A complaint's e-mails, oldest first, without their bytes.
    pub async fn mails(&self, complaint_id: Uuid) -> Result<Vec<MailInfo>, StoreError> {
        let sql = format!("SELECT {INFO_COLS} FROM mail_messages WHERE complaint_id = $1 ORDER BY created_at, id");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(info_from).collect()
    }

    /// The original bytes of an inbound mail.
    pub async fn mail_raw(&self, id: Uuid) -> Result<(MailInfo, Vec<u8>), StoreError> {
        let sql = format!("SELECT {INFO_COLS}, raw FROM mail_messages WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?.ok_or(StoreError::NotFound)?;
        let raw = row.opt_bytes("raw")?.ok_or(StoreError::NotFound)?;
        Ok((info_from(&row)?, raw))
    }

    pub async fn attachments(&self, complaint_id: Uuid) -> Result<Vec<AttachmentInfo>, StoreError> {
        let sql = format!("{} SELECT {ATTACHMENT_COLS} FROM attachments WHERE complaint_id IN (SELECT id FROM thread) ORDER BY created_at, id", crate::queries::THREAD);
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(attachment_from).collect()
    }

    pub async fn attachment(&self, id: Uuid) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        let sql = format!("SELECT {ATTACHMENT_COLS}, data FROM attachments WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?.ok_or(StoreError::NotFound)?;
        Ok((attachment_from(&row)?, row.bytes("data")?))
    }
}

/// An address our mail bounces from: the last report's reason, and the complaint it came for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bouncing {
    pub address: String,
    pub complaint_id: Option<Uuid>,
    pub reason: String,
    pub first_at: jiff::Timestamp,
    pub last_at: jiff::Timestamp,
    pub bounces: i64,
}

impl Store {
    /// Marks `address` (lower case) as bouncing, or counts one more bounce from it.
    pub async fn mark_bouncing(&self, address: &str, complaint_id: Option<Uuid>, reason: &str) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO bouncing_addresses (address, complaint_id, reason, first_at, last_at, bounces) VALUES ($1, $2, $3, $4, $4, 1) \
                 ON CONFLICT (address) DO UPDATE SET complaint_id = excluded.complaint_id, reason = excluded.reason, \
                 last_at = excluded.last_at, bounces = bouncing_addresses.bounces + 1",
                &params![address, complaint_id, reason, now]
            )
            .await)?;
        Ok(())
    }

    /// Whether mail to `address` bounces, and since when.
    pub async fn bouncing(&self, address: &str) -> Result<Option<Bouncing>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(
                "SELECT address, complaint_id, reason, first_at, last_at, bounces FROM bouncing_addresses WHERE address = $1",
                &params![address]
            )
            .await)?;
        row.map(|r| {
            Ok(Bouncing {
                address: r.text("address")?,
                complaint_id: r.opt_uuid("complaint_id")?,
                reason: r.text("reason")?,
                first_at: from_micros(r.i64("first_at")?),
                last_at: from_micros(r.i64("last_at")?),
                bounces: r.i64("bounces")?,
            })
        })
        .transpose()
    }

    /// Forgets that `address` bounced (it wrote to us, or a mail to it was delivered). Reads
    /// first, so the common case (it never bounced) takes no write lock.
    pub async fn clear_bouncing(&self, address: &str) -> Result<bool, StoreError> {
        if self.bouncing(address).await?.is_none() {
            return Ok(false);
        }
        let n = with_tx!(self.db(), |conn| conn.execute("DELETE FROM bouncing_addresses WHERE address = $1", &params![address]).await)?;
        Ok(n > 0)
    }
}
