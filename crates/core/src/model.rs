//! The complaint and the things around it.

use crate::fields::*;
use crate::reference::ComplaintRef;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Declares a closed set of lower-case words, with `as_str`, `parse` and `ALL`.
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                match raw.trim() {
                    $($word => Ok($name::$variant),)+
                    other => Err($crate::fields::FieldError::new(
                        "",
                        "invalid_value",
                        format!("'{}' is not one of: {}", other, [$($word),+].join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum!(
    /// Where a complaint's lifecycle stands. The transitions live in `command::decide`.
    Status {
        New = "new",
        Routed = "routed",
        InProgress = "in_progress",
        WaitingOnPlayer = "waiting_on_player",
        Resolved = "resolved",
        Closed = "closed",
    }
);

impl Status {
    /// Open complaints still need work from the desk (or an answer from the player).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }
}

word_enum!(
    /// What an agent is doing on a complaint's page (the workspace warns the others).
    Presence { Viewing = "viewing", Replying = "replying" }
);
word_enum!(Kind { Complaint = "complaint", Feedback = "feedback", Question = "question", Suggestion = "suggestion" });
word_enum!(Channel { Email = "email", Chat = "chat", Phone = "phone", Web = "web", Api = "api" });
word_enum!(Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" });
word_enum!(Language { Ru = "ru", Kk = "kk", En = "en" });

impl Language {
    /// A quick guess from the script: letters only Kazakh uses mark Kazakh, other Cyrillic
    /// Russian, Latin English. `None` when the text has too few letters to tell.
    pub fn guess(text: &str) -> Option<Language> {
        let (mut kazakh, mut cyrillic, mut latin) = (0usize, 0usize, 0usize);
        for c in text.chars().take(4_000) {
            match c {
                'ә' | 'ғ' | 'қ' | 'ң' | 'ө' | 'ұ' | 'ү' | 'һ' | 'і' | 'Ә' | 'Ғ' | 'Қ' | 'Ң' | 'Ө' | 'Ұ' | 'Ү' | 'Һ' | 'І' => {
                    kazakh += 1;
                    cyrillic += 1;
                }
                '\u{0400}'..='\u{04FF}' => cyrillic += 1,
                'a'..='z' | 'A'..='Z' => latin += 1,
                _ => {}
            }
        }
        if cyrillic >= 8 && cyrillic >= latin {
            Some(if kazakh >= 2 && kazakh * 100 >= cyrillic { Language::Kk } else { Language::Ru })
        } else if latin >= 12 {
            Some(Language::En)
        } else {
            None
        }
    }
}
word_enum!(
    /// Inbound: written by the player. Outbound: a reply sent to the player. Note: internal.
    MessageKind { Inbound = "inbound", Outbound = "outbound", Note = "note" }
);
word_enum!(
    /// Supervisor: inside the operator. External: the player went (or may go) to a dispute body.
    EscalationLevel { Supervisor = "supervisor", External = "external" }
);
word_enum!(Role { Admin = "admin", Supervisor = "supervisor", Agent = "agent" });

/// Who did something. Recorded on every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    Agent { id: Uuid },
    Token { id: Uuid },
    Player { id: Uuid },
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Escalation {
    pub level: EscalationLevel,
    pub reason: Body,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolution {
    /// What the operator did (refund, bet resettled, account unblocked, …).
    pub measures: Body,
    /// The outcome as told to the player.
    pub result: Body,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
}

/// How satisfied the player was with the resolution: 1 (very unhappy) to 5 (very happy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "u8", into = "u8")]
pub struct CsatScore(u8);

impl CsatScore {
    pub fn parse(raw: &str) -> Result<CsatScore, FieldError> {
        raw.trim()
            .parse::<u8>()
            .ok()
            .and_then(|n| CsatScore::try_from(n).ok())
            .ok_or_else(|| FieldError::new("score", "invalid_score", "must be a whole number from 1 to 5"))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for CsatScore {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        if (1..=5).contains(&n) { Ok(CsatScore(n)) } else { Err(format!("a score is 1 to 5, not {n}")) }
    }
}

impl From<CsatScore> for u8 {
    fn from(s: CsatScore) -> u8 {
        s.0
    }
}

/// The player's rating of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rating {
    #[cfg_attr(feature = "openapi", schema(value_type = u8, minimum = 1, maximum = 5))]
    pub score: CsatScore,
    pub comment: Option<Body>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
}

/// The contact details a complaint arrives with. At least one way to reach or identify the
/// player (external id, e-mail or phone) is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayerContact {
    pub external_id: Option<ExternalPlayerId>,
    pub name: Option<PersonName>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub language: Option<Language>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Player {
    pub id: Uuid,
    pub external_id: Option<ExternalPlayerId>,
    pub name: Option<PersonName>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub language: Language,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Complaint {
    pub id: Uuid,
    pub reference: ComplaintRef,
    pub kind: Kind,
    pub status: Status,
    pub channel: Channel,
    pub player_id: Uuid,
    pub subject: Subject,
    pub description: Body,
    pub language: Language,
    pub department: Option<DepartmentCode>,
    pub category: Option<Category>,
    pub priority: Priority,
    pub assignee: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub tags: BTreeSet<Tag>,
    pub escalation: Option<Escalation>,
    pub resolution: Option<Resolution>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    /// The first reply or solution sent to the player: the first-response SLA stops here.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub first_response_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub resolved_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub closed_at: Option<Timestamp>,
    /// Optimistic concurrency: bumped by every change.
    pub version: i64,
    /// The SLA clocks (first response, resolution, hard limit), their alarms and the dispute
    /// deadline.
    #[serde(default)]
    pub sla: Option<crate::sla::SlaClocks>,
    /// The player's rating of the current resolution (cleared when the complaint reopens).
    #[serde(default)]
    pub rating: Option<Rating>,
    /// The complaint this one was merged into as a duplicate (it is closed; its thread shows on
    /// the other one, where the work goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<MergeLink>,
}

/// The complaint a duplicate was merged into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeLink {
    pub id: Uuid,
    pub reference: ComplaintRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: Uuid,
    pub complaint_id: Uuid,
    pub kind: MessageKind,
    pub channel: Channel,
    pub author: Actor,
    pub body: Body,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A department as the core needs to know it when deciding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Department {
    pub code: DepartmentCode,
    /// Display names per language.
    pub name_en: String,
    pub name_ru: String,
    pub name_kk: String,
    pub active: bool,
}

impl Department {
    /// The department's name in `language`.
    pub fn name(&self, language: Language) -> &str {
        match language {
            Language::Ru => &self.name_ru,
            Language::Kk => &self.name_kk,
            Language::En => &self.name_en,
        }
    }
}

/// An agent (specialist, supervisor or administrator) as the core needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: Uuid,
    pub login: String,
    pub name: PersonName,
    pub email: Option<EmailAddress>,
    pub role: Role,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub departments: BTreeSet<DepartmentCode>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub languages: BTreeSet<Language>,
    pub active: bool,
    /// What the agent is good at (`crypto`, `vip`, …): auto-assignment matches a rule's skill.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub skills: BTreeSet<crate::fields::Tag>,
    /// How many open complaints auto-assignment gives the agent at most (0: none).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
}

pub const DEFAULT_CAPACITY: u32 = 20;

fn default_capacity() -> u32 {
    DEFAULT_CAPACITY
}

impl Player {
    /// A new player from the contact details a complaint arrived with.
    pub fn from_contact(id: Uuid, c: &PlayerContact, fallback_language: Language, at: Timestamp) -> Player {
        Player {
            id,
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            language: c.language.unwrap_or(fallback_language),
            created_at: at,
        }
    }

    /// Whether these contact details identify this player, and how strongly: 3 by the
    /// operator's id, 2 by e-mail, 1 by phone, 0 not at all.
    pub fn match_strength(&self, c: &PlayerContact) -> u8 {
        let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
        if same(self.external_id.as_ref().map(|x| x.as_str()), c.external_id.as_ref().map(|x| x.as_str())) {
            3
        } else if same(self.email.as_ref().map(|x| x.as_str()), c.email.as_ref().map(|x| x.as_str())) {
            2
        } else if same(self.phone.as_ref().map(|x| x.as_str()), c.phone.as_ref().map(|x| x.as_str())) {
            1
        } else {
            0
        }
    }

    /// Completes the player with what it lacks and takes the newest name and language; the
    /// identifiers it has are never overwritten.
    pub fn merged_with(&self, c: &PlayerContact) -> Player {
        Player {
            id: self.id,
            external_id: self.external_id.clone().or_else(|| c.external_id.clone()),
            name: c.name.clone().or_else(|| self.name.clone()),
            email: self.email.clone().or_else(|| c.email.clone()),
            phone: self.phone.clone().or_else(|| c.phone.clone()),
            language: c.language.unwrap_or(self.language),
            created_at: self.created_at,
        }
    }
}
