//! Inbound mail: raw RFC 5322 bytes → what the desk needs from them.
//!
//! [`parse`] takes the bytes an SMTP listener or IMAP poller received and returns an
//! [`InboundMail`]: sender and recipients, threading keys, the decoded subject and the
//! complaint references it carries, the text the player wrote this time (`text`) and all of
//! it (`full_text`), attachments within [`Limits`], and whether a machine sent it
//! ([`Automatic`]). It refuses ([`Refusal`]) only what cannot be a complaint at all: too
//! large, not a message, or no sender to answer.
//!
//! MIME structure and header fields come from `mail-parser` (Stalwart's parser, itself fuzzed);
//! everything a complaint desk cares about on top of it is done here: bodies are re-decoded
//! from their bytes so that charsets can be guessed and lies caught ([`charset`]), HTML is
//! turned into text by a small single-pass converter ([`html`]), quotes and signatures are
//! trimmed ([`quote`]), nesting beyond `max_depth` is left opaque, and every decoded header
//! value is stripped of control characters (no CR/LF survives, so nothing can be injected
//! into headers built from it later).
//!
//! # Choosing the text of `multipart/alternative`
//! The text/plain alternative is preferred: it is what the sender's own client made of the
//! message, exact and free of conversion artefacts. It is passed over for the HTML one when
//! it is empty, a "view this in HTML" placeholder, or has less than half the letters and
//! digits of the HTML version (some clients and most web forms send a poor or truncated text
//! part). Attachments are collected from every alternative, so an image pasted into the HTML
//! version is kept even when the text/plain version is shown.
//!
//! # Robustness
//! `parse` does not panic on any input (fuzzed with cargo-fuzz and property-tested), does not
//! loop, and its work is linear in the input: mail-parser builds the part tree iteratively,
//! and every pass here is a forward scan. As a last line of defence the call into mail-parser
//! runs under `catch_unwind`; should it ever panic, the headers are parsed alone and the body
//! is salvaged as text, with a warning.

pub(crate) mod charset;
mod html;
mod quote;
mod transfer;

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use ombuds_core::ComplaintRef;

/// Bounds on what one message may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Larger messages are refused whole (SMTP 552 5.3.4).
    pub max_message_bytes: usize,
    /// Attachments beyond this count are dropped (listed in `dropped`).
    pub max_attachments: usize,
    /// A single decoded attachment larger than this is dropped.
    pub max_attachment_bytes: usize,
    /// Attachments that would take the decoded total past this are dropped.
    pub max_total_attachment_bytes: usize,
    /// MIME nesting (multipart in multipart, message in message) deeper than this is opaque.
    pub max_depth: usize,
    /// `full_text` longer than this many characters is cut, with [`TRUNCATION_MARKER`].
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_attachments: 20,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_total_attachment_bytes: 25 * 1024 * 1024,
            max_depth: 8,
            max_text_chars: 100_000,
        }
    }
}

/// Appended to `full_text` (and so to `text`) when it was cut at `max_text_chars`.
pub const TRUNCATION_MARKER: &str = "\n[…]";

/// A mailbox: display name and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Mailbox {
    /// Decoded display name, control characters removed; `None` when absent or empty.
    pub name: Option<String>,
    /// `local@domain` with the domain lower-cased (the local part keeps its case).
    pub address: String,
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

/// Why a message looks machine-sent. A desk must never send an automatic answer (an
/// acknowledgment, a survey) to any of these: that is how mail loops start (RFC 3834).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Automatic {
    /// An out-of-office or other automatic answer: `Auto-Submitted` other than `no`,
    /// `X-Autoreply`/`X-Autorespond`, `Precedence: auto_reply`, or a vacation subject in
    /// Russian, Kazakh or English. Record it on the complaint it answers; do not open one.
    AutoReply,
    /// A delivery failure: a `multipart/report` delivery status notification, a
    /// MAILER-DAEMON or postmaster sender, or an empty `Return-Path: <>` with no other sign.
    /// The address it reports is not reachable; [`InboundMail::own_ref`] tells which of our
    /// messages bounced when the report returned its headers.
    Bounce,
    /// Mass mail: `Precedence: bulk/junk/list`, `List-Id` or `List-Unsubscribe` (personal mail
    /// from Gmail, Outlook, Yandex or Mail.ru never carries these; newsletters and marketing
    /// always do since the 2024 bulk-sender rules). Keep it for a person to look at, but
    /// never acknowledge it and never count it as a complaint automatically.
    Bulk,
    /// A message ombuds sent itself (it carries `X-Ombuds-Ref`): came back through a
    /// forward or a misconfigured alias. Drop it.
    Own,
}

/// An attachment kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Safe to show and to store under: no path, no control or bidi characters, no
    /// characters Windows refuses, at most 150 characters with the extension kept;
    /// `attachment-N[.ext]` when the sender gave none.
    pub filename: String,
    /// `type/subtype`, lower case; `application/octet-stream` when absent.
    pub content_type: String,
    /// The decoded bytes.
    pub data: Vec<u8>,
    /// The sender's client showed it in the body (an image pasted into the text).
    pub inline: bool,
}

/// Why an attachment was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DropReason {
    /// Larger than `max_attachment_bytes`.
    TooLarge,
    /// Beyond `max_attachments`.
    TooMany,
    /// Would have taken the total past `max_total_attachment_bytes`.
    TotalTooLarge,
}

/// An attachment that was not kept, so the agent can ask for it another way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DroppedAttachment {
    pub filename: String,
    /// Decoded size in bytes.
    pub size: usize,
    pub reason: DropReason,
}

/// What a delivery report (a DSN, an Exchange NDR) says about the message it returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounce {
    /// Recipients the report gives up on (`Action: failed`), or, when it has no
    /// machine-readable part, the returned message's `To`.
    pub failed: Vec<String>,
    /// The report only says delivery is delayed (`Action: delayed`): not a failure yet.
    pub delayed_only: bool,
    /// The `Message-ID` of the returned message (from its headers or whole copy in the report).
    pub original_message_id: Option<String>,
    /// `Status` and `Diagnostic-Code` of the first failed recipient, for the record.
    pub diagnostic: Option<String>,
}

