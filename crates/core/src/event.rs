//! Events: the facts the core records. A complaint's row is the fold of its events.

use crate::fields::*;
use crate::model::*;
use crate::reference::ComplaintRef;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    Registered {
        reference: ComplaintRef,
        kind: Kind,
        channel: Channel,
        player_id: Uuid,
        subject: Subject,
        description: Body,
        language: Language,
        priority: Priority,
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
        tags: BTreeSet<Tag>,
    },
    Routed {
        department: DepartmentCode,
        category: Option<Category>,
        previous: Option<DepartmentCode>,
        /// How an automatic routing decided: `rule:<name>` or `classifier:<confidence>`. Absent
        /// when a person (or the registration itself) named the department.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    Assigned {
        agent: Uuid,
        previous: Option<Uuid>,
    },
    Unassigned {
        previous: Uuid,
    },
    MessageAdded {
        message_id: Uuid,
        kind: MessageKind,
        channel: Channel,
        body: Body,
    },
    SolutionProposed {
        message_id: Uuid,
        text: Body,
    },
    InformationRequested {
        message_id: Uuid,
        text: Body,
    },
    PlayerReplied {
        message_id: Uuid,
        channel: Channel,
        text: Body,
    },
    Resolved {
        measures: Body,
        result: Body,
    },
    Closed,
    Reopened {
        reason: Body,
    },
    Escalated {
        level: EscalationLevel,
        reason: Body,
    },
    /// The SLA clocks as they now stand (registration, a new department or priority, the
    /// player's reply resuming them, a reopening, an escalation's dispute deadline).
    SlaSet {
        clocks: crate::sla::SlaClocks,
    },
    /// The complaint waits on the player: the clocks stop.
    SlaPaused,
    /// A clock reached its warning share or its deadline.
    SlaAlarm {
        clock: crate::sla::ClockKind,
        level: crate::sla::AlarmLevel,
    },
    Deescalated {
        note: Option<Body>,
    },
    /// The player rated the resolution (CSAT).
    Rated {
        #[cfg_attr(feature = "openapi", schema(value_type = u8, minimum = 1, maximum = 5))]
        score: CsatScore,
        comment: Option<Body>,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
    },
    Tagged {
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
        added: BTreeSet<Tag>,
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
        removed: BTreeSet<Tag>,
    },
    /// This complaint was a duplicate: it is closed and its thread joins `target`'s.
    MergedInto {
        target: Uuid,
        reference: ComplaintRef,
    },
    /// The duplicate `source` was merged into this complaint.
    MergedFrom {
        source: Uuid,
        reference: ComplaintRef,
    },
    /// A notice could not be delivered to the player and will not be retried: someone must
    /// reach the player another way.
    DeliveryFailed {
        /// The outbox job kind (`acknowledge`, `deliver_message`, `notify_resolved`).
        notice: String,
        message_id: Option<Uuid>,
        recipient: Option<String>,
        reason: String,
    },
}

impl EventData {
    /// The stable name stored in the `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventData::Registered { .. } => "registered",
            EventData::Routed { .. } => "routed",
            EventData::Assigned { .. } => "assigned",
            EventData::Unassigned { .. } => "unassigned",
            EventData::MessageAdded { .. } => "message_added",
            EventData::SolutionProposed { .. } => "solution_proposed",
            EventData::InformationRequested { .. } => "information_requested",
            EventData::PlayerReplied { .. } => "player_replied",
            EventData::Resolved { .. } => "resolved",
            EventData::Closed => "closed",
            EventData::Reopened { .. } => "reopened",
            EventData::Escalated { .. } => "escalated",
            EventData::SlaSet { .. } => "sla_set",
            EventData::SlaPaused => "sla_paused",
            EventData::SlaAlarm { .. } => "sla_alarm",
            EventData::Deescalated { .. } => "deescalated",
            EventData::Rated { .. } => "rated",
            EventData::PriorityChanged { .. } => "priority_changed",
            EventData::Tagged { .. } => "tagged",
            EventData::DeliveryFailed { .. } => "delivery_failed",
            EventData::MergedInto { .. } => "merged_into",
            EventData::MergedFrom { .. } => "merged_from",
        }
    }
}

/// One event of one complaint, as decided by the core (the store adds its place in the chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: Uuid,
    pub complaint_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub actor: Actor,
    pub data: EventData,
}

impl Event {
    /// The thread message this event carries, if any.
    pub fn message(&self, complaint_channel: Channel) -> Option<Message> {
        let (id, kind, channel, body) = match &self.data {
            EventData::MessageAdded { message_id, kind, channel, body } => (*message_id, *kind, *channel, body),
            EventData::SolutionProposed { message_id, text } | EventData::InformationRequested { message_id, text } => {
                (*message_id, MessageKind::Outbound, complaint_channel, text)
            }
            EventData::PlayerReplied { message_id, channel, text } => (*message_id, MessageKind::Inbound, *channel, text),
            _ => return None,
        };
        Some(Message {
            id,
            complaint_id: self.complaint_id,
            kind,
            channel,
            author: self.actor.clone(),
            body: body.clone(),
            created_at: self.at,
        })
    }
}
