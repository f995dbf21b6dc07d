//! The ombuds domain. Pure: no I/O, no async, no SQL, no HTTP. Adapters parse their input into
//! these types, ask the core to decide, and persist or send what it decided.

pub mod access;
pub mod assign;
pub mod chain;
pub mod chat;
pub mod command;
pub mod error;
pub mod event;
pub mod faq;
pub mod fields;
pub mod macros;
pub mod model;
pub mod reference;
pub mod rules;
pub mod sla;
pub mod tracking;
pub mod clients;

pub use access::{Principal, Scope, Visibility};
pub use command::{AutoRoute, Command, Ctx, Decision, Job, Registration};
pub use error::DomainError;
pub use event::{Event, EventData};
pub use fields::*;
pub use model::*;
pub use reference::{ComplaintRef, RefError};

/// Instants are kept to the microsecond, the precision both stores keep.
pub fn to_micros(t: jiff::Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn from_micros(us: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(us).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The current time truncated to microseconds.
pub fn now() -> jiff::Timestamp {
    from_micros(jiff::Timestamp::now().as_microsecond())
}

#[cfg(test)]
mod lifecycle_tests;
