//! Channel adapters. Inbound adapters turn what arrives into desk calls; outbound delivery
//! registers job handlers with the desk's runner. Nothing here touches the store directly.

pub mod auth;
pub mod email;
pub mod imap;
pub mod sender;
pub mod smtp_in;
