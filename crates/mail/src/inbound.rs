//! Inbound MIME parsing (being written).
