//! Configuration: built-in defaults < `ombuds.toml` (or `--config FILE`) < `OMBUDS_*`
//! environment variables < command-line flags.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Where the embedded store lives when `database` is not set.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; default `sqlite://<data_dir>/ombuds.db`.
    pub database: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long an agent's session lasts, in hours.
    pub session_hours: u64,
    /// Mark the workspace's cookies `Secure`; default: yes, unless listening on loopback only.
    #[serde(default)]
    pub secure_cookies: Option<bool>,
    /// Wrong passwords in a row that lock a login, and for how many minutes.
    #[serde(default = "default_login_max_failures")]
    pub login_max_failures: u32,
    #[serde(default = "default_login_lockout_minutes")]
    pub login_lockout_minutes: u64,
    /// Database connections per node.
    pub max_connections: u32,
    /// Log filter (`info`, `ombuds=debug,info`, …).
    pub log: String,
    /// The e-mail channel; absent: no e-mail in or out.
    pub email: Option<EmailSettings>,
    /// Live chat on the operator's website.
    #[serde(default)]
    pub chat: ChatSettings,
    /// The phone channel (CTI webhook).
    #[serde(default)]
    pub cti: CtiSettings,
    /// Routing: the classifier's threshold and retraining.
    #[serde(default)]
    pub routing: RoutingSettings,
    /// Service levels: calendars, policies, warning share, dispute deadline (docs/sla.md).
    #[serde(default)]
    pub sla: ombuds_core::sla::SlaSpec,
    /// Connection limits and trusted proxies.
    #[serde(default)]
    pub http: HttpSettings,
}

/// `[http]`: limits every connection meets before a request is read, and the proxies whose
/// `X-Forwarded-For` is believed (docs/security.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Addresses of reverse proxies in front of the desk, e.g. `["127.0.0.1"]`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client has to send a request's headers (and an idle kept-alive connection waits).
    pub header_timeout_seconds: u64,
    /// The longest silence, in seconds, while a request body is read.
    pub body_timeout_seconds: u64,
    /// Connections at once in all (lowered to fit the open-file limit), and per client address.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let d = ombuds_web::NetConfig::default();
        HttpSettings {
            trusted_proxies: d.trusted_proxies,
            header_timeout_seconds: d.header_timeout.as_secs(),
            body_timeout_seconds: d.body_timeout.as_secs(),
            max_connections: d.max_connections,
            max_connections_per_address: d.max_connections_per_address,
        }
    }
}

impl HttpSettings {
    pub fn net(&self) -> ombuds_web::NetConfig {
        ombuds_web::NetConfig {
            trusted_proxies: self.trusted_proxies.clone(),
            header_timeout: std::time::Duration::from_secs(self.header_timeout_seconds),
            body_timeout: std::time::Duration::from_secs(self.body_timeout_seconds),
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
        }
    }
}

/// `[routing]`: when the classifier may route on its own, and when it is retrained.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// The classifier routes a complaint no rule took only at this confidence or above (0–1);
    /// below it the complaint waits unrouted in the triage queue with the suggestion shown.
    pub min_confidence: f32,
    /// Retrain on the resolved complaints every this many hours; 0: only by `ombuds train`.
    pub retrain_hours: u64,
    /// Train on at most this many of the newest resolved complaints.
    pub max_training_rows: i64,
    /// Do not train on fewer resolved complaints than this.
    pub min_training_rows: usize,
    /// `off`, `least_loaded` or `round_robin`: assign new complaints inside their department to
    /// an online agent with the language and skill, within capacity.
    pub auto_assign: String,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings { min_confidence: 0.6, retrain_hours: 24, max_training_rows: 100_000, min_training_rows: 30, auto_assign: "off".into() }
    }
}

/// `[cti]`: the phone channel. The PBX authenticates with an API token of scope `cti`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtiSettings {
    /// How soon a missed call or voicemail must be called back, in minutes.
    #[serde(default = "default_callback_minutes")]
    pub callback_minutes: u64,
}

impl Default for CtiSettings {
    fn default() -> Self {
        CtiSettings { callback_minutes: default_callback_minutes() }
    }
}

fn default_login_max_failures() -> u32 {
    5
}

