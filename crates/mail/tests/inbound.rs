//! Inbound mail parsing: a corpus of realistic messages with exact expectations, hostile
//! inputs, and properties over generated ones.

#[path = "inbound/adversarial.rs"]
mod adversarial;
#[path = "inbound/fixtures.rs"]
mod fixtures;
#[path = "inbound/properties.rs"]
mod properties;

use ombuds_mail::inbound::{InboundMail, Limits, parse};

/// Reads a fixture from `tests/mail/`.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/mail/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The limits the fixtures are read with (a small single-attachment limit, so that one of
/// them is dropped).
pub fn fixture_limits() -> Limits {
    Limits {
        max_attachment_bytes: 50_000,
        ..Limits::default()
    }
}

pub fn fixture(name: &str) -> InboundMail {
    parse(&fixture_bytes(name), &fixture_limits()).unwrap_or_else(|e| panic!("{name}: {e}"))
}