/// What the desk needs from one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Without `<>`, trimmed; `None` if absent or empty.
    pub message_id: Option<String>,
    /// Normalised like `message_id`, in header order.
    pub in_reply_to: Vec<String>,
    /// Normalised like `message_id`, in header order (oldest first); at most the first one
    /// and the last 99 of a longer list.
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded (RFC 2047), control characters removed, whitespace collapsed; may be empty.
    pub subject: String,
    pub date: Option<jiff::Timestamp>,
    /// What the player wrote this time: quoted earlier messages and signatures trimmed.
    /// Never empty when `full_text` is not.
    pub text: String,
    /// All the decoded text (HTML turned into text, forwarded messages included), untrimmed.
    pub full_text: String,
    /// The text came, at least in part, from an HTML part.
    pub html: bool,
    pub attachments: Vec<Attachment>,
    pub dropped: Vec<DroppedAttachment>,
    pub automatic: Option<Automatic>,
    /// Complaint references found in the subject, in order, without repeats.
    pub subject_refs: Vec<ComplaintRef>,
    /// The `X-Ombuds-Ref` of one of our own messages found in this one: in its header (then
    /// `automatic` is `Own`) or in a message it returns or quotes (a bounce, an auto-reply).
    pub own_ref: Option<String>,
    /// For a delivery report ([`Automatic::Bounce`]): what it reports.
    pub bounce: Option<Bounce>,
    /// `full_text` was cut at `max_text_chars`.
    pub truncated: bool,
    /// What was guessed, repaired or left out, for the record (English, for operators).
    pub warnings: Vec<String>,
}

impl InboundMail {
    /// Message-IDs to look the thread up by, best first: `In-Reply-To`, then `References`
    /// newest first, without repeats.
    pub fn thread_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if !keys.contains(&id.as_str()) {
                keys.push(id);
            }
        }
        keys
    }

    /// Where an answer goes: a `Reply-To` that can take one (contact forms send
    /// `From: noreply@site` with the player in `Reply-To`), else `From`.
    pub fn reply_address(&self) -> Option<&Mailbox> {
        self.reply_to.as_ref().filter(|r| !is_no_reply_address(&r.address)).or(self.from.as_ref())
    }
}

/// An address nobody reads answers at: `noreply@`, `no-reply@`, `do_not_reply@`,
/// `donotreply@`, `mailer-daemon@`, `bounces@` and the like (separators, case and a `+tag`
/// ignored). Nothing automatic may be sent to one.
pub fn is_no_reply_address(address: &str) -> bool {
    let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
    let local = local.split('+').next().unwrap_or(local).to_ascii_lowercase();
    let squeezed: String = local.chars().filter(|c| !matches!(c, '-' | '_' | '.')).collect();
    ["noreply", "donotreply", "dontreply", "noanswer", "noresponse", "mailerdaemon"].iter().any(|p| squeezed.starts_with(p))
        || matches!(squeezed.as_str(), "bounce" | "bounces")
}

/// A message that cannot become a complaint. Each message fits an SMTP 5xx reply line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("message too large: {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not an e-mail message: no header section")]
    NotAMessage,
    #[error("no usable sender address in From")]
    NoSender,
}

impl Refusal {
    /// The SMTP reply code and enhanced status code (RFC 3463) to refuse with.
    pub fn smtp_code(&self) -> (u16, &'static str) {
        match self {
            Refusal::TooLarge { .. } => (552, "5.3.4"),
            Refusal::NotAMessage => (554, "5.6.0"),
            Refusal::NoSender => (550, "5.1.7"),
        }
    }
}

const MAX_ID_LEN: usize = 998;
const MAX_REFERENCES: usize = 100;
const MAX_RECIPIENTS: usize = 100;
const MAX_SUBJECT_CHARS: usize = 998;
const MAX_NAME_CHARS: usize = 200;
const MAX_FILENAME_CHARS: usize = 150;
const MAX_DROPPED_LISTED: usize = 1000;

/// Parses one raw message. Never panics; see the module documentation.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<InboundMail, Refusal> {
    if raw.len() > limits.max_message_bytes {
        return Err(Refusal::TooLarge {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    let raw = skip_mbox_line(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::NotAMessage);
    }
    let mut warnings = Vec::new();
    let parser = MessageParser::default();
    let message = match catch_unwind(AssertUnwindSafe(|| parser.parse(raw))) {
        Ok(Some(message)) if !has_header_section(&message) => {
            dismantle(message);
            return Err(Refusal::NotAMessage);
        }
        Ok(Some(message)) => Some(message),
        Ok(None) => return Err(Refusal::NotAMessage),
        Err(_) => {
            warn(
                &mut warnings,
                "the MIME parser failed; body salvaged as plain text".to_owned(),
            );
            None
        }
    };
    match message {
        Some(message) => {
            let result = build(raw, &message, limits, warnings);
            dismantle(message);
            result
        }
        None => salvage(raw, limits, warnings),
    }
}

/// At least one header field with a well-formed name (RFC 5322 `ftext`): mail-parser is
/// lenient enough to take a line of prose for a header.
fn has_header_section(message: &Message<'_>) -> bool {
    message.parts.first().is_some_and(|p| {
        p.headers.iter().any(|h| {
            let name = h.name.as_str();
            !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
        })
    })
}

/// Drops a parsed message without recursion. mail-parser nests each `message/rfc822` part
/// inside its parent, and the compiler-made drop recurses once per level: 10,000 nested
/// messages (a 600 KB input) overflowed a 2 MiB thread stack, which aborts the process (a
/// stack overflow is not a panic and cannot be caught). Taking the nested messages out one
/// by one keeps every drop shallow.
fn dismantle(message: Message<'_>) {
    let mut stack = vec![message];
    while let Some(mut message) = stack.pop() {
        for part in message.parts.drain(..) {
            if let PartType::Message(nested) = part.body {
                stack.push(nested);
            }
        }
    }
}

/// Drops a leading mbox `From sender date` line, which some pipelines leave on.
fn skip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        let end = raw
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| p + 1);
        &raw[end..]
    } else {
        raw
    }
}

