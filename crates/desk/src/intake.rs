//! Messages from players that arrive on a channel (e-mail now; chat and phone later): each
//! becomes a new complaint or joins the complaint the channel threaded it to, exactly once.

use crate::{ATTEMPTS, Desk, DeskError, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::{ChangeRequest, Decide, IdempotencyKey, NewMail, Outcome, StoreError, WriteOp};
use std::collections::BTreeSet;
use uuid::Uuid;

/// What a channel hands the desk for one inbound message, already parsed.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    pub contact: PlayerContact,
    pub kind: Kind,
    pub subject: Subject,
    pub text: Body,
    pub language: Option<Language>,
    /// The complaint the channel threaded the message to (by `In-Reply-To`, a reference in
    /// the subject, an open chat), if any. The desk checks it belongs to the same player.
    pub thread: Option<Uuid>,
    /// A key unique to the message on its channel (an e-mail's `Message-ID`): a message
    /// delivered twice is stored once.
    pub dedupe_key: Option<String>,
    pub mail: Option<NewMail>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A new complaint (also when the thread's complaint was closed: a follow-up).
    Registered(Complaint),
    /// The message joined this complaint as the player's reply.
    Replied(Complaint),
    /// The message was stored before; nothing new was written.
    Duplicate { complaint_id: Uuid },
}

impl Received {
    pub fn complaint_id(&self) -> Uuid {
        match self {
            Received::Registered(c) | Received::Replied(c) => c.id,
            Received::Duplicate { complaint_id } => *complaint_id,
        }
    }
}

/// Inbound messages are keyed per channel, so an `Idempotency-Key` of the API never collides.
fn dedupe_principal(channel: Channel) -> String {
    format!("inbound:{channel}")
}

pub const FOLLOW_UP_TAG: &str = "follow-up";

impl Desk {
    /// The complaint an e-mail with these `Message-ID`s in `In-Reply-To`/`References` belongs to.
    pub async fn thread_of_mail(&self, header_ids: &[&str]) -> Result<Option<Uuid>> {
        Ok(self.store.thread_of(header_ids).await?)
    }

    /// The id of the complaint with this reference, seen by the system (for threading).
    pub async fn complaint_id_by_ref(&self, reference: &ComplaintRef) -> Result<Option<Uuid>> {
        match self.store.complaint_by_ref(reference).await {
            Ok(c) => Ok(Some(c.id)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Registers or threads one inbound message. A thread is followed only when the complaint
    /// belongs to the sender (the same e-mail address, phone or operator id): a reference
    /// copied into someone else's subject line starts a new complaint instead.
    pub async fn receive(&self, inbound: Inbound) -> Result<Received> {
        let key = inbound.dedupe_key.as_ref().map(|k| IdempotencyKey {
            principal: dedupe_principal(inbound.channel),
            key: k.chars().take(900).collect(),
            request_hash: vec![],
        });
        if let Some(id) = inbound.thread
            && let Some(complaint) = self.thread_target(id, &inbound.contact).await?.filter(|c| c.status != Status::Closed)
            // `None`: closed meanwhile, so it becomes a follow-up below.
            && let Some(r) = self.reply(&complaint, &inbound, key.clone()).await?
        {
            return Ok(r);
        }
        self.register_inbound(inbound, key).await
    }

    /// The complaint `id` (or the one it was merged into) if it belongs to the player these
    /// contact details name.
    async fn thread_target(&self, id: Uuid, contact: &PlayerContact) -> Result<Option<Complaint>> {
        let complaint = match self.store.complaint(id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // A reply to a merged duplicate joins the complaint it was merged into.
        let complaint = self.merge_target(complaint).await?;
        let player = self.store.player(complaint.player_id).await?;
        Ok((player.match_strength(contact) > 0).then_some(complaint))
    }

    async fn reply(&self, complaint: &Complaint, inbound: &Inbound, key: Option<IdempotencyKey>) -> Result<Option<Received>> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let (player_id, channel, text) = (complaint.player_id, inbound.channel, inbound.text.clone());
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: Actor::Player { id: player_id }, departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &Command::RecordPlayerReply { channel: Some(channel), text: text.clone() }, &mut ctx)
        });
        let req = ChangeRequest { complaint_id: complaint.id, decide, idempotency: key, mail: inbound.mail.clone().map(Box::new), uploads: vec![] };
        match self.store.write(WriteOp::Change(req)).await? {
            Outcome::Changed(c) => {
                metrics::counter!("ombuds_inbound_total", "channel" => channel.as_str(), "outcome" => "replied").increment(1);
                self.jobs_ready.notify_waiters();
                Ok(Some(Received::Replied(*c)))
            }
            Outcome::Replayed { complaint_id } => Ok(Some(Received::Duplicate { complaint_id })),
            Outcome::Unchanged(c) => Ok(Some(Received::Replied(*c))),
            Outcome::Refused(DomainError::IllegalTransition { .. }) | Outcome::Missing => Ok(None),
            Outcome::Refused(e) => Err(e.into()),
            other => unreachable!("a change cannot answer {other:?}"),
        }
    }

    async fn register_inbound(&self, inbound: Inbound, key: Option<IdempotencyKey>) -> Result<Received> {
        let follow_up = inbound.thread.is_some();
        let mut tags = BTreeSet::new();
        if follow_up {
            tags.insert(Tag::parse(FOLLOW_UP_TAG).expect("static tag"));
        }
        let reg = Registration {
            kind: inbound.kind,
            channel: inbound.channel,
            player: inbound.contact,
            subject: inbound.subject,
            description: inbound.text,
            language: inbound.language,
            department: None,
            category: None,
            priority: None,
            tags,
            segments: Default::default(),
        };
        let channel = reg.channel;
        for _ in 0..ATTEMPTS {
            match self.write_registration(Actor::System, &reg, key.clone(), inbound.mail.clone(), crate::IntakeOptions::CLAIMED).await? {
                Outcome::Registered(c) => {
                    metrics::counter!("ombuds_inbound_total", "channel" => channel.as_str(), "outcome" => "registered").increment(1);
                    return Ok(Received::Registered(*c));
                }
                Outcome::Replayed { complaint_id } => return Ok(Received::Duplicate { complaint_id }),
                Outcome::KeyReused => unreachable!("inbound keys carry no request hash"),
                Outcome::Refused(e) => return Err(e.into()),
                Outcome::Retry(why) => tracing::debug!(why, "registration raced; drawing again"),
                other => unreachable!("a registration cannot answer {other:?}"),
            }
        }
        Err(DeskError::Contention)
    }
}
