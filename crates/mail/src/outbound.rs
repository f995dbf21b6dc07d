//! Outbound composition (being written).