/// When mail-parser failed: headers alone, and the body as text.
fn salvage(raw: &[u8], limits: &Limits, warnings: Vec<String>) -> Result<InboundMail, Refusal> {
    let parser = MessageParser::default();
    let headers = catch_unwind(AssertUnwindSafe(|| parser.parse_headers(raw)))
        .ok()
        .flatten();
    let Some(headers) = headers else {
        return Err(Refusal::NotAMessage);
    };
    // The body starts after the first empty line (a headers-only parse does not say where).
    let body_start = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 2)
        .into_iter()
        .chain(raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4))
        .min()
        .unwrap_or(raw.len());
    let mut stub = Message {
        parts: headers.parts.clone(),
        raw_message: Cow::Borrowed(raw),
        ..Message::default()
    };
    if let Some(root) = stub.parts.first_mut() {
        // The whole body, read as one text part (its transfer encoding still applies).
        root.offset_body = u32::try_from(body_start).unwrap_or(u32::MAX);
        root.offset_end = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        root.body = PartType::Text(Cow::Borrowed(""));
    }
    build(raw, &stub, limits, warnings)
}

fn build(
    raw: &[u8],
    message: &Message<'_>,
    limits: &Limits,
    mut warnings: Vec<String>,
) -> Result<InboundMail, Refusal> {
    // Header fields: if the header section has raw 8-bit bytes that are not UTF-8 (old
    // clients write windows-1251 or KOI8-R straight into Subject), decode it as a whole with
    // the same guess as bodies and parse the headers again from that.
    let header_end = message
        .parts
        .first()
        .map_or(0, |p| p.offset_body as usize)
        .min(raw.len());
    let header_bytes = &raw[..header_end];
    let redecoded;
    let reparsed;
    let headers: &Message<'_> = if std::str::from_utf8(header_bytes).is_err() {
        let (text, guessed) = charset::decode_guess(header_bytes);
        warn(
            &mut warnings,
            format!(
                "8-bit header bytes decoded as {}",
                guessed.unwrap_or("UTF-8")
            ),
        );
        redecoded = text;
        let parser = MessageParser::default();
        reparsed = catch_unwind(AssertUnwindSafe(|| {
            parser.parse_headers(redecoded.as_bytes())
        }))
        .ok()
        .flatten();
        reparsed.as_ref().unwrap_or(message)
    } else {
        message
    };

    let from = first_mailbox(headers.from())
        .or_else(|| {
            let sender = first_mailbox(headers.sender());
            if sender.is_some() {
                warn(
                    &mut warnings,
                    "no usable From address; Sender used".to_owned(),
                );
            }
            sender
        })
        .ok_or(Refusal::NoSender)?;

    let subject = headers
        .subject()
        .map(|s| clean_line(s, MAX_SUBJECT_CHARS))
        .unwrap_or_default();
    let message_id = headers.message_id().and_then(normalise_id);
    let in_reply_to = ids(headers.in_reply_to());
    let mut references = ids(headers.references());
    if references.len() > MAX_REFERENCES {
        let keep_from = references.len() - (MAX_REFERENCES - 1);
        references.drain(1..keep_from);
        warn(
            &mut warnings,
            "References shortened to its first and last 99 identifiers".to_owned(),
        );
    }
    let date = headers
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| jiff::Timestamp::from_second(d.to_timestamp()).ok());

    let mut walk = Walk::new(limits, &mut warnings);
    walk.message(message, 0);
    let Walk {
        pieces,
        attachments,
        mut dropped,
        dropped_more,
        is_dsn,
        nested_own_ref,
        dsn_fields,
        returned,
        ..
    } = walk;
    if dropped_more > 0 {
        warn(
            &mut warnings,
            format!("{dropped_more} more dropped attachments not listed"),
        );
    }
    dropped.truncate(MAX_DROPPED_LISTED);

    let mut html_used = false;
    let mut full_text = String::new();
    for piece in pieces {
        let text = normalise_text(&strip_cid_placeholders(&piece.text));
        if text.is_empty() {
            continue;
        }
        html_used |= piece.html;
        if !full_text.is_empty() {
            full_text.push_str("\n\n");
        }
        full_text.push_str(&text);
    }
    let truncated = truncate_chars(&mut full_text, limits.max_text_chars);
    if truncated {
        warn(
            &mut warnings,
            format!("text cut at {} characters", limits.max_text_chars),
        );
    }
    let text = quote::visible(&full_text, is_forward_subject(&subject));

    let header_own_ref = raw_header(headers, "X-Ombuds-Ref")
        .map(|v| clean_line(&v, 200))
        .filter(|v| !v.is_empty());
    let automatic = automatic(headers, &from, &subject, is_dsn, header_own_ref.is_some());
    let bounce = (automatic == Some(Automatic::Bounce)).then(|| bounce_report(dsn_fields.as_deref(), returned));

    Ok(InboundMail {
        message_id,
        in_reply_to,
        references,
        reply_to: first_mailbox(headers.reply_to()),
        to: mailboxes(headers.to()),
        cc: mailboxes(headers.cc()),
        from: Some(from),
        subject_refs: subject_refs(&subject),
        subject,
        date,
        text,
        full_text,
        html: html_used,
        attachments,
        dropped,
        automatic,
        own_ref: header_own_ref.or(nested_own_ref),
        bounce,
        truncated,
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Header values

const MAX_WARNINGS: usize = 32;

/// Records a warning once; at most [`MAX_WARNINGS`] distinct ones are kept, so a message of
/// 100,000 odd parts cannot make the list (or the look-ups in it) grow without bound.
pub(crate) fn warn(warnings: &mut Vec<String>, message: String) {
    if warnings.len() < MAX_WARNINGS && !warnings.contains(&message) {
        warnings.push(message);
    }
}

/// Removes control, bidi-override and line-separator characters (so CR/LF can never reach a
/// header built from the value), collapses whitespace, trims, and bounds the length.
pub(crate) fn clean_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut space = false;
    let mut count = 0;
    for c in s.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_invisible_format(c) {
            continue;
        }
        if count >= max_chars {
            break;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Bidi controls, zero-width characters and the like: invisible, and used for spoofing.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}' | '\u{061C}' | '\u{00AD}' | '\u{FFF9}'..='\u{FFFB}')
}

fn normalise_id(id: &str) -> Option<String> {
    let id: String = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && !is_invisible_format(*c))
        .collect();
    (!id.is_empty() && id.len() <= MAX_ID_LEN).then_some(id)
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for id in list.into_iter().filter_map(normalise_id) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn mailbox(name: Option<&str>, address: Option<&str>) -> Option<Mailbox> {
    let address = normalise_address(address?)?;
    let name = name
        .map(|n| clean_line(n.trim_matches('"'), MAX_NAME_CHARS))
        .filter(|n| !n.is_empty() && *n != address);
    Some(Mailbox { name, address })
}

/// A usable `local@domain`, domain lower-cased; `None` for anything else.
fn normalise_address(address: &str) -> Option<String> {
    let address = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (local, domain) = address.rsplit_once('@')?;
    let bad = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || is_invisible_format(c)
            || matches!(
                c,
                '<' | '>' | ',' | ';' | '(' | ')' | '[' | ']' | '\\' | '"' | '@' | ':'
            )
    };
    if local.is_empty() || local.len() > 64 || local.chars().any(bad) {
        return None;
    }
    let domain = domain.trim_end_matches('.');
    if domain.is_empty()
        || domain.len() > 253
        || domain.starts_with(['.', '-'])
        || domain.contains("..")
        || domain
            .chars()
            .any(|c| bad(c) || c == '_' || c == '/' || c == '\'')
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_lowercase()))
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    address?.iter().find_map(|a| mailbox(a.name(), a.address()))
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let mut out: Vec<Mailbox> = Vec::new();
    if let Some(address) = address {
        for mb in address
            .iter()
            .filter_map(|a| mailbox(a.name(), a.address()))
        {
            if out.len() >= MAX_RECIPIENTS {
                break;
            }
            if !out.iter().any(|m| m.address == mb.address) {
                out.push(mb);
            }
        }
    }
    out
}

