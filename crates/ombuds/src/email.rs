//! Wires the `[email]` settings into the channel adapters: the SMTP listener, the IMAP
//! poller and the relay notices go out through.

use crate::settings::EmailSettings;
use anyhow::{Context, bail};
use ombuds_channels::auth::{DkimSigning, SenderVerifier};
use ombuds_channels::email::{EmailIntake, IntakeConfig, imap_deliver, server_tls};
use ombuds_channels::imap::{AfterStore, ImapConfig, Security};
use ombuds_channels::sender::{MailSender, RelayConfig, RelaySecurity, SenderConfig};
use ombuds_channels::smtp_in::{self, SmtpConfig};
use ombuds_desk::{Desk, JobRunner};
use ombuds_mail::inbound::Limits;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const MB: usize = 1024 * 1024;

pub fn intake(desk: &Desk, e: &EmailSettings) -> anyhow::Result<Arc<EmailIntake>> {
    let limits = Limits {
        max_message_bytes: e.max_message_mb * MB,
        max_attachments: e.max_attachments,
        max_attachment_bytes: e.max_attachment_mb * MB,
        max_total_attachment_bytes: e.max_message_mb * MB,
        ..Limits::default()
    };
    Ok(EmailIntake::new(
        desk.clone(),
        IntakeConfig {
            addresses: e.addresses.iter().map(|a| a.trim().to_ascii_lowercase()).collect(),
            limits,
            sender_burst: e.sender_burst,
            sender_per_hour: e.sender_per_hour,
            verifier: verifier(e)?,
        },
    ))
}

/// The sender checks of received mail, on the system's DNS, at most ~2 s per message.
fn verifier(e: &EmailSettings) -> anyhow::Result<Option<Arc<SenderVerifier>>> {
    if !e.verify_senders {
        return Ok(None);
    }
    let v = SenderVerifier::system(Duration::from_secs(2)).map_err(anyhow::Error::msg).context("[email] verify_senders (set it to false on a machine without DNS)")?;
    Ok(Some(Arc::new(v)))
}

