//! Channel adapters. Inbound adapters turn what arrives into desk calls; outbound delivery
//! registers job handlers with the desk's runner. Nothing here touches the store directly.

pub mod imap;
