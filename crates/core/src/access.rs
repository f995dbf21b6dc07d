//! Who may see and do what. Admins: everything. Supervisors: complaints of their departments
//! and unrouted ones (triage); they assign anyone and de-escalate. Agents: complaints of their
//! departments or assigned to them; they may take (self-assign) but not hand work to others.
//! API tokens act for an integration within their scopes.

use crate::command::Command;
use crate::error::DomainError;
use crate::fields::{DepartmentCode, FieldError};
use crate::model::*;
use std::collections::BTreeSet;
use uuid::Uuid;

/// What an API token may do. Written the same everywhere (`complaints:write`): on input, in
/// answers, in the store. The underscore form that answers once carried is still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    #[serde(rename = "complaints:read", alias = "complaints_read")]
    ComplaintsRead,
    #[serde(rename = "complaints:write", alias = "complaints_write")]
    ComplaintsWrite,
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "cti")]
    Cti,
    /// Reading `/metrics` (a Prometheus scraper).
    #[serde(rename = "metrics")]
    Metrics,
}

impl Scope {
    pub const ALL: &'static [Scope] = &[Scope::ComplaintsRead, Scope::ComplaintsWrite, Scope::Admin, Scope::Cti, Scope::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ComplaintsRead => "complaints:read",
            Scope::ComplaintsWrite => "complaints:write",
            Scope::Admin => "admin",
            Scope::Cti => "cti",
            Scope::Metrics => "metrics",
        }
    }

    /// The word (`complaints:write`); the underscore form is read too.
    pub fn parse(raw: &str) -> Result<Scope, FieldError> {
        let t = raw.trim();
        Scope::ALL.iter().copied().find(|s| s.as_str() == t || s.as_str().replace(':', "_") == t).ok_or_else(|| {
            FieldError::new("", "invalid_value", format!("'{t}' is not one of: {}", Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
        })
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Agent(Agent),
    Token { id: Uuid, name: String, scopes: BTreeSet<Scope> },
}

/// Which complaints a principal may see, in a form a store can turn into a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    Limited { departments: BTreeSet<DepartmentCode>, assignee: Option<Uuid>, unrouted: bool },
    Nothing,
}

impl Visibility {
    pub fn allows(&self, c: &Complaint) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Nothing => false,
            Visibility::Limited { departments, assignee, unrouted } => {
                c.department.as_ref().map_or(*unrouted, |d| departments.contains(d))
                    || (assignee.is_some() && c.assignee == *assignee)
            }
        }
    }
}