/// Starts what `[email]` asks for; returns a line per part for the start-up banner.
pub async fn start(
    desk: &Desk,
    e: &EmailSettings,
    data_dir: &std::path::Path,
    runner: JobRunner,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(JobRunner, Vec<String>)> {
    let mut lines = vec![];
    // A DKIM key set up wrongly stops the start, with or without a relay.
    dkim(e)?;
    let intake = intake(desk, e)?;
    lines.push(if e.verify_senders {
        "received mail: SPF, DKIM and DMARC checked (DMARC reject failures refused)".to_string()
    } else {
        "received mail: senders NOT checked (verify_senders = false)".to_string()
    });
    if let Some(listen) = &e.smtp_listen {
        let tls = match (&e.tls_cert, &e.tls_key) {
            (Some(c), Some(k)) => Some(server_tls(c, k).map_err(anyhow::Error::msg).context("[email] tls_cert/tls_key")?),
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen for SMTP on {listen}"))?;
        lines.push(format!(
            "SMTP listener on {} for {}{}",
            listener.local_addr()?,
            e.addresses.join(", "),
            if tls.is_some() { " (STARTTLS)" } else { "" }
        ));
        let config = SmtpConfig {
            hostname: e.hostname.clone(),
            max_message_bytes: e.max_message_mb * MB,
            tls,
            max_connections: e.smtp_max_connections,
            max_connections_per_ip: e.smtp_max_connections_per_ip,
            timeout: Duration::from_secs(e.smtp_command_timeout_seconds),
            data_timeout: Duration::from_secs(e.smtp_data_timeout_seconds),
            session_timeout: Duration::from_secs(e.smtp_session_minutes * 60),
            // Large messages wait on disk, not in memory, while they arrive.
            spool_dir: Some(data_dir.to_path_buf()),
            ..SmtpConfig::default()
        };
        tokio::spawn(smtp_in::serve(listener, config, intake.clone(), stop.clone()));
    }
    if let Some(i) = &e.imap {
        let security = match i.security.as_str() {
            "tls" => Security::Tls,
            "starttls" => Security::StartTls,
            "none" => Security::Plain,
            other => bail!("[email.imap] security '{other}' is not one of tls, starttls, none"),
        };
        let after = match i.after.as_str() {
            "seen" => AfterStore::MarkSeen,
            "delete" => AfterStore::Delete,
            other => match other.strip_prefix("move:") {
                Some(folder) if !folder.trim().is_empty() => AfterStore::Move(folder.trim().to_string()),
                _ => bail!("[email.imap] after '{other}' is not one of seen, delete, move:FOLDER"),
            },
        };
        let Some(password) = i.password.clone() else {
            bail!("[email.imap] needs a password (set OMBUDS_EMAIL_IMAP_PASSWORD)");
        };
        let mut cfg = ImapConfig::new(i.host.clone(), i.username.clone(), password);
        cfg.port = i.port.unwrap_or(if security == Security::Tls { 993 } else { 143 });
        cfg.security = security;
        cfg.mailbox = i.mailbox.clone();
        cfg.after = after;
        cfg.failed_mailbox = i.failed_mailbox.clone();
        cfg.poll_interval = Duration::from_secs(i.poll_seconds.max(1));
        cfg.use_idle = i.idle;
        cfg.ca_file = i.ca_file.clone();
        cfg.max_message_bytes = (e.max_message_mb * MB) as u64;
        cfg.validate().context("[email.imap]")?;
        lines.push(format!("IMAP poller for {}@{}:{}/{}", i.username, i.host, cfg.port, cfg.mailbox));
        tokio::spawn(ombuds_channels::imap::run(cfg, imap_deliver(intake.clone()), stop.clone()));
    }
    let runner = match &e.relay {
        None => {
            lines.push("no [email.relay]: notices to players wait in the outbox".into());
            runner
        }
        Some(r) => {
            let security = match r.security.as_str() {
                "starttls" => RelaySecurity::StartTls,
                "tls" => RelaySecurity::Tls,
                "none" => RelaySecurity::None,
                other => bail!("[email.relay] security '{other}' is not one of starttls, tls, none"),
            };
            let port = r.port.unwrap_or(match security {
                RelaySecurity::Tls => 465,
                RelaySecurity::StartTls => 587,
                RelaySecurity::None => 25,
            });
            let dkim = dkim(e)?;
            let from = e.from.clone().unwrap_or_else(|| e.addresses[0].clone());
            if from.starts_with('@') {
                bail!("[email] from must be an address when addresses starts with a domain");
            }
            let sender = MailSender::new(SenderConfig {
                relay: RelayConfig {
                    host: r.host.clone(),
                    port,
                    security,
                    username: r.username.clone(),
                    password: r.password.clone(),
                    timeout: Duration::from_secs(r.timeout_seconds.max(1)),
                },
                from_address: from.clone(),
                from_name: e.from_name.clone(),
                message_id_domain: e.hostname.clone(),
                operator_name: e.operator_name.clone(),
                tracking_url: e.tracking_url.clone(),
                response_hours: e.response_hours,
                dkim: dkim.clone(),
            })
            .context("[email.relay]")?;
            lines.push(format!("notices to players from {from} through {}:{port}", r.host));
            if let Some(k) = &dkim {
                lines.push(format!("notices DKIM-signed for {} with selector {} ({})", k.domain(), k.selector(), k.algorithm()));
            }
            sender.register(runner)
        }
    };
    Ok((runner, lines))
}

/// The DKIM key of `[email] dkim_*`, read and checked: all three keys or none.
pub fn dkim(e: &EmailSettings) -> anyhow::Result<Option<Arc<DkimSigning>>> {
    match (&e.dkim_domain, &e.dkim_selector, &e.dkim_key) {
        (None, None, None) => Ok(None),
        (Some(domain), Some(selector), Some(key)) => {
            Ok(Some(Arc::new(DkimSigning::load(domain, selector, key).map_err(anyhow::Error::msg).context("[email] dkim_key")?)))
        }
        _ => bail!("[email] dkim_domain, dkim_selector and dkim_key go together: set all three to sign outbound mail, or none"),
    }
}
