//! E-mail intake: raw messages from the SMTP listener or the IMAP poller become desk calls.
//!
//! One path for both sources: parse (never fails on junk; refuses only what cannot be a
//! player's message), drop machine mail (auto-replies, bounces, lists, our own notices), thread
//! (`In-Reply-To`/`References` against the Message-IDs the desk knows, then a complaint reference
//! in the subject), and hand the desk an `Inbound` with the original bytes and attachments.

use crate::auth::{SenderAuth, SenderVerifier, SmtpIdentity};
use crate::smtp_in::{Envelope, Reply, SmtpHandler};
use futures_util::future::BoxFuture;
use ombuds_core::*;
use ombuds_desk::{Desk, DeskError, Inbound, NewAttachment, NewMail, Received};
use ombuds_mail::inbound::{self, Automatic, InboundMail, Limits, Refusal};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Addresses the desk receives mail for (lower case). An entry `@domain` takes the domain.
    pub addresses: Vec<String>,
    pub limits: Limits,
    /// Messages one sender may send in a burst, and refilled per hour.
    pub sender_burst: u32,
    pub sender_per_hour: u32,
    /// SPF/DKIM/DMARC checks of each message before it is stored; `None`: mail is taken
    /// unchecked (`[email] verify_senders = false`).
    pub verifier: Option<Arc<SenderVerifier>>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig { addresses: vec![], limits: Limits::default(), sender_burst: 20, sender_per_hour: 60, verifier: None }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    Registered(ComplaintRef),
    Replied(ComplaintRef),
    /// Delivered before (same Message-ID): nothing new stored.
    Duplicate,
    /// Machine mail: acknowledged to the sender, stored nowhere, answered never.
    Ignored(&'static str),
    /// A delivery report about one of our mails: recorded on this complaint as
    /// `delivery_failed`, the address marked as bouncing; never answered.
    Bounced(ComplaintRef),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The message cannot be taken, now or later (SMTP 5xx).
    #[error("{0}")]
    Refused(String, u16, &'static str),
    /// Try again later (SMTP 4xx): a rate limit, the store being unavailable.
    #[error("{0}")]
    Temporary(String),
}

impl IngestError {
    pub fn reply(&self) -> Reply {
        match self {
            IngestError::Refused(text, code, enhanced) => Reply::new(*code, enhanced, text.clone()),
            IngestError::Temporary(text) => Reply::new(451, "4.3.0", text.clone()),
        }
    }
}

/// A token bucket per sender address, on this node.
struct RateLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn allow(&self, who: &str) -> bool {
        if self.per_sec <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().expect("rate limiter lock");
        if map.len() > 100_000 {
            // Forget senders whose bucket has refilled: they are as good as new.
            let full = Duration::from_secs_f64(self.burst / self.per_sec);
            map.retain(|_, (_, t)| now.duration_since(*t) < full);
        }
        let (tokens, last) = map.entry(who.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The e-mail intake of one node. Cheap to share (`Arc`).
pub struct EmailIntake {
    desk: Desk,
    config: IntakeConfig,
    limiter: RateLimiter,
}

/// Messages bigger than this are parsed off the async threads.
const BLOCKING_PARSE_BYTES: usize = 256 * 1024;

impl EmailIntake {
    pub fn new(desk: Desk, config: IntakeConfig) -> Arc<EmailIntake> {
        let limiter = RateLimiter {
            burst: f64::from(config.sender_burst.max(1)),
            per_sec: f64::from(config.sender_per_hour) / 3600.0,
            buckets: Mutex::new(HashMap::new()),
        };
        Arc::new(EmailIntake { desk, config, limiter })
    }

    pub fn accepts(&self, rcpt: &str) -> bool {
        let rcpt = rcpt.to_ascii_lowercase();
        self.config.addresses.iter().any(|a| if a.starts_with('@') { rcpt.ends_with(a.as_str()) } else { *a == rcpt })
    }

    /// `postmaster` (alone or at one of our domains), which RFC 5321 §4.5.1 says must always
    /// be accepted. Its mail goes through the same intake as any other: machine mail (bounces,
    /// reports) is handled as such, and a person who writes to it reaches the desk.
    pub fn is_postmaster(&self, rcpt: &str) -> bool {
        let rcpt = rcpt.to_ascii_lowercase();
        match rcpt.rsplit_once('@') {
            None => rcpt == "postmaster",
            Some((local, domain)) => local == "postmaster" && self.config.addresses.iter().any(|a| a.rsplit_once('@').is_some_and(|(_, d)| d == domain)),
        }
    }

    /// Takes one raw message. `envelope` is set when it came over SMTP (its sender was rate
    /// limited at `MAIL FROM`); the IMAP poller passes `None`.
    pub async fn ingest(&self, raw: Vec<u8>, envelope: Option<&Envelope>) -> Result<Ingested, IngestError> {
        let limits = self.config.limits.clone();
        let (raw, parsed) = if raw.len() > BLOCKING_PARSE_BYTES {
            tokio::task::spawn_blocking(move || {
                let p = inbound::parse(&raw, &limits);
                (raw, p)
            })
            .await
            .map_err(|e| IngestError::Temporary(format!("parser task failed: {e}")))?
        } else {
            let p = inbound::parse(&raw, &limits);
            (raw, p)
        };
        let mail = parsed.map_err(|r| refusal(&r))?;
        // Who sent it, checked before anything is stored (and never inside the store's commit).
        let auth = match &self.config.verifier {
            Some(v) => Some(v.check(&raw, envelope.map(|e| SmtpIdentity { ip: e.peer.ip(), helo: &e.helo, mail_from: &e.mail_from })).await),
            None => None,
        };
        if let Some(a) = &auth
            && a.rejected()
            && envelope.is_some()
        {
            // As large receivers do: the domain asks for forgeries to be refused, and over
            // SMTP the sending server tells its user. (IMAP mail is already delivered: it is
            // taken, flagged and never threaded, like other failures.)
            metrics::counter!("ombuds_mail_refused_total", "why" => "dmarc_reject").increment(1);
            return Err(IngestError::Refused(
                format!("the message fails DMARC for {} and the domain's policy is reject", a.domain),
                550,
                "5.7.1",
            ));
        }
        if let Some(reference) = self.bounce(&mail).await? {
            metrics::counter!("ombuds_mail_bounces_total").increment(1);
            return Ok(Ingested::Bounced(reference));
        }
        if let Some(kind) = machine_mail(&mail, envelope) {
            metrics::counter!("ombuds_mail_ignored_total", "why" => kind).increment(1);
            tracing::info!(message_id = ?mail.message_id, why = kind, "machine mail ignored");
            return Ok(Ingested::Ignored(kind));
        }
        let from = mail.from.as_ref().ok_or_else(|| refusal(&Refusal::NoSender))?;
        if self.accepts(&from.address) {
            return Ok(Ingested::Ignored("from_our_own_address"));
        }
        // The player is who answers go to: a usable Reply-To (a contact form's mail comes
        // From: noreply@site, Reply-To: the player), else From. A no-reply address stays the
        // player's address, but the sender never mails it (the complaint shows why).
        let player = mail
            .reply_to
            .as_ref()
            .filter(|r| !inbound::is_no_reply_address(&r.address) && !self.accepts(&r.address) && EmailAddress::parse(&r.address).is_ok())
            .unwrap_or(from);
        let email = EmailAddress::parse(&player.address)
            .map_err(|_| IngestError::Refused(format!("the sender address '{}' is not usable", player.address), 550, "5.1.7"))?;
        if envelope.is_none() && !self.limiter.allow(email.as_str()) {
            return Err(IngestError::Temporary(format!("too many messages from {email}; try again later")));
        }
        let inbound = self.to_inbound(&mail, player, email.clone(), raw, envelope, auth).await?;
        let received = self.desk.receive(inbound).await.map_err(desk_error)?;
        // The address wrote to us: whatever bounced before, it works now.
        if let Err(e) = self.desk.clear_bouncing(email.as_str()).await {
            tracing::warn!(error = %e, "clearing a bouncing mark failed");
        }
        Ok(match received {
            Received::Registered(c) => Ingested::Registered(c.reference),
            Received::Replied(c) => Ingested::Replied(c.reference),
            Received::Duplicate { .. } => Ingested::Duplicate,
        })
    }

    async fn to_inbound(
        &self,
        mail: &InboundMail,
        player: &inbound::Mailbox,
        email: EmailAddress,
        raw: Vec<u8>,
        envelope: Option<&Envelope>,
        auth: Option<SenderAuth>,
    ) -> Result<Inbound, IngestError> {
        let name = player.name.as_deref().and_then(PersonName::lossy);
        let (text, full_text) = visible_text(mail);
        let text = text.unwrap_or_else(|| {
            let note = if mail.attachments.is_empty() {
                "(the e-mail had no text)".to_string()
            } else {
                format!("(the e-mail had no text, only {} attachment(s))", mail.attachments.len())
            };
            Body::parse(&note).expect("static text")
        });
        let subject = Subject::lossy(&mail.subject)
            .or_else(|| Subject::lossy(text.as_str().lines().find(|l| !l.trim().is_empty()).unwrap_or("")))
            .unwrap_or_else(|| Subject::parse("(no subject)").expect("static text"));
        let language = Language::guess(&format!("{} {}", subject.as_str(), text.as_str()));

        // A reply whose From fails DMARC may be a forgery in the player's name: it opens a
        // complaint of its own instead of joining theirs (the agent sees the warning there, and
        // can merge the two). One that could not be checked (DNS failing, or resting) joins only
        // by the Message-IDs of the thread, which only the mail's recipients know, never by a
        // reference in the subject, which anyone may type: DNS trouble neither breaks players'
        // threads nor lets a forger in by failing it on purpose.
        let thread = match &auth {
            Some(a) if !a.may_thread() => {
                tracing::info!(message_id = ?mail.message_id, domain = %a.domain, dmarc = a.dmarc.as_str(), "sender failed DMARC: not threaded into an existing complaint");
                None
            }
            Some(a) if !a.may_thread_by_reference() => self.thread(mail, false).await?,
            _ => self.thread(mail, true).await?,
        };
        let digest = Sha256::digest(&raw);
        // Mail without a Message-ID is keyed by its bytes: a redelivered copy is the same.
        let header_id = mail.message_id.clone().unwrap_or_else(|| format!("{}@no-message-id.invalid", hex::encode(&digest[..16])));
        let recipient = envelope
            .and_then(|e| e.rcpt_to.iter().find(|r| self.accepts(r)).or_else(|| e.rcpt_to.iter().find(|r| self.is_postmaster(r))).cloned())
            .or_else(|| mail.to.iter().chain(&mail.cc).map(|m| m.address.clone()).find(|a| self.accepts(a)))
            .unwrap_or_default();
        let size = raw.len() as i64;
        // The stored copy is the message itself with our trace header in front: made in place,
        // so a large message is not held twice (the listener leaves room for the header).
        let mut stored = raw;
        if let Some(e) = envelope {
            // The trace header RFC 5321 §4.4 asks of the server that delivers the message.
            let received = format!(
                "Received: from {} ([{}]) by ombuds with {}; {}\r\n",
                token(&e.helo),
                e.peer.ip(),
                if e.tls { "ESMTPS" } else { "ESMTP" },
                jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000")
            );
            stored.reserve_exact(received.len());
            stored.splice(0..0, received.into_bytes());
        }
        let mut attachments: Vec<NewAttachment> = mail
            .attachments
            .iter()
            .map(|a| NewAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                sha256: Sha256::digest(&a.data).to_vec(),
                data: a.data.clone(),
            })
            .collect();
        if let Some(full) = full_text {
            let data = full.into_bytes();
            attachments.push(NewAttachment {
                filename: FULL_TEXT_FILE.into(),
                content_type: "text/plain; charset=utf-8".into(),
                sha256: Sha256::digest(&data).to_vec(),
                data,
            });
        }
        Ok(Inbound {
            channel: Channel::Email,
            contact: PlayerContact { external_id: None, name, email: Some(email.clone()), phone: None, language },
            kind: Kind::Complaint,
            subject: subject.clone(),
            text,
            language,
            thread,
            dedupe_key: Some(header_id.clone()),
            mail: Some(NewMail {
                header_id,
                sender: email.as_str().to_string(),
                recipient,
                subject: subject.as_str().to_string(),
                size,
                raw: Some(stored),
                auth,
                attachments,
            }),
        })
    }

    /// A delivery report about one of our mails: recorded on the complaint the mail was
    /// about (found by the report's `In-Reply-To`/`References`, the returned message's
    /// Message-ID, or the `X-Ombuds-Ref` in its headers). `None`: not a report, only a delay,
    /// or about no mail of ours (then it is dropped as machine mail).
    async fn bounce(&self, mail: &InboundMail) -> Result<Option<ComplaintRef>, IngestError> {
        // Only a report that names a failed recipient or returns our message counts: a reply
        // from a postmaster (also classed as a bounce) records nothing.
        let Some(report) = mail.bounce.as_ref().filter(|b| !b.delayed_only && (!b.failed.is_empty() || b.original_message_id.is_some())) else {
            return Ok(None);
        };
        let mut keys = mail.thread_keys();
        if let Some(id) = &report.original_message_id {
            keys.insert(0, id.as_str());
        }
        let mut complaint = if keys.is_empty() { None } else { self.desk.thread_of_mail(&keys).await.map_err(desk_error)? };
        if complaint.is_none()
            && let Some(r) = mail.own_ref.as_deref().and_then(|r| ComplaintRef::parse(r).ok())
        {
            complaint = self.desk.complaint_id_by_ref(&r).await.map_err(desk_error)?;
        }
        let Some(complaint_id) = complaint else { return Ok(None) };
        let reason = report.diagnostic.clone().unwrap_or_else(|| format!("a delivery report came back: {}", mail.subject));
        let report_id = mail.message_id.clone().unwrap_or_else(|| format!("{}@no-message-id.invalid", hex::encode(&Sha256::digest(mail.full_text.as_bytes())[..16])));
        let notice = ombuds_desk::BounceNotice {
            complaint_id,
            original_header_id: report.original_message_id.clone(),
            failed: report.failed.clone(),
            reason,
            report_id: format!("bounce:{report_id}"),
        };
        let reference = self.desk.record_bounce(notice).await.map_err(desk_error)?;
        tracing::info!(complaint = %reference, failed = ?report.failed, "bounce recorded");
        Ok(Some(reference))
    }

    /// The complaint the message answers: by its `In-Reply-To`/`References`, else by a
    /// complaint reference in the subject.
    /// The complaint a mail answers: by the thread's Message-IDs, then (when `by_reference`)
    /// by a `[REF]` in the subject.
    async fn thread(&self, mail: &InboundMail, by_reference: bool) -> Result<Option<uuid::Uuid>, IngestError> {
        let keys = mail.thread_keys();
        if !keys.is_empty()
            && let Some(id) = self.desk.thread_of_mail(&keys).await.map_err(desk_error)?
        {
            return Ok(Some(id));
        }
        if !by_reference {
            return Ok(None);
        }
        for r in &mail.subject_refs {
            if let Some(id) = self.desk.complaint_id_by_ref(r).await.map_err(desk_error)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

/// The file a text too long for a complaint's body is kept in, whole.
pub const FULL_TEXT_FILE: &str = "full-text.txt";

/// The text a complaint shows, and the whole text when that had to be shortened. A body holds
/// [`Body::MAX_CHARS`] characters; a longer text is cut there with a note to the agent saying
/// so and where the rest is (an attachment with the whole text, and the original e-mail), so
/// nothing is cut silently.
fn visible_text(mail: &InboundMail) -> (Option<Body>, Option<String>) {
    let text = if mail.text.trim().is_empty() { &mail.full_text } else { &mail.text };
    let chars = text.chars().count();
    if chars <= Body::MAX_CHARS {
        return (Body::lossy(text), None);
    }
    let shown = Body::MAX_CHARS - 400;
    let more = if mail.truncated { " or more" } else { "" };
    let note = format!(
        "\n\n[ombuds: this e-mail's text has {chars}{more} characters, more than a complaint holds; the first {shown} are shown here, the text is attached as {FULL_TEXT_FILE} and the original e-mail is kept whole]"
    );
    let kept: String = text.chars().take(shown).collect();
    let body = Body::lossy(&format!("{}{note}", kept.trim_end()));
    (body, Some(text.clone()))
}

fn token(s: &str) -> String {
    let t: String = s.chars().filter(|c| c.is_ascii_graphic()).take(100).collect();
    if t.is_empty() { "unknown".into() } else { t }
}

/// Why a message is machine mail, if it is.
fn machine_mail(mail: &InboundMail, envelope: Option<&Envelope>) -> Option<&'static str> {
    if envelope.is_some_and(|e| e.mail_from.is_empty()) {
        return Some("bounce");
    }
    mail.automatic.as_ref().map(|a| match a {
        Automatic::AutoReply => "auto_reply",
        Automatic::Bounce => "bounce",
        Automatic::Bulk => "bulk",
        Automatic::Own => "own_message",
    })
}

fn refusal(r: &Refusal) -> IngestError {
    let (code, enhanced) = r.smtp_code();
    IngestError::Refused(r.to_string(), code, enhanced)
}

fn desk_error(e: DeskError) -> IngestError {
    match e {
        DeskError::Domain(d) => IngestError::Refused(format!("the message cannot be registered: {d}"), 550, "5.6.0"),
        other => {
            tracing::error!(error = %other, "storing an inbound e-mail failed");
            IngestError::Temporary("the desk cannot store the message right now; try again later".into())
        }
    }
}

impl SmtpHandler for EmailIntake {
    fn mail_from(&self, from: &str, _peer: IpAddr) -> Result<(), Reply> {
        if !from.is_empty() && !self.limiter.allow(from) {
            metrics::counter!("ombuds_mail_rate_limited_total").increment(1);
            return Err(Reply::new(450, "4.7.1", "Too many messages from this sender; try again later"));
        }
        Ok(())
    }

    fn rcpt_to(&self, rcpt: &str) -> Result<(), Reply> {
        if self.accepts(rcpt) || self.is_postmaster(rcpt) {
            Ok(())
        } else if self.config.addresses.iter().any(|a| rcpt.rsplit_once('@').is_some_and(|(_, d)| a.ends_with(&format!("@{d}")))) {
            Err(Reply::new(550, "5.1.1", "No such mailbox here"))
        } else {
            Err(Reply::new(550, "5.7.1", "Relaying denied: this server only receives mail for its own addresses"))
        }
    }

    fn data(self: Arc<Self>, envelope: Envelope, raw: Vec<u8>) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            match self.ingest(raw, Some(&envelope)).await {
                Ok(Ingested::Registered(r)) => Reply::ok(format!("Registered as {r}")),
                Ok(Ingested::Replied(r)) => Reply::ok(format!("Added to {r}")),
                Ok(Ingested::Duplicate) => Reply::ok("Already received"),
                Ok(Ingested::Ignored(why)) => Reply::ok(format!("Accepted, not registered ({why})")),
                Ok(Ingested::Bounced(r)) => Reply::ok(format!("Delivery report recorded on {r}")),
                Err(e) => {
                    tracing::info!(error = %e, from = %envelope.mail_from, "smtp message refused");
                    e.reply()
                }
            }
        })
    }
}

/// The IMAP poller's callback: every fetched message goes through `ingest`.
pub fn imap_deliver(intake: Arc<EmailIntake>) -> crate::imap::Deliver {
    use crate::imap::{DeliverError, Delivery};
    Arc::new(move |raw: Vec<u8>| {
        let intake = intake.clone();
        Box::pin(async move {
            match intake.ingest(raw, None).await {
                Ok(Ingested::Registered(_) | Ingested::Replied(_)) => Ok(Delivery::Stored),
                Ok(Ingested::Duplicate) => Ok(Delivery::Duplicate),
                Ok(Ingested::Ignored(_) | Ingested::Bounced(_)) => Ok(Delivery::Ignored),
                Err(IngestError::Refused(why, ..)) => Err(DeliverError::Permanent(why)),
                Err(IngestError::Temporary(why)) => Err(DeliverError::Temporary(why)),
            }
        })
    })
}

/// A TLS server configuration from PEM files, for the listener's STARTTLS.
pub fn server_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the private key from {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not make a TLS configuration: {e}"))?;
    Ok(Arc::new(config))
}
