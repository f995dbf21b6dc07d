//! E-mail without I/O. `inbound` turns raw RFC 5322 bytes into what the desk needs (visible text,
//! threading keys, attachments, whether it was sent by a machine); `outbound` composes the
//! localized messages ombuds sends. Nothing here opens a socket or touches the store, so both
//! halves can be fuzzed and benchmarked alone.

pub mod inbound;
/// Realistic inbound mail for benchmarks (feature `corpus`; always built for the unit tests).
#[cfg(any(test, feature = "corpus"))]
pub mod corpus;
pub mod outbound;
