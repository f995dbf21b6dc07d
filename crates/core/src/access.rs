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

word_enum!(Scope { ComplaintsRead = "complaints:read", ComplaintsWrite = "complaints:write", Admin = "admin", Cti = "cti" });

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

    pub fn visibility(&self) -> Visibility {
        match self {
            Principal::Token { .. } if self.has(Scope::ComplaintsRead) || self.has(Scope::ComplaintsWrite) => Visibility::All,
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
        if !self.may_view(source) || !self.may_view(target) {
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