fn default_login_lockout_minutes() -> u64 {
    15
}

fn default_callback_minutes() -> u64 {
    120
}

/// `[chat]`: who may embed the widget, how logged-in players are identified, and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Origins whose pages may embed the widget, e.g. `["https://www.operator.example"]`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The shared secret the operator's backend signs player identities with (at least 32
    /// characters); better given as `OMBUDS_CHAT_IDENTITY_SECRET`. Unset: no signed identities.
    pub identity_secret: Option<String>,
    /// How far ahead an identity token's `exp` may be, in hours.
    #[serde(default = "default_identity_hours")]
    pub identity_max_age_hours: u64,
    /// Where chats go when the widget names no department.
    pub default_department: Option<String>,
    /// Messages a connection may send per minute, and the burst above that.
    #[serde(default = "default_chat_per_minute")]
    pub messages_per_minute: u32,
    #[serde(default = "default_chat_burst")]
    pub burst: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            allowed_origins: vec![],
            identity_secret: None,
            identity_max_age_hours: default_identity_hours(),
            default_department: None,
            messages_per_minute: default_chat_per_minute(),
            burst: default_chat_burst(),
        }
    }
}

fn default_identity_hours() -> u64 {
    24
}
fn default_chat_per_minute() -> u32 {
    60
}
fn default_chat_burst() -> u32 {
    20
}

/// `[email]`: the addresses the desk receives for, the SMTP listener, the IMAP poller and the
/// relay notices are sent through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// Addresses mail is accepted for, e.g. `["support@operator.example"]`; `"@operator.example"`
    /// takes the whole domain.
    pub addresses: Vec<String>,
    /// Where the SMTP listener listens, e.g. `"0.0.0.0:25"`; unset: no listener.
    pub smtp_listen: Option<String>,
    /// The name the listener greets with and our Message-IDs end in.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// PEM certificate chain and key: the listener offers STARTTLS when both are set.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default = "default_max_message_mb")]
    pub max_message_mb: usize,
    /// The SMTP listener's limits: connections in all and per client address (`421` beyond),
    /// seconds to wait for a command and for each block of message data, minutes a whole
    /// session may last.
    #[serde(default = "default_smtp_max_connections")]
    pub smtp_max_connections: usize,
    #[serde(default = "default_smtp_max_connections_per_ip")]
    pub smtp_max_connections_per_ip: usize,
    #[serde(default = "default_smtp_command_timeout")]
    pub smtp_command_timeout_seconds: u64,
    #[serde(default = "default_smtp_data_timeout")]
    pub smtp_data_timeout_seconds: u64,
    #[serde(default = "default_smtp_session_minutes")]
    pub smtp_session_minutes: u64,
    #[serde(default = "default_max_attachments")]
    pub max_attachments: usize,
    #[serde(default = "default_max_attachment_mb")]
    pub max_attachment_mb: usize,
    /// Messages one sender may send at once, and per hour after that (then SMTP 450 / retry);
    /// `sender_per_hour = 0` turns the limit off.
    #[serde(default = "default_sender_burst")]
    pub sender_burst: u32,
    #[serde(default = "default_sender_per_hour")]
    pub sender_per_hour: u32,
    /// The sender of notices; default: the first address.
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// The brand named in notices.
    #[serde(default = "default_operator_name")]
    pub operator_name: String,
    /// A page where players follow their complaint; `{ref}` becomes the reference.
    pub tracking_url: Option<String>,
    /// The first-response time promised in the acknowledgment, in hours.
    #[serde(default = "default_response_hours")]
    pub response_hours: u32,
    /// DKIM signing of outbound mail: the signing domain (`d=`), the selector (`s=`; the public
    /// key is published at `<selector>._domainkey.<domain>`) and the private key (PEM, RSA or
    /// Ed25519). All three or none; none: mail goes unsigned.
    pub dkim_domain: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_key: Option<PathBuf>,
    /// Check SPF, DKIM and DMARC of received mail (store the results, refuse DMARC `reject`
    /// failures, never thread a failing reply into an existing complaint).
    #[serde(default = "default_true")]
    pub verify_senders: bool,
    pub relay: Option<RelaySettings>,
    pub imap: Option<ImapSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (default, port 587), `tls` (port 465) or `none` (only to a relay on this machine).
    #[serde(default = "default_starttls")]
    pub security: String,
    pub username: Option<String>,
    /// Better given as `OMBUDS_EMAIL_RELAY_PASSWORD`.
    pub password: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    pub port: Option<u16>,
    /// `tls` (default, port 993), `starttls` (port 143) or `none` (only to a server on this machine).
    #[serde(default = "default_tls")]
    pub security: String,
    pub username: String,
    /// Better given as `OMBUDS_EMAIL_IMAP_PASSWORD`.
    pub password: Option<String>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// What happens to a message once stored: `seen`, `delete` or `move:FOLDER`.
    #[serde(default = "default_after")]
    pub after: String,
    /// Where messages that cannot be taken go; unset: they are flagged and marked seen.
    pub failed_mailbox: Option<String>,
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Wait with IDLE when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// An extra CA certificate (PEM) to trust, for a server with a private certificate.
    pub ca_file: Option<PathBuf>,
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_max_message_mb() -> usize {
    25
}
fn default_smtp_max_connections() -> usize {
    512
}
fn default_smtp_max_connections_per_ip() -> usize {
    20
}
fn default_smtp_command_timeout() -> u64 {
    60
}
fn default_smtp_data_timeout() -> u64 {
    120
}
fn default_smtp_session_minutes() -> u64 {
    15
}
fn default_max_attachments() -> usize {
    20
}
fn default_max_attachment_mb() -> usize {
    10
}
fn default_sender_burst() -> u32 {
    20
}
fn default_sender_per_hour() -> u32 {
    60
}
fn default_operator_name() -> String {
    "ombuds".into()
}
fn default_response_hours() -> u32 {
    24
}
fn default_starttls() -> String {
    "starttls".into()
}
fn default_tls() -> String {
    "tls".into()
}
fn default_timeout() -> u64 {
    30
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_after() -> String {
    "seen".into()
}
fn default_poll() -> u64 {
    60
}
fn default_true() -> bool {
    true
}

const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database",
    "body_limit",
    "session_hours",
    "max_connections",
    "log",
    "email.smtp_listen",
    "email.relay.password",
    "email.imap.password",
    "chat.identity_secret",
];