/// The unfolded raw value of the last header called `name`.
fn raw_header(message: &Message<'_>, name: &str) -> Option<String> {
    let part = message.parts.first()?;
    let header = part
        .headers
        .iter()
        .rev()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    let bytes = message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    Some(
        String::from_utf8_lossy(bytes)
            .replace(['\r', '\n'], " ")
            .trim()
            .to_owned(),
    )
}

fn has_header(message: &Message<'_>, name: &str) -> bool {
    message.parts.first().is_some_and(|p| {
        p.headers
            .iter()
            .any(|h| h.name.as_str().eq_ignore_ascii_case(name))
    })
}

fn automatic(
    headers: &Message<'_>,
    from: &Mailbox,
    subject: &str,
    is_dsn: bool,
    own: bool,
) -> Option<Automatic> {
    if own {
        return Some(Automatic::Own);
    }
    let local = from
        .address
        .rsplit_once('@')
        .map_or("", |(l, _)| l)
        .to_ascii_lowercase();
    if is_dsn || local == "mailer-daemon" || local == "postmaster" {
        return Some(Automatic::Bounce);
    }
    let precedence = raw_header(headers, "Precedence")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let auto_submitted = raw_header(headers, "Auto-Submitted")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty());
    if auto_submitted.is_some_and(|v| v != "no")
        || has_header(headers, "X-Autoreply")
        || has_header(headers, "X-Autorespond")
        || has_header(headers, "X-Autoresponder")
        || precedence == "auto_reply"
        || is_vacation_subject(subject)
    {
        return Some(Automatic::AutoReply);
    }
    if raw_header(headers, "Return-Path").is_some_and(|v| v.replace(' ', "") == "<>") {
        return Some(Automatic::Bounce);
    }
    if matches!(precedence.as_str(), "bulk" | "junk" | "list")
        || has_header(headers, "List-Id")
        || has_header(headers, "List-Unsubscribe")
    {
        return Some(Automatic::Bulk);
    }
    None
}

/// A bounce's report from its `message/delivery-status` fields (RFC 3464) and the returned
/// message's headers.
fn bounce_report(dsn: Option<&str>, returned: Option<(Option<String>, Vec<String>)>) -> Bounce {
    let (original_message_id, original_to) = returned.unwrap_or_default();
    let mut b = Bounce { original_message_id, ..Bounce::default() };
    let mut any_delayed = false;
    if let Some(dsn) = dsn {
        // Per-recipient groups are separated by blank lines; continuation lines are folded.
        let unfolded = dsn.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ");
        for group in unfolded.split("\n\n") {
            let field = |name: &str| {
                group.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim().eq_ignore_ascii_case(name).then(|| clean_line(v, 500))
                })
            };
            let Some(recipient) = field("Final-Recipient").or_else(|| field("Original-Recipient")) else { continue };
            // `rfc822; user@host`
            let address = recipient.rsplit_once(';').map_or(recipient.as_str(), |(_, a)| a).trim();
            let Some(address) = normalise_address(address) else { continue };
            let action = field("Action").unwrap_or_default().to_ascii_lowercase();
            let status = field("Status").unwrap_or_default();
            if action == "failed" || (action.is_empty() && status.starts_with('5')) {
                if b.diagnostic.is_none() {
                    let code = field("Diagnostic-Code").map(|d| d.split_once(';').map_or(d.clone(), |(_, t)| t.trim().to_owned()));
                    b.diagnostic = Some(match code {
                        Some(code) if !status.is_empty() => format!("{status}: {code}"),
                        Some(code) => code,
                        None => status.clone(),
                    })
                    .filter(|d| !d.is_empty());
                }
                let address = address.to_lowercase();
                if !b.failed.contains(&address) {
                    b.failed.push(address);
                }
            } else if action == "delayed" {
                any_delayed = true;
            }
        }
    }
    if dsn.is_none() && b.failed.is_empty() {
        // A report without machine-readable fields (some NDRs): the returned message's
        // recipients are the ones it reports.
        b.failed = original_to;
    }
    b.delayed_only = any_delayed && b.failed.is_empty();
    b
}