fn forbidden(why: &str) -> DomainError {
    DomainError::Forbidden(why.to_string())
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Agent(a) => Actor::Agent { id: a.id },
            Principal::Token { id, .. } => Actor::Token { id: *id },
        }
    }

    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Agent(a) => a.role == Role::Admin,
            Principal::Token { scopes, .. } => scopes.contains(&Scope::Admin),
        }
    }

    fn has(&self, scope: Scope) -> bool {
        match self {
            Principal::Agent(_) => true,
            Principal::Token { scopes, .. } => scopes.contains(&scope) || scopes.contains(&Scope::Admin),
        }
    }

    /// Refuses a token without `scope` (403 naming the scope); agents pass.
    pub fn require(&self, scope: Scope) -> Result<(), DomainError> {
        if self.has(scope) { Ok(()) } else { Err(forbidden(&format!("this token lacks the {scope} scope"))) }
    }

    /// Which complaints the principal may *read*. A token needs `complaints:read`: a
    /// `complaints:write` token writes without reading (see [`Principal::write_reach`]).
    pub fn visibility(&self) -> Visibility {
        match self {
            Principal::Token { .. } if self.has(Scope::ComplaintsRead) => Visibility::All,
            Principal::Token { .. } => Visibility::Nothing,
            Principal::Agent(_) => self.agent_reach(),
        }
    }

    /// Which complaints the principal may send commands to: a `complaints:write` token any,
    /// an agent what they may read.
    pub fn write_reach(&self) -> Visibility {
        match self {
            Principal::Token { .. } if self.has(Scope::ComplaintsWrite) => Visibility::All,
            Principal::Token { .. } => Visibility::Nothing,
            Principal::Agent(_) => self.agent_reach(),
        }
    }

    /// A command to `c` is in the principal's reach (the complaint itself; `may_apply` then
    /// judges the command).
    pub fn may_reach(&self, c: &Complaint) -> bool {
        self.write_reach().allows(c)
    }

    /// The full list of agents with their e-mail addresses: supervisors and administrators.
    pub fn may_list_agents(&self) -> Result<(), DomainError> {
        self.require_supervisor()
    }

    /// Reading `/metrics`: administrators and `metrics` tokens.
    pub fn may_read_metrics(&self) -> Result<(), DomainError> {
        match self {
            Principal::Token { scopes, .. } if scopes.contains(&Scope::Metrics) => Ok(()),
            _ => self.require_admin(),
        }
    }

    /// Handing a live chat on (to an agent or back to a department): its holder, or a
    /// supervisor or administrator. A waiting chat has no holder; whoever may take it may
    /// also send it elsewhere.
    pub fn may_hand_over_chat(&self, holder: Option<Uuid>) -> Result<(), DomainError> {
        let Principal::Agent(me) = self else { return Err(forbidden("only agents transfer chats")) };
        match holder {
            Some(h) if h != me.id && me.role == Role::Agent => Err(forbidden("only the agent holding the chat, or a supervisor, can hand it over")),
            _ => Ok(()),
        }
    }

    fn agent_reach(&self) -> Visibility {
        match self {
            Principal::Token { .. } => Visibility::Nothing,
            Principal::Agent(a) => match a.role {
                Role::Admin => Visibility::All,
                Role::Supervisor => Visibility::Limited { departments: a.departments.clone(), assignee: Some(a.id), unrouted: true },
                Role::Agent => Visibility::Limited { departments: a.departments.clone(), assignee: Some(a.id), unrouted: false },
            },
        }
    }

    pub fn require_admin(&self) -> Result<(), DomainError> {
        if self.is_admin() { Ok(()) } else { Err(forbidden("this needs an administrator")) }
    }

    /// Reading routing rules and trying them (dry run): supervisors and administrators.
    pub fn require_supervisor(&self) -> Result<(), DomainError> {
        match self {
            Principal::Agent(a) if matches!(a.role, Role::Admin | Role::Supervisor) => Ok(()),
            _ if self.is_admin() => Ok(()),
            _ => Err(forbidden("this needs a supervisor or an administrator")),
        }
    }

    pub fn may_register(&self) -> Result<(), DomainError> {
        if self.has(Scope::ComplaintsWrite) { Ok(()) } else { Err(forbidden("this token lacks the complaints:write scope")) }
    }

    /// Reading one complaint. Callers answer "not found" rather than "forbidden" when this fails,
    /// so references cannot be probed.
    pub fn may_view(&self, c: &Complaint) -> bool {
        self.visibility().allows(c)
    }

    /// Merging a duplicate: writing to both complaints, which the caller must both see.
    pub fn may_merge(&self, source: &Complaint, target: &Complaint) -> Result<(), DomainError> {
        if !self.has(Scope::ComplaintsWrite) {
            return Err(forbidden("this token lacks the complaints:write scope"));
        }
        if !self.may_reach(source) || !self.may_reach(target) {
            return Err(forbidden("both complaints must be in your reach to merge them"));
        }
        Ok(())
    }

    pub fn may_apply(&self, c: &Complaint, cmd: &Command) -> Result<(), DomainError> {
        if !self.has(Scope::ComplaintsWrite) {
            return Err(forbidden("this token lacks the complaints:write scope"));
        }
        if let Command::RecordDeliveryFailure { .. } = cmd {
            return Err(forbidden("only ombuds itself records delivery failures"));
        }
        if let Command::CheckSla = cmd {
            return Err(forbidden("only ombuds itself checks SLA clocks"));
        }
        let Principal::Agent(me) = self else { return Ok(()) };
        if me.role == Role::Admin {
            return Ok(());
        }
        match cmd {
            Command::Assign { agent } if me.role == Role::Agent && agent.id != me.id => {
                Err(forbidden("agents may take a complaint themselves; assigning others needs a supervisor"))
            }
            Command::Unassign if me.role == Role::Agent && c.assignee != Some(me.id) => {
                Err(forbidden("agents may release only their own complaints"))
            }
            Command::Deescalate { .. } if me.role == Role::Agent => Err(forbidden("de-escalation needs a supervisor")),
            _ => Ok(()),
        }
    }
}
