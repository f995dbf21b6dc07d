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