impl Settings {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut b = config::Config::builder()
            .set_default("listen", "127.0.0.1:8080")?
            .set_default("data_dir", "./ombuds-data")?
            .set_default("body_limit", 256 * 1024)?
            .set_default("session_hours", 12)?
            .set_default("max_connections", 8)?
            .set_default("log", "info")?;
        match file {
            Some(f) => {
                if !f.exists() {
                    bail!("config file {} does not exist", f.display());
                }
                b = b.add_source(config::File::from(f).required(true));
            }
            None => b = b.add_source(config::File::with_name("ombuds").format(config::FileFormat::Toml).required(false)),
        }
        // Only the settings' own keys come from the environment: other OMBUDS_* variables
        // (OMBUDS_TOKEN for the bench, OMBUDS_TEST_*, …) are not configuration.
        for key in KEYS {
            if let Ok(v) = std::env::var(format!("OMBUDS_{}", key.replace('.', "_").to_uppercase())) {
                b = b.set_override(*key, v)?;
            }
        }
        let s: Settings = b.build()?.try_deserialize().context("invalid configuration")?;
        if s.login_max_failures == 0 || s.login_max_failures > 100 || s.login_lockout_minutes == 0 || s.login_lockout_minutes > 24 * 60 {
            bail!("login_max_failures must be between 1 and 100 and login_lockout_minutes between 1 and 1440");
        }
        if !(1..=3600).contains(&s.http.header_timeout_seconds) || !(1..=3600).contains(&s.http.body_timeout_seconds) {
            bail!("[http] header_timeout_seconds and body_timeout_seconds must be 1 to 3600");
        }
        if s.http.max_connections == 0 || s.http.max_connections_per_address == 0 {
            bail!("[http] max_connections and max_connections_per_address must be at least 1");
        }
        if s.body_limit < 1024 {
            bail!("body_limit must be at least 1024 bytes");
        }
        if let Some(e) = &s.email {
            if e.addresses.is_empty() {
                bail!("[email] addresses must name at least one address the desk receives mail for");
            }
            for a in &e.addresses {
                let ok = match a.strip_prefix('@') {
                    Some(domain) => !domain.is_empty() && !domain.contains('@'),
                    None => a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()),
                };
                if !ok || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    bail!("[email] addresses: '{a}' is neither an address (support@example.com) nor a domain (@example.com)");
                }
            }
            if e.tls_cert.is_some() != e.tls_key.is_some() {
                bail!("[email] tls_cert and tls_key go together");
            }
            if let Some(u) = &e.tracking_url {
                let ok = (u.starts_with("https://") || u.starts_with("http://")) && !u.chars().any(|c| c.is_whitespace() || c.is_control() || "\"<>".contains(c));
                if !ok {
                    bail!("[email] tracking_url must be an http(s) link without spaces or quotes, e.g. https://help.example/track/{{ref}}");
                }
            }
            if e.max_message_mb == 0 || e.max_message_mb > 100 {
                bail!("[email] max_message_mb must be between 1 and 100");
            }
            if e.smtp_max_connections == 0 || e.smtp_max_connections_per_ip == 0 {
                bail!("[email] smtp_max_connections and smtp_max_connections_per_ip must be at least 1");
            }
            if e.smtp_command_timeout_seconds == 0 || e.smtp_data_timeout_seconds == 0 || e.smtp_session_minutes == 0 {
                bail!("[email] smtp_command_timeout_seconds, smtp_data_timeout_seconds and smtp_session_minutes must be at least 1");
            }
        }
        let c = &s.chat;
        for o in &c.allowed_origins {
            let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/') && !r.chars().any(|ch| ch.is_whitespace() || ch.is_control())) {
                bail!("[chat] allowed_origins: '{o}' is not an origin (scheme and host, no path), e.g. https://www.operator.example");
            }
        }
        if let Some(secret) = &c.identity_secret
            && secret.chars().count() < 32
        {
            bail!("[chat] identity_secret must be at least 32 characters");
        }
        if c.identity_max_age_hours == 0 || c.identity_max_age_hours > 24 * 30 {
            bail!("[chat] identity_max_age_hours must be between 1 and 720");
        }
        if let Some(d) = &c.default_department
            && ombuds_core::DepartmentCode::parse(d).is_err()
        {
            bail!("[chat] default_department '{d}' is not a department code");
        }
        if s.cti.callback_minutes == 0 || s.cti.callback_minutes > 7 * 24 * 60 {
            bail!("[cti] callback_minutes must be between 1 and 10080 (a week)");
        }
        let r = &s.routing;
        if !(0.0..=1.0).contains(&r.min_confidence) {
            bail!("[routing] min_confidence must be between 0 and 1");
        }
        if r.retrain_hours > 24 * 365 {
            bail!("[routing] retrain_hours must be at most 8760 (a year); 0 turns scheduled retraining off");
        }
        if let Err(e) = ombuds_core::assign::AssignStrategy::parse(&r.auto_assign) {
            bail!("[routing] auto_assign: {}", e.message);
        }
        if r.max_training_rows < 1 || r.min_training_rows < 2 || r.min_training_rows as i64 > r.max_training_rows {
            bail!("[routing] min_training_rows must be at least 2 and at most max_training_rows");
        }
        if c.messages_per_minute == 0 || c.burst == 0 {
            bail!("[chat] messages_per_minute and burst must be at least 1");
        }
        Ok(s)
    }

    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("ombuds.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_strictness() {
        let dir = std::env::temp_dir().join(format!("ombuds-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("o.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:9000\"\nbody_limit = 4096\n").unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        assert_eq!((s.listen.as_str(), s.body_limit, s.session_hours), ("0.0.0.0:9000", 4096, 12));
        assert_eq!(s.database_url(), "sqlite://./ombuds-data/ombuds.db");
        std::fs::write(&f, "lisen = \"typo\"\n").unwrap();
        assert!(format!("{:#}", Settings::load(Some(&f)).unwrap_err()).contains("lisen"));
        std::fs::write(&f, "body_limit = 10\n").unwrap();
        assert!(Settings::load(Some(&f)).is_err());
        assert!(Settings::load(Some(&dir.join("missing.toml"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
