//! `ombuds_mail::inbound::parse` on arbitrary bytes, with small limits, checking the promises
//! the desk relies on. A panic, a stack overflow, a timeout or a broken invariant is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ombuds_mail::inbound::{InboundMail, Limits, TRUNCATION_MARKER, parse};

fn limits() -> Limits {
    Limits {
        max_message_bytes: 1 << 20,
        max_attachments: 4,
        max_attachment_bytes: 4096,
        max_total_attachment_bytes: 8192,
        max_depth: 6,
        max_text_chars: 4000,
    }
}

fn check(m: &InboundMail, limits: &Limits) {
    let marker = TRUNCATION_MARKER.chars().count();
    assert!(m.full_text.chars().count() <= limits.max_text_chars + marker, "full_text too long");
    assert!(m.text.len() <= m.full_text.len(), "text longer than full_text");
    assert!(m.full_text.is_empty() || !m.text.trim().is_empty(), "text trimmed to nothing");
    assert!(m.attachments.len() <= limits.max_attachments);
    let total: usize = m.attachments.iter().map(|a| a.data.len()).sum();
    assert!(total <= limits.max_total_attachment_bytes);
    for a in &m.attachments {
        assert!(a.data.len() <= limits.max_attachment_bytes);
        assert!(!a.filename.is_empty() && a.filename.chars().count() <= 150);
        assert!(!a.filename.contains(['/', '\\']) && !a.filename.starts_with('.'));
        assert!(!a.filename.chars().any(char::is_control));
    }
    assert!(!m.subject.chars().any(char::is_control), "control character in subject");
    let from = m.from.as_ref().expect("a parsed mail has a sender");
    for mb in std::iter::once(from).chain(&m.reply_to).chain(&m.to).chain(&m.cc) {
        assert!(mb.address.contains('@'));
        assert!(!mb.address.chars().any(|c| c.is_control() || c.is_whitespace()));
        assert!(mb.name.as_deref().is_none_or(|n| !n.chars().any(char::is_control)));
    }
    for id in m.message_id.iter().chain(&m.in_reply_to).chain(&m.references) {
        assert!(!id.is_empty() && !id.chars().any(|c| c.is_control() || c.is_whitespace()));
    }
}

fuzz_target!(
    init: {
        // mail-parser has debug_assert!s on paths it then recovers from; they are no-ops in
        // release builds, and in debug builds `parse` catches them (catch_unwind) and salvages
        // the message. Fuzzing with debug assertions on (`-a`, for overflow checks in our own
        // code) must not stop at them, so panics raised inside mail-parser are let through
        // to that catch_unwind; every other panic still aborts as libfuzzer-sys arranges.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info.location().is_some_and(|l| l.file().contains("mail-parser"));
            if !in_mail_parser {
                abort(info);
            }
        }));
    },
    |data: &[u8]| {
    let limits = limits();
    let first = parse(data, &limits);
    if let Ok(m) = &first {
        check(m, &limits);
    }
    // Deterministic: the same bytes give the same result.
    assert_eq!(first, parse(data, &limits));
    // Any prefix (a message cut in transit) is handled too; the split point comes from the data.
    if let Some(&b) = data.first() {
        let cut = (usize::from(b) * data.len()) / 256;
        if let Ok(m) = parse(&data[..cut], &limits) {
            check(&m, &limits);
        }
    }
    }
);
