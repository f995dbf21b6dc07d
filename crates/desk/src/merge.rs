//! Merging duplicates: a player who writes twice about one problem (a chat, then an e-mail)
//! gets one answer. The duplicate is closed and points at the complaint the work goes on in;
//! that complaint's thread shows the duplicate's messages and files; e-mail replies and the
//! tracking page follow the link. Both complaints are written in one transaction.

use crate::{Desk, DeskError, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::{DecidePair, Outcome, PairChange, StoreError, WriteOp};
use serde::Serialize;
use uuid::Uuid;

/// A duplicate merged into a complaint, as the complaint's page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub id: Uuid,
    pub reference: ComplaintRef,
    pub subject: Subject,
    /// The duplicate's first text (its later messages are in the thread).
    pub description: Body,
    pub channel: Channel,
    pub created_at: jiff::Timestamp,
}

impl Duplicate {
    pub fn of(c: &Complaint) -> Duplicate {
        Duplicate { id: c.id, reference: c.reference, subject: c.subject.clone(), description: c.description.clone(), channel: c.channel, created_at: c.created_at }
    }
}

/// How many merge links are followed from a reference to the complaint the work is in (a
/// target may itself be merged later; a chain this long is not made by people).
const MAX_HOPS: usize = 16;

impl Desk {
    /// Merges the duplicate `source` into `target` as `who`, telling the player `note` on the
    /// duplicate's thread first when given. Returns both complaints as they are now.
    pub async fn merge(&self, who: &Principal, source: &ComplaintRef, target: &ComplaintRef, note: Option<Body>) -> Result<(Complaint, Complaint)> {
        let s = self.reachable(who, source).await?;
        // A target out of reach reads like one that does not exist: references cannot be probed.
        let t = match self.reachable(who, target).await {
            Ok(t) => t,
            Err(DeskError::NotFound(_)) => {
                return Err(DomainError::invalid("target", "unknown_complaint", format!("there is no complaint {target} in your reach")).into());
            }
            Err(e) => return Err(e),
        };
        who.may_merge(&s, &t)?;
        let departments = self.departments().await?;
        let sla = self.sla();
        let who = who.clone();
        let decide: DecidePair = Box::new(move |a: &Complaint, b: &Complaint| {
            if !who.may_reach(a) || !who.may_reach(b) {
                return Err(DomainError::Forbidden("a complaint has moved out of your reach meanwhile".into()));
            }
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: who.actor(), departments: &departments, sla: &sla, new_id: &mut new_id };
            command::merge(a, b, note.as_ref(), &mut ctx)
        });
        match self.store.write(WriteOp::Pair(PairChange { first: s.id, second: t.id, decide })).await? {
            Outcome::ChangedPair(both) => {
                metrics::counter!("ombuds_complaints_merged_total").increment(1);
                self.jobs_ready.notify_waiters();
                Ok(*both)
            }
            Outcome::Refused(e) => Err(e.into()),
            Outcome::Missing => Err(DeskError::NotFound("complaint")),
            other => unreachable!("a merge cannot answer {other:?}"),
        }
    }

    /// The complaint the work on `complaint` goes on in: itself, or the end of its merge links.
    pub async fn merge_target(&self, complaint: Complaint) -> Result<Complaint> {
        let mut c = complaint;
        for _ in 0..MAX_HOPS {
            let Some(link) = &c.merged_into else { return Ok(c) };
            c = match self.store.complaint(link.id).await {
                Ok(next) => next,
                Err(StoreError::NotFound) => return Ok(c),
                Err(e) => return Err(e.into()),
            };
        }
        Ok(c)
    }
}
