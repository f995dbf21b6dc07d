//! Outbound e-mail: the job handlers that deliver the core's outbox jobs (acknowledgment,
//! thread messages, resolution) to the player over a configured SMTP relay.
//!
//! Each job's message has a `Message-ID` made from the job's id, recorded on the complaint
//! before the message leaves: a retry sends the same message (receivers deduplicate it), and a
//! reply threads however quickly it comes back. Relay answers decide the job's fate: 5xx is
//! permanent (recorded on the complaint as `delivery_failed`), anything else is retried with
//! backoff by the desk's job runner.

use ombuds_core::*;
use ombuds_desk::{DeliveryContext, Desk, JobFailure, JobHandler, JobRecord, JobRunner, OutboundMail};
use ombuds_mail::outbound::{self, Mailbox, Notice, Outgoing};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelaySecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS, required (port 587).
    StartTls,
    /// No TLS: only for a relay on this machine.
    None,
}

#[derive(Clone)]
pub struct RelayConfig {
    pub host: String,
    pub port: u16,
    pub security: RelaySecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub relay: RelayConfig,
    /// The address notices come from (and replies go to).
    pub from_address: String,
    pub from_name: Option<String>,
    /// The right-hand side of the Message-IDs we make.
    pub message_id_domain: String,
    pub operator_name: String,
    /// A link where players follow their complaint; `{ref}` is replaced by the reference.
    pub tracking_url: Option<String>,
    pub response_hours: u32,
    /// Signs every message before it goes to the relay; `None`: mail goes unsigned.
    pub dkim: Option<Arc<crate::auth::DkimSigning>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("the SMTP relay settings are unusable: {0}")]
    Config(String),
}

