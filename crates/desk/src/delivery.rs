//! What outbound channels need from the desk: the complaint, player and thread a notice is
//! about, a place to record the mail before it leaves, and a way to say it never arrived.

use crate::jobs::JobFailure;
use crate::{Desk, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::{AttachmentInfo, ChangeRequest, Decide, MailInfo, OutboundMail, Outcome, WriteOp};
use uuid::Uuid;

/// Everything a notice about one complaint is written from.
#[derive(Debug, Clone)]
pub struct DeliveryContext {
    pub complaint: Complaint,
    pub player: Player,
    pub messages: Vec<Message>,
    /// The complaint's e-mails so far, oldest first (for `In-Reply-To` and `References`).
    pub mails: Vec<MailInfo>,
}

/// What the e-mail intake found in a delivery report about one of a complaint's mails.
#[derive(Debug, Clone)]
pub struct BounceNotice {
    pub complaint_id: Uuid,
    /// The Message-ID of our mail that bounced, when the report returned it.
    pub original_header_id: Option<String>,
    /// The addresses the report gives up on; empty: the bounced mail's recipient.
    pub failed: Vec<String>,
    /// What the report says (status and diagnostic), for the agent.
    pub reason: String,
    /// The report's own Message-ID.
    pub report_id: String,
}

impl Desk {
    /// The system's view of a complaint, for delivering its notices (no caller to check).
    pub async fn delivery_context(&self, complaint_id: Uuid) -> Result<DeliveryContext> {
        let complaint = self.store.complaint(complaint_id).await?;
        let (player, messages, mails) = tokio::try_join!(
            self.store.player(complaint.player_id),
            self.store.messages(complaint.id),
            self.store.mails(complaint.id)
        )?;
        Ok(DeliveryContext { complaint, player, messages, mails })
    }

    /// The complaint's events, for a notice that must know which event wrote its message.
    pub async fn delivery_history(&self, complaint_id: Uuid) -> Result<Vec<ombuds_store::StoredEvent>> {
        Ok(self.store.events(complaint_id).await?)
    }

    pub async fn record_outbound_mail(&self, mail: &OutboundMail) -> Result<()> {
        Ok(self.store.record_outbound_mail(mail).await?)
    }

    /// Records on the complaint that a notice was given up on.
    pub async fn record_delivery_failure(&self, complaint_id: Uuid, notice: &str, message_id: Option<Uuid>, failure: &JobFailure) -> Result<()> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let cmd = Command::RecordDeliveryFailure {
            notice: notice.to_string(),
            message_id,
            recipient: failure.recipient.clone(),
            reason: failure.message.clone(),
        };
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: Actor::System, departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        match self.store.write(WriteOp::Change(ChangeRequest::new(complaint_id, decide))).await? {
            Outcome::Refused(e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// A delivery report (DSN, NDR) came back for one of the complaint's mails: records
    /// `delivery_failed` on it (the same command as a relay's permanent refusal) and marks the
    /// address as bouncing. The same report delivered twice is recorded once (its
    /// Message-ID is the change's idempotency key). Returns the complaint's reference.
    pub async fn record_bounce(&self, b: BounceNotice) -> Result<ComplaintRef> {
        let mails = self.store.mails(b.complaint_id).await?;
        let ours = b
            .original_header_id
            .as_ref()
            .and_then(|h| mails.iter().find(|m| m.direction == ombuds_store::Direction::Out && &m.header_id == h))
            // Without the original's Message-ID: the last mail we sent.
            .or_else(|| mails.iter().rev().find(|m| m.direction == ombuds_store::Direction::Out));
        let recipient = b.failed.first().cloned().or_else(|| ours.map(|m| m.recipient.to_lowercase()));
        // The outbound mail's id is its job's: the job says which notice it was.
        let notice = match ours {
            Some(m) => self.store.jobs_for_complaint(b.complaint_id).await?.into_iter().find(|j| j.id == m.id).map_or_else(|| "e-mail".to_string(), |j| j.kind),
            None => "e-mail".to_string(),
        };
        let departments = self.departments().await?;
        let sla = self.sla();
        let cmd = Command::RecordDeliveryFailure {
            notice,
            message_id: ours.and_then(|m| m.message_id),
            recipient: recipient.clone(),
            reason: format!("bounced: {}", b.reason),
        };
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: Actor::System, departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        let mut req = ChangeRequest::new(b.complaint_id, decide);
        req.idempotency = Some(ombuds_store::IdempotencyKey {
            principal: "inbound:email".into(),
            key: b.report_id.chars().take(900).collect(),
            request_hash: vec![],
        });
        let reference = match self.store.write(WriteOp::Change(req)).await? {
            Outcome::Refused(e) => return Err(e.into()),
            Outcome::Changed(c) | Outcome::Unchanged(c) => c.reference,
            // The same report again: recorded already.
            _ => return Ok(self.store.complaint(b.complaint_id).await?.reference),
        };
        for address in b.failed.iter().cloned().chain(recipient).collect::<std::collections::BTreeSet<_>>() {
            self.store.mark_bouncing(&address, Some(b.complaint_id), &b.reason).await?;
        }
        Ok(reference)
    }

    /// Whether mail to `address` bounces (shown on its player's complaints).
    pub async fn bouncing(&self, address: &str) -> Result<Option<ombuds_store::Bouncing>> {
        Ok(self.store.bouncing(&address.to_lowercase()).await?)
    }

    /// The address wrote to us, or a mail to it was delivered: it no longer bounces.
    pub async fn clear_bouncing(&self, address: &str) -> Result<()> {
        if self.store.clear_bouncing(&address.to_lowercase()).await? {
            tracing::info!(address, "address no longer marked as bouncing");
        }
        Ok(())
    }

    /// A complaint's e-mails (without their bytes), for someone who may see it.
    pub async fn mails_of(&self, who: &Principal, reference: &ComplaintRef) -> Result<Vec<MailInfo>> {
        let c = self.visible(who, reference).await?;
        Ok(self.store.mails(c.id).await?)
    }

    /// The original bytes of one inbound e-mail of a complaint `who` may see.
    pub async fn mail_raw(&self, who: &Principal, reference: &ComplaintRef, mail_id: Uuid) -> Result<(MailInfo, Vec<u8>)> {
        let c = self.visible(who, reference).await?;
        match self.store.mail_raw(mail_id).await {
            Ok((info, raw)) if info.complaint_id == c.id => Ok((info, raw)),
            Ok(_) | Err(ombuds_store::StoreError::NotFound) => Err(crate::DeskError::NotFound("mail")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn attachments_of(&self, who: &Principal, reference: &ComplaintRef) -> Result<Vec<AttachmentInfo>> {
        let c = self.visible(who, reference).await?;
        Ok(self.store.attachments(c.id).await?)
    }

    pub async fn attachment(&self, who: &Principal, reference: &ComplaintRef, id: Uuid) -> Result<(AttachmentInfo, Vec<u8>)> {
        let c = self.visible(who, reference).await?;
        match self.store.attachment(id).await {
            Ok((info, data)) if info.complaint_id == c.id => Ok((info, data)),
            // A file of a duplicate merged into this complaint is part of its thread.
            Ok((info, data)) if self.store.merged_into(c.id).await?.iter().any(|d| d.id == info.complaint_id) => Ok((info, data)),
            Ok(_) | Err(ombuds_store::StoreError::NotFound) => Err(crate::DeskError::NotFound("attachment")),
            Err(e) => Err(e.into()),
        }
    }
}