fn is_vacation_subject(subject: &str) -> bool {
    let s = subject.to_lowercase();
    const PREFIXES: &[&str] = &[
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "out of office",
        "out of the office",
        "ooo:",
        "автоматический ответ",
        "автоответ",
        "авто-ответ",
        "автоматичний відповідь",
        "нет на месте",
        "вне офиса",
        "я в отпуске",
        "в отпуске",
        "автоматты жауап",
        "автожауап",
        "кеңседен тыс",
        "мен демалыстамын",
    ];
    PREFIXES.iter().any(|p| s.starts_with(p))
}

fn is_forward_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    [
        "fwd:",
        "fw:",
        "fwd ",
        "пересл.:",
        "пересл:",
        "переслано:",
        "тр:",
        "wg:",
        "enc:",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// Complaint references in a subject: the content of `[…]`/`(…)` and `#`-prefixed tokens are
/// tried as they are; other tokens only when they look like a reference (two digits or more,
/// or the dashed XXX-XXX-XXX form), since a nine-letter word passes the check symbol one time
/// in 32.
fn subject_refs(subject: &str) -> Vec<ComplaintRef> {
    let mut found: Vec<ComplaintRef> = Vec::new();
    let mut push = |r: ComplaintRef| {
        if !found.contains(&r) {
            found.push(r);
        }
    };
    // Bracketed content.
    let mut rest = subject;
    while let Some(open) = rest.find(['[', '(']) {
        let close_char = if rest[open..].starts_with('[') {
            ']'
        } else {
            ')'
        };
        let inner_start = open + 1;
        match rest[inner_start..].find(close_char) {
            Some(len) if len <= 40 => {
                let inner = &rest[inner_start..inner_start + len];
                if let Ok(r) = ComplaintRef::parse(inner.trim()) {
                    push(r);
                } else {
                    for token in inner.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
                        if let Ok(r) = ComplaintRef::parse(token) {
                            push(r);
                        }
                    }
                }
                rest = &rest[inner_start + len + 1..];
            }
            _ => rest = &rest[inner_start..],
        }
    }
    // Bare tokens.
    for token in subject.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '[' | ']' | '(' | ')' | ',' | ';' | ':' | '"' | '«' | '»' | '!' | '?'
            )
    }) {
        let token = token.trim_matches(|c: char| c == '.' || c == '-');
        let hashed = token.starts_with('#') || token.starts_with('№');
        let token = token.trim_start_matches(['#', '№']);
        if token.is_empty() || token.chars().count() > 20 {
            continue;
        }
        let digits = token.chars().filter(char::is_ascii_digit).count();
        let dashed = {
            let groups: Vec<&str> = token.split('-').collect();
            groups.len() == 3 && groups.iter().all(|g| g.chars().count() == 3)
        };
        if (hashed || digits >= 2 || dashed)
            && let Ok(r) = ComplaintRef::parse(token)
        {
            push(r);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Bodies

struct Piece {
    text: String,
    html: bool,
}

struct Walk<'a> {
    limits: &'a Limits,
    warnings: &'a mut Vec<String>,
    pieces: Vec<Piece>,
    /// Bytes of text gathered so far (the budget is about four bytes per allowed character).
    text_bytes: usize,
    attachments: Vec<Attachment>,
    attachment_bytes: usize,
    dropped: Vec<DroppedAttachment>,
    dropped_more: usize,
    seen_attachments: usize,
    depth_warned: bool,
    is_dsn: bool,
    nested_own_ref: Option<String>,
    /// The text of the first `message/delivery-status` part.
    dsn_fields: Option<String>,
    /// The headers of the first returned message (`text/rfc822-headers` or `message/rfc822`):
    /// its Message-ID and To.
    returned: Option<(Option<String>, Vec<String>)>,
}

impl<'a> Walk<'a> {
    fn new(limits: &'a Limits, warnings: &'a mut Vec<String>) -> Self {
        Walk {
            limits,
            warnings,
            pieces: Vec::new(),
            text_bytes: 0,
            attachments: Vec::new(),
            attachment_bytes: 0,
            dropped: Vec::new(),
            dropped_more: 0,
            seen_attachments: 0,
            depth_warned: false,
            is_dsn: false,
            nested_own_ref: None,
            dsn_fields: None,
            returned: None,
        }
    }

    fn text_budget(&self) -> usize {
        self.limits
            .max_text_chars
            .saturating_mul(4)
            .saturating_add(64)
            .saturating_sub(self.text_bytes)
    }

    fn warn_once(&mut self, message: String) {
        warn(self.warnings, message);
    }

    fn message(&mut self, message: &Message<'_>, depth: usize) {
        if !message.parts.is_empty() {
            self.part(message, 0, depth);
        }
    }

    fn too_deep(&mut self, depth: usize) -> bool {
        if depth > self.limits.max_depth {
            if !self.depth_warned {
                self.depth_warned = true;
                let max = self.limits.max_depth;
                warn(
                    self.warnings,
                    format!("MIME nesting deeper than {max} levels left unread"),
                );
            }
            return true;
        }
        false
    }

    fn part(&mut self, message: &Message<'_>, id: usize, depth: usize) {
        if self.too_deep(depth) {
            return;
        }
        let Some(part) = message.parts.get(id) else {
            return;
        };
        let (ctype, subtype) = content_type(part);
        match &part.body {
            PartType::Multipart(children) => {
                // Children always follow their parent; anything else would be a cycle.
                let children: Vec<usize> = children
                    .iter()
                    .map(|c| *c as usize)
                    .filter(|c| *c > id)
                    .collect();
                if subtype == "report" {
                    let report_type = part
                        .content_type()
                        .and_then(|ct| ct.attribute("report-type"))
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if report_type.contains("delivery-status") {
                        self.is_dsn = true;
                    }
                }
                if subtype == "alternative" {
                    self.alternative(message, &children, depth + 1);
                } else {
                    for child in children {
                        self.part(message, child, depth + 1);
                    }
                }
            }
            PartType::Text(_) | PartType::Html(_) => {
                let is_html = matches!(part.body, PartType::Html(_));
                let body_type = ctype.is_empty()
                    || ctype == "multipart"
                    || (ctype == "text" && matches!(subtype.as_str(), "plain" | "html" | ""))
                    || part.is_encoding_problem;
                let named =
                    part.attachment_name().is_some() && id != 0 && !is_inline_disposition(part);
                if body_type && !named && !is_attachment_disposition(part) {
                    if ctype == "multipart" {
                        self.warn_once("a multipart part without boundary read as text".to_owned());
                    }
                    self.body_text(message, id, is_html);
                } else {
                    if ctype == "text" && subtype == "rfc822-headers" {
                        let bytes = part_bytes(message, id, self.warnings);
                        self.scan_own_ref(&bytes);
                        self.scan_returned_headers(&bytes);
                    }
                    if ctype == "message" && subtype.ends_with("delivery-status") {
                        self.is_dsn = true;
                        let bytes = part_bytes(message, id, self.warnings);
                        self.keep_dsn_fields(&bytes);
                    }
                    self.attachment(message, id, None);
                }
            }
            PartType::Binary(_) if ctype == "multipart" => {
                self.warn_once("a multipart part without boundary read as text".to_owned());
                self.body_text(message, id, false);
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => {
                if ctype == "message" && subtype.ends_with("delivery-status") {
                    self.is_dsn = true;
                    self.keep_dsn_fields(data);
                }
                if ctype == "message" || (ctype == "text" && subtype == "rfc822-headers") {
                    self.scan_own_ref(data);
                }
                if (ctype == "text" && subtype == "rfc822-headers") || (ctype == "message" && subtype.ends_with("headers")) {
                    self.scan_returned_headers(data);
                }
                self.attachment(message, id, Some(data));
            }
            PartType::Message(nested) => {
                if self.too_deep(depth + 1) {
                    return;
                }
                if let Some(own) = raw_header(nested, "X-Ombuds-Ref").map(|v| clean_line(&v, 200)) {
                    self.nested_own_ref.get_or_insert(own);
                }
                if self.returned.is_none() {
                    let to = mailboxes(nested.to()).into_iter().map(|m| m.address.to_lowercase()).collect();
                    self.returned = Some((nested.message_id().and_then(normalise_id), to));
                }
                self.forwarded_header(nested);
                self.message(nested, depth + 1);
            }
        }
    }

    fn scan_own_ref(&mut self, bytes: &[u8]) {
        if self.nested_own_ref.is_some() {
            return;
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(':')
                && name.trim().eq_ignore_ascii_case("X-Ombuds-Ref")
            {
                let value = clean_line(value, 200);
                if !value.is_empty() {
                    self.nested_own_ref = Some(value);
                    return;
                }
            }
        }
    }

    fn keep_dsn_fields(&mut self, bytes: &[u8]) {
        if self.dsn_fields.is_none() {
            self.dsn_fields = Some(String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).into_owned());
        }
    }

    /// The Message-ID and To of a returned message's header section.
    fn scan_returned_headers(&mut self, bytes: &[u8]) {
        if self.returned.is_some() {
            return;
        }
        let bytes = &bytes[..bytes.len().min(64 * 1024)];
        let parsed = catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse_headers(bytes))).ok().flatten();
        if let Some(h) = parsed {
            let to = mailboxes(h.to()).into_iter().map(|m| m.address.to_lowercase()).collect();
            self.returned = Some((h.message_id().and_then(normalise_id), to));
        }
    }

    /// `multipart/alternative`: text from the best alternative, attachments from all.
    fn alternative(&mut self, message: &Message<'_>, children: &[usize], depth: usize) {
        let mut candidates: Vec<Vec<Piece>> = Vec::new();
        for &child in children {
            let start = self.pieces.len();
            let bytes_before = self.text_bytes;
            self.part(message, child, depth);
            candidates.push(self.pieces.split_off(start));
            self.text_bytes = bytes_before;
        }
        let letters = |pieces: &[Piece]| -> usize {
            pieces
                .iter()
                .map(|p| p.text.chars().filter(|c| c.is_alphanumeric()).count())
                .sum()
        };
        let plain = candidates
            .iter()
            .rposition(|c| !c.is_empty() && c.iter().all(|p| !p.html));
        let html = candidates.iter().rposition(|c| c.iter().any(|p| p.html));
        let chosen = match (plain, html) {
            (Some(p), Some(h)) => {
                let plain_letters = letters(&candidates[p]);
                let html_letters = letters(&candidates[h]);
                let placeholder = candidates[p]
                    .iter()
                    .all(|piece| is_placeholder(&piece.text));
                if plain_letters == 0 || placeholder || plain_letters * 2 < html_letters {
                    h
                } else {
                    p
                }
            }
            (Some(p), None) => p,
            (None, Some(h)) => h,
            (None, None) => match candidates.iter().rposition(|c| !c.is_empty()) {
                Some(any) => any,
                None => return,
            },
        };
        let pieces = std::mem::take(&mut candidates[chosen]);
        self.text_bytes += pieces.iter().map(|p| p.text.len()).sum::<usize>();
        self.pieces.extend(pieces);
    }

    fn body_text(&mut self, message: &Message<'_>, id: usize, is_html: bool) {
        let budget = self.text_budget();
        if budget == 0 {
            return;
        }
        let Some(part) = message.parts.get(id) else {
            return;
        };
        let bytes = part_bytes(message, id, self.warnings);
        let declared = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(str::to_owned);
        let declared = declared.or_else(|| if is_html { meta_charset(&bytes) } else { None });
        // Never decode much more than the budget allows: `budget` bytes hold at least
        // max_text_chars characters of plain text; HTML gets eight times more for its markup.
        let keep = if is_html {
            budget.saturating_mul(8)
        } else {
            budget
        };
        let bytes = &bytes[..char_boundary(&bytes, keep)];
        let decoded = charset::decode(bytes, declared.as_deref(), self.warnings);
        let text = if is_html {
            html::to_text(&decoded, budget)
        } else {
            let flowed = part.content_type().is_some_and(|ct| {
                ct.attribute("format")
                    .is_some_and(|f| f.eq_ignore_ascii_case("flowed"))
            });
            if flowed {
                let delsp = part
                    .content_type()
                    .and_then(|ct| ct.attribute("delsp"))
                    .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
                unflow(&decoded, delsp)
            } else {
                decoded
            }
        };
        self.text_bytes += text.len();
        self.pieces.push(Piece {
            text,
            html: is_html,
        });
    }

    fn forwarded_header(&mut self, nested: &Message<'_>) {
        let mut header = String::from("---------- Forwarded message ----------\n");
        let from = first_mailbox(nested.from());
        if let Some(from) = from {
            header.push_str(&format!("From: {from}\n"));
        }
        if let Some(date) = raw_header(nested, "Date") {
            header.push_str(&format!("Date: {}\n", clean_line(&date, 100)));
        }
        if let Some(subject) = nested.subject() {
            header.push_str(&format!(
                "Subject: {}\n",
                clean_line(subject, MAX_SUBJECT_CHARS)
            ));
        }
        let to = mailboxes(nested.to());
        if !to.is_empty() {
            let list: Vec<String> = to.iter().take(10).map(Mailbox::to_string).collect();
            header.push_str(&format!("To: {}\n", list.join(", ")));
        }
        self.text_bytes += header.len();
        self.pieces.push(Piece {
            text: header,
            html: false,
        });
    }

    fn attachment(&mut self, message: &Message<'_>, id: usize, data: Option<&Cow<'_, [u8]>>) {
        let Some(part) = message.parts.get(id) else {
            return;
        };
        self.seen_attachments += 1;
        let n = self.seen_attachments;
        let (ctype, subtype) = content_type(part);
        let content_type = if ctype.is_empty() {
            "application/octet-stream".to_owned()
        } else if subtype.is_empty() {
            clean_line(&ctype, 100)
        } else {
            clean_line(&format!("{ctype}/{subtype}"), 100)
        };
        let filename = sanitise_filename(part.attachment_name(), n, &content_type);
        let data: Cow<'_, [u8]> = match data {
            Some(d) => Cow::Borrowed(d.as_ref()),
            None => Cow::Owned(part_bytes(message, id, self.warnings)),
        };
        let size = data.len();
        let reason = if self.attachments.len() >= self.limits.max_attachments {
            Some(DropReason::TooMany)
        } else if size > self.limits.max_attachment_bytes {
            Some(DropReason::TooLarge)
        } else if self.attachment_bytes.saturating_add(size)
            > self.limits.max_total_attachment_bytes
        {
            Some(DropReason::TotalTooLarge)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                if self.dropped.len() < MAX_DROPPED_LISTED {
                    self.dropped.push(DroppedAttachment {
                        filename,
                        size,
                        reason,
                    });
                } else {
                    self.dropped_more += 1;
                }
            }
            None => {
                self.attachment_bytes += size;
                let inline =
                    matches!(part.body, PartType::InlineBinary(_)) || is_inline_disposition(part);
                self.attachments.push(Attachment {
                    filename,
                    content_type,
                    data: data.into_owned(),
                    inline,
                });
            }
        }
        if part.is_encoding_problem {
            self.warn_once("a part could not be decoded as declared and was kept raw".to_owned());
        }
    }
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (
            ct.ctype().trim().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").trim().to_ascii_lowercase(),
        ),
        None => (String::new(), String::new()),
    }
}