/// Sends notices through one relay. Cheap to share (`Arc`); keeps a pool of connections.
pub struct MailSender {
    config: SenderConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl MailSender {
    pub fn new(config: SenderConfig) -> Result<Arc<MailSender>, SenderError> {
        let r = &config.relay;
        if r.security == RelaySecurity::None && !is_loopback(&r.host) {
            return Err(SenderError::Config(format!(
                "relay {} without TLS: plain SMTP is allowed only to a relay on this machine; use security = \"starttls\" or \"tls\"",
                r.host
            )));
        }
        let tls = |required: bool| -> Result<Tls, SenderError> {
            let params = TlsParameters::new(r.host.clone()).map_err(|e| SenderError::Config(e.to_string()))?;
            Ok(if required { Tls::Required(params) } else { Tls::Wrapper(params) })
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(r.host.clone()).port(r.port).timeout(Some(r.timeout));
        b = match r.security {
            RelaySecurity::Tls => b.tls(tls(false)?),
            RelaySecurity::StartTls => b.tls(tls(true)?),
            RelaySecurity::None => b.tls(Tls::None),
        };
        if let (Some(u), Some(p)) = (&r.username, &r.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        b = b.hello_name(lettre::transport::smtp::extension::ClientId::Domain(config.message_id_domain.clone()));
        Ok(Arc::new(MailSender { transport: b.build(), config }))
    }

    /// The job runner with this sender's handlers added.
    pub fn register(self: &Arc<Self>, runner: JobRunner) -> JobRunner {
        let mut runner = runner;
        for kind in ["acknowledge", "deliver_message", "notify_resolved"] {
            let me = self.clone();
            let h: JobHandler = Arc::new(move |desk: Desk, job: JobRecord| {
                let me = me.clone();
                Box::pin(async move { me.deliver(&desk, &job).await })
            });
            runner = runner.handle(kind, h);
        }
        // Staff notices: the workspace (as without e-mail), and an e-mail to each recipient
        // with an address.
        let me = self.clone();
        let h: JobHandler = Arc::new(move |desk: Desk, job: JobRecord| {
            let me = me.clone();
            Box::pin(async move { me.notify_staff(&desk, &job).await })
        });
        let runner = runner.handle("notify_staff", h);
        let me = self.clone();
        let h: JobHandler = Arc::new(move |desk: Desk, job: JobRecord| {
            let me = me.clone();
            Box::pin(async move { me.track_access(&desk, &job).await })
        });
        runner.handle(ombuds_desk::tracking::TRACK_ACCESS_JOB, h)
    }

    /// Sends the one-time code (and the link) a player asked for to open their complaint.
    pub async fn track_access(&self, desk: &Desk, job: &JobRecord) -> Result<(), JobFailure> {
        let Some(id) = job.complaint_id else { return Ok(()) };
        let Some((code, _)) = desk.track_access_mail(id).await.map_err(|e| JobFailure::transient(format!("reading the code failed: {e}")))? else {
            // Spent, expired or replaced by a newer request (whose own job carries it).
            return Ok(());
        };
        let ctx = desk.delivery_context(id).await.map_err(|e| JobFailure::transient(format!("reading the complaint failed: {e}")))?;
        let Some(to) = ctx.player.email.clone() else {
            return Err(JobFailure::permanent("the player has no e-mail address"));
        };
        let notice = Notice::TrackAccess { code: &code, minutes: desk.track_code_minutes() };
        self.send(desk, job.id, &ctx, to.as_str(), notice, None).await.map_err(|f| f.to(to.as_str()))
    }

    /// Tells staff of an assignment, an SLA warning or a breach, in their workspace and by
    /// e-mail, in the agent's language (the complaint's when they speak it).
    pub async fn notify_staff(&self, desk: &Desk, job: &JobRecord) -> Result<(), JobFailure> {
        let Some(id) = job.complaint_id else { return Ok(()) };
        let notice = job.payload.get("notice").and_then(|v| v.as_str()).unwrap_or("sla_breach").to_string();
        let clock = job.payload.get("clock").and_then(|v| v.as_str()).and_then(|v| ombuds_core::sla::ClockKind::parse(v).ok());
        let Some((complaint, recipients)) =
            desk.notify_staff(id, &notice, clock).await.map_err(|e| JobFailure::transient(format!("reading the complaint failed: {e}")))?
        else {
            return Ok(());
        };
        let c = &self.config;
        let due = complaint.sla.as_ref().and_then(|s| clock.and_then(|k| s.clock(k))).map(|cl| cl.due.strftime("%Y-%m-%d %H:%M UTC").to_string());
        for agent in recipients {
            let Some(to) = agent.email.as_ref() else { continue };
            let language = if agent.languages.is_empty() || agent.languages.contains(&complaint.language) {
                complaint.language
            } else {
                *agent.languages.iter().next().expect("not empty")
            };
            let header_id = format!("{}.{}@{}", job.id, agent.id, c.message_id_domain);
            let out = outbound::StaffOutgoing {
                from: Mailbox { name: c.from_name.as_deref(), address: &c.from_address },
                to: Mailbox { name: Some(agent.name.as_str()), address: to.as_str() },
                language,
                reference: complaint.reference,
                complaint_subject: complaint.subject.as_str(),
                notice: &notice,
                clock: clock.map(|k| k.as_str()),
                due: due.as_deref(),
                department: complaint.department.as_ref().map(|d| d.as_str()),
                message_id: &header_id,
                date: now(),
                operator_name: &c.operator_name,
                workspace_url: None,
            };
            let composer = desk.mail_composer().await.map_err(|e| JobFailure::transient(format!("reading the e-mail templates failed: {e}")))?;
            let composed = composer
                .compose_staff(&out)
                .map_err(|e| JobFailure::permanent(format!("the staff notice cannot be composed: {e}")))?;
            self.transmit(to.as_str(), &composed.bytes).await.map_err(|f| f.to(to.as_str()))?;
        }
        Ok(())
    }

    /// Hands one composed message to the relay, DKIM-signed when a key is configured.
    async fn transmit(&self, to: &str, bytes: &[u8]) -> Result<(), JobFailure> {
        let c = &self.config;
        let envelope = lettre::address::Envelope::new(
            Some(c.from_address.parse().map_err(|e| JobFailure::permanent(format!("our sender address is invalid: {e}")))?),
            vec![to.parse().map_err(|e| JobFailure::permanent(format!("the address is invalid for SMTP: {e}")))?],
        )
        .map_err(|e| JobFailure::permanent(format!("no envelope: {e}")))?;
        let signed;
        let bytes = match &c.dkim {
            Some(dkim) => {
                signed = dkim.sign(bytes).map_err(JobFailure::permanent)?;
                &signed[..]
            }
            None => bytes,
        };
        let started = std::time::Instant::now();
        match self.transport.send_raw(&envelope, bytes).await {
            Ok(_) => {
                metrics::histogram!("ombuds_mail_send_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("ombuds_mail_sent_total").increment(1);
                Ok(())
            }
            Err(e) if e.is_permanent() => Err(JobFailure::permanent(format!("the relay refused the message: {e}"))),
            Err(e) => Err(JobFailure::transient(format!("sending failed: {e}"))),
        }
    }

    /// Delivers one outbox job.
    pub async fn deliver(&self, desk: &Desk, job: &JobRecord) -> Result<(), JobFailure> {
        let job_kind: Job = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobFailure::permanent(format!("the job's payload is unreadable: {e}")))?;
        let ctx = desk
            .delivery_context(job_kind.complaint_id())
            .await
            .map_err(|e| JobFailure::transient(format!("reading the complaint failed: {e}")))?;
        let Some(to) = ctx.player.email.clone() else {
            return Err(JobFailure::permanent("the player has no e-mail address: inform them another way"));
        };
        let events = match &job_kind {
            Job::DeliverMessage { .. } => {
                desk.delivery_history(ctx.complaint.id).await.map_err(|e| JobFailure::transient(format!("reading the history failed: {e}")))?
            }
            _ => vec![],
        };
        let (notice, message_id) = match &job_kind {
            Job::Acknowledge { .. } => (Notice::Acknowledgment, None),
            Job::NotifyResolved { .. } => match &ctx.complaint.resolution {
                Some(r) => (Notice::Resolved { measures: r.measures.as_str(), result: r.result.as_str() }, None),
                None => {
                    // Reopened before the notice went out: the player will hear of the next result.
                    tracing::info!(complaint = %ctx.complaint.reference, "resolution notice skipped: the complaint was reopened");
                    return Ok(());
                }
            },
            Job::DeliverMessage { message_id, .. } => {
                let notice = events.iter().find_map(|e| match &e.event.data {
                    EventData::MessageAdded { message_id: m, body, .. } if m == message_id => Some(Notice::Reply { body: body.as_str() }),
                    EventData::SolutionProposed { message_id: m, text } if m == message_id => Some(Notice::SolutionProposed { text: text.as_str() }),
                    EventData::InformationRequested { message_id: m, text } if m == message_id => {
                        Some(Notice::InformationRequested { text: text.as_str() })
                    }
                    _ => None,
                });
                match notice {
                    Some(n) => (n, Some(*message_id)),
                    None => return Err(JobFailure::permanent(format!("message {message_id} is not in the complaint's history"))),
                }
            }
            // Not player notices: the desk's own handlers run these.
            Job::SlaTimer { .. } | Job::NotifyStaff { .. } => {
                return Err(JobFailure::permanent(format!("a '{}' job is not an e-mail to the player", job_kind.kind())));
            }
        };
        self.send(desk, job.id, &ctx, to.as_str(), notice, message_id).await.map_err(|f| f.to(to.as_str()))
    }

    async fn send(
        &self,
        desk: &Desk,
        job_id: Uuid,
        ctx: &DeliveryContext,
        to: &str,
        notice: Notice<'_>,
        message_id: Option<Uuid>,
    ) -> Result<(), JobFailure> {
        let c = &self.config;
        if ombuds_mail::inbound::is_no_reply_address(to) {
            // Registered, but nobody reads this address: the complaint says so instead.
            return Err(JobFailure::permanent(format!("{to} is a no-reply address: nothing was sent; reach the player another way")));
        }
        let header_id = format!("{job_id}@{}", c.message_id_domain);
        // Threading: answer the player's latest e-mail, and carry the whole chain.
        let last_inbound = ctx.mails.iter().rev().find(|m| m.direction == ombuds_desk::MailDirection::In).map(|m| m.header_id.clone());
        let references: Vec<String> =
            ctx.mails.iter().map(|m| m.header_id.clone()).filter(|h| *h != header_id && !h.ends_with("@no-message-id.invalid")).collect();
        // The link opens the complaint by itself: it carries a signed key.
        let tracking = match &c.tracking_url {
            Some(u) => {
                let key = desk.track_link_key(ctx.complaint.id).await.map_err(|e| JobFailure::transient(format!("signing the tracking link failed: {e}")))?;
                let base = u.replace("{ref}", ctx.complaint.reference.compact());
                Some(format!("{base}{}key={key}", if base.contains('?') { '&' } else { '?' }))
            }
            None => None,
        };
        // An acknowledgment can be caused by anyone who types an address into a form: it
        // carries none of their text (no subject, no name), only the reference and our words.
        let ack = matches!(notice, Notice::Acknowledgment);
        let out = Outgoing {
            from: Mailbox { name: c.from_name.as_deref(), address: &c.from_address },
            to: Mailbox { name: if ack { None } else { ctx.player.name.as_ref().map(|n| n.as_str()) }, address: to },
            language: ctx.complaint.language,
            reference: ctx.complaint.reference,
            complaint_subject: if ack { "" } else { ctx.complaint.subject.as_str() },
            notice,
            message_id: &header_id,
            in_reply_to: last_inbound.as_deref(),
            references: &references,
            date: now(),
            operator_name: &c.operator_name,
            tracking_url: tracking.as_deref(),
            response_hours: c.response_hours,
        };
        // The templates in force: the built-in ones with an administrator's replacements.
        let composer = desk.mail_composer().await.map_err(|e| JobFailure::transient(format!("reading the e-mail templates failed: {e}")))?;
        let composed = composer.compose(&out).map_err(|e| JobFailure::permanent(format!("the notice cannot be composed: {e}")))?;
        desk.record_outbound_mail(&OutboundMail {
            id: job_id,
            complaint_id: ctx.complaint.id,
            message_id,
            header_id: header_id.clone(),
            sender: c.from_address.clone(),
            recipient: to.to_string(),
            subject: composed.subject.clone(),
            size: composed.bytes.len() as i64,
        })
        .await
        .map_err(|e| JobFailure::transient(format!("recording the mail failed: {e}")))?;
        self.transmit(to, &composed.bytes).await
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