fn is_attachment_disposition(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

fn is_inline_disposition(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"))
}

/// The transfer-decoded bytes of a leaf part, read again from the raw message so that the
/// charset can be decided here.
fn part_bytes(message: &Message<'_>, id: usize, warnings: &mut Vec<String>) -> Vec<u8> {
    let Some(part) = message.parts.get(id) else {
        return Vec::new();
    };
    let raw = message.raw_message.as_ref();
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    if body.is_empty() {
        // mail-parser kept the content but not where it was (a salvaged part).
        return match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.as_bytes().to_vec(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
            _ => Vec::new(),
        };
    }
    let encoding = part
        .headers
        .iter()
        .rev()
        .find(|h| {
            h.name
                .as_str()
                .eq_ignore_ascii_case("Content-Transfer-Encoding")
        })
        .and_then(|h| h.value.as_text())
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "base64" => {
            let (bytes, junk) = transfer::base64(body);
            if junk {
                warn(warnings, "invalid base64 characters skipped".to_owned());
            }
            bytes
        }
        "quoted-printable" => transfer::quoted_printable(body),
        _ => body.to_vec(),
    }
}

/// The largest cut at or below `max` that does not split a UTF-8 sequence.
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut cut = max;
    while cut > 0 && max - cut < 3 && (0x80..0xC0).contains(&bytes[cut]) {
        cut -= 1;
    }
    cut
}

/// `<meta charset=…>` or `<meta http-equiv=Content-Type content="…; charset=…">` in the
/// first 2 KB of an HTML body that has no MIME charset.
fn meta_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\'', ' '])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Joins the soft line breaks of `format=flowed` text (RFC 3676).
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut joining = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let depth = line.chars().take_while(|c| *c == '>').count();
        let mut content = &line[depth..];
        if let Some(stuffed) = content.strip_prefix(' ') {
            content = stuffed;
        }
        if !joining {
            out.push_str(&">".repeat(depth));
            if depth > 0 {
                out.push(' ');
            }
        }
        let soft = content.ends_with(' ') && content != "-- ";
        if soft {
            let kept = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            out.push_str(kept);
            joining = true;
        } else {
            out.push_str(content);
            out.push('\n');
            joining = false;
        }
    }
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

fn is_placeholder(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    t.chars().count() < 200
        && [
            "html",
            "your email client does not support",
            "this message contains",
            "view this email in your browser",
            "включите html",
            "не поддерживает html",
            "ваш почтовый клиент не поддерживает",
            "для просмотра письма",
        ]
        .iter()
        .any(|p| t.contains(p))
}

/// Removes the `[cid:image001.png@01DA2B3C.4D5E6F70]` placeholders Outlook writes into the
/// text version where an inline image was (the image itself is kept as an attachment).
fn strip_cid_placeholders(text: &str) -> Cow<'_, str> {
    if !text.contains("[cid:") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("[cid:") {
        let after = &rest[at..];
        match after.find(']') {
            Some(end) if end <= 400 && !after[1..end].contains(['\n', '\r', '[']) => {
                out.push_str(&rest[..at]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..at + 5]);
                rest = &after[5..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Normalises line ends, removes control characters other than tab and newline, trims line
/// ends (but keeps the "-- " signature separator), collapses runs of blank lines.
fn normalise_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    let text = text.replace("\r\n", "\n");
    for line in text.split(['\n', '\r']) {
        let cleaned: String = line
            .chars()
            .map(|c| if c == '\u{A0}' { ' ' } else { c })
            .filter(|c| *c == '\t' || !c.is_control())
            .collect();
        let trimmed = if cleaned == "-- " {
            cleaned.as_str()
        } else {
            cleaned.trim_end()
        };
        if trimmed.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(trimmed);
        out.push('\n');
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Cuts `text` to `max` characters (at a line or word end when one is near), adding the
/// marker. Returns whether it cut.
fn truncate_chars(text: &mut String, max: usize) -> bool {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return false;
    };
    let window_start = text[..cut]
        .char_indices()
        .rev()
        .nth(200)
        .map_or(0, |(i, _)| i);
    let nice = text[window_start..cut]
        .rfind(['\n', ' '])
        .map(|p| window_start + p);
    text.truncate(nice.filter(|p| *p > 0).unwrap_or(cut));
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    text.push_str(TRUNCATION_MARKER);
    true
}

/// A safe file name; see [`Attachment::filename`].
fn sanitise_filename(name: Option<&str>, n: usize, content_type: &str) -> String {
    let name = name.unwrap_or("");
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = clean_line(&cleaned, usize::MAX);
    let cleaned = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if cleaned.is_empty() {
        let ext = extension_for(content_type);
        return if ext.is_empty() {
            format!("attachment-{n}")
        } else {
            format!("attachment-{n}.{ext}")
        };
    }
    if cleaned.chars().count() <= MAX_FILENAME_CHARS {
        return cleaned.to_owned();
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && e.chars().count() <= 10 => (s, Some(e)),
        _ => (cleaned, None),
    };
    let room = MAX_FILENAME_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(room).collect();
    match ext {
        Some(ext) => format!("{}.{ext}", stem.trim_end()),
        None => stem.trim_end().to_owned(),
    }
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/html" => "html",
        "text/calendar" => "ics",
        "message/rfc822" => "eml",
        "application/zip" => "zip",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "video/mp4" => "mp4",
        "audio/mpeg" => "mp3",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitised() {
        assert_eq!(sanitise_filename(Some("../../etc/passwd"), 1, ""), "passwd");
        assert_eq!(
            sanitise_filename(Some("C:\\Users\\a\\скрин.png"), 1, ""),
            "скрин.png"
        );
        assert_eq!(
            sanitise_filename(Some("a\r\nb\u{202E}gpj.exe"), 1, ""),
            "abgpj.exe"
        );
        assert_eq!(
            sanitise_filename(Some(".."), 3, "image/png"),
            "attachment-3.png"
        );
        assert_eq!(
            sanitise_filename(None, 2, "application/x-thing"),
            "attachment-2"
        );
        let long = format!("{}.pdf", "я".repeat(400));
        let s = sanitise_filename(Some(&long), 1, "");
        assert_eq!(s.chars().count(), MAX_FILENAME_CHARS);
        assert!(s.ends_with(".pdf"));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            normalise_address("Aidar.N@Mail.RU").as_deref(),
            Some("Aidar.N@mail.ru")
        );
        assert_eq!(normalise_address("<x@y.kz>").as_deref(), Some("x@y.kz"));
        for bad in [
            "",
            "x",
            "@y.kz",
            "x@",
            "a b@c.kz",
            "x@y\r\nBcc: z@w",
            "x@.kz",
            "x@y..kz",
        ] {
            assert_eq!(normalise_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refs_in_subjects() {
        let r = ComplaintRef::from_bits(0x12_3456_789A);
        let shown = r.to_string();
        for subject in [
            format!("Re: [{shown}] Вывод средств"),
            format!("Re: [#{}] x", r.compact()),
            format!("RE: обращение {shown}"),
            format!("Fwd: №{}", r.compact()),
        ] {
            assert_eq!(subject_refs(&subject), vec![r], "{subject}");
        }
        assert!(subject_refs("Re: complaint about withdrawal").is_empty());
    }

    #[test]
    fn flowed_text_is_joined() {
        assert_eq!(
            unflow("Hello \nworld\n> quoted \n> more\n-- \nsig", true),
            "Helloworld\n> quotedmore\n-- \nsig"
        );
        assert_eq!(unflow("Hello \nworld", false), "Hello world");
    }

    #[test]
    fn truncation_marks() {
        let mut s = "word ".repeat(100);
        assert!(truncate_chars(&mut s, 52));
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert!(s.chars().count() <= 52 + TRUNCATION_MARKER.chars().count());
        let mut short = "short".to_owned();
        assert!(!truncate_chars(&mut short, 10));
    }

    #[test]
    fn cid_placeholders_are_removed() {
        assert_eq!(
            strip_cid_placeholders("Вот скрин:\n[cid:image001.png@01DA2B3C.4D5E6F70]\nи ещё [cid:image002.jpg@01DA2B3C.4D5E6F70] тут"),
            "Вот скрин:\n\nи ещё  тут"
        );
        assert_eq!(strip_cid_placeholders("[cid:unterminated\nline]"), "[cid:unterminated\nline]");
        assert_eq!(strip_cid_placeholders("plain [text]"), "plain [text]");
    }

    #[test]
    fn no_reply_addresses() {
        for a in ["noreply@site.kz", "no-reply@x.com", "No_Reply+abc@x.com", "donotreply@x", "do-not-reply@x", "MAILER-DAEMON@mx.x", "noreply123@x", "bounces@x"] {
            assert!(is_no_reply_address(a), "{a}");
        }
        for a in ["player@mail.kz", "nora.reply@x.com", "postmaster@x.com", "replyto@x"] {
            assert!(!is_no_reply_address(a), "{a}");
        }
    }

    #[test]
    fn clean_line_strips_injection() {
        assert_eq!(
            clean_line("a\r\nBcc: x@y\u{0}\u{202E}z", 100),
            "a Bcc: x@yz"
        );
    }
}
