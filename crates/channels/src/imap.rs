//! IMAP poller: fetches unseen messages from a mailbox and hands each raw message to a
//! [`Deliver`] callback (the desk's inbound e-mail path).
//!
//! Crash safety is the point of the design. A message is only marked `\Seen`, moved or deleted
//! after `deliver` returned `Ok` for it; bodies are fetched with `BODY.PEEK[]`, which leaves the
//! `\Seen` flag alone. A crash (or a cancelled poll, or a panicking `deliver`) at any point leaves
//! the message unseen, and the next round fetches it again; the desk deduplicates re-fetches by
//! Message-ID, so at-least-once delivery is what we want. Flags are stored once per fetch chunk
//! (up to 50 messages), so a crash re-delivers at most that chunk's already-taken messages.
//!
//! Failures of `deliver` come in two kinds: [`DeliverError::Temporary`] leaves the message unseen
//! (tried again next round), [`DeliverError::Permanent`] moves it to
//! [`ImapConfig::failed_mailbox`] or, without one, flags it `\Seen \Flagged` so that it is never
//! retried forever. A message larger than [`ImapConfig::max_message_bytes`] (as the server reports
//! it in `RFC822.SIZE`) takes the permanent path without its body being downloaded.
//!
//! [`poll_once`] is one round on a fresh connection; [`run`] is the long-running loop (IMAP IDLE
//! when the server has it, otherwise polling every [`ImapConfig::poll_interval`]) with
//! reconnection and back-off. The password is never logged, nor shown by `Debug`.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::UnsolicitedResponse;
use async_imap::{Client, Session};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, TryStreamExt as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Implicit TLS from the first byte (IMAPS, usually port 993).
    Tls,
    /// Plain connection upgraded with `STARTTLS` before logging in (usually port 143). A server
    /// that refuses `STARTTLS` is an error; there is no fallback to plain text.
    StartTls,
    /// No encryption at all. Only allowed when the host is a loopback address (`localhost`,
    /// `127.0.0.0/8`, `::1`); anything else is refused with [`ImapError::Config`].
    Plain,
}

/// What happens to a message once `deliver` accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStore {
    /// Set `\Seen` and leave it in the mailbox.
    MarkSeen,
    /// Set `\Seen` and move it to this mailbox (created when missing). Uses `MOVE` when the
    /// server has it, else `COPY` + `\Deleted` + `EXPUNGE` (`UID EXPUNGE` with `UIDPLUS`).
    Move(String),
    /// Set `\Deleted` and expunge it (`UID EXPUNGE` with `UIDPLUS`, else `EXPUNGE`).
    Delete,
}

/// Settings of one polled mailbox.
#[derive(Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    /// The mailbox polled, usually `INBOX`.
    pub mailbox: String,
    pub after: AfterStore,
    /// Pause between rounds when IDLE is not used.
    pub poll_interval: Duration,
    /// Use IDLE (RFC 2177) between rounds when the server advertises it.
    pub use_idle: bool,
    /// An extra PEM file of CA certificates to trust besides the built-in web roots (for a
    /// server with a private or self-signed certificate).
    pub ca_file: Option<PathBuf>,
    /// Where permanently refused messages go (created when missing). `None`: they stay in the
    /// mailbox, flagged `\Seen \Flagged`.
    pub failed_mailbox: Option<String>,
    /// Messages whose `RFC822.SIZE` is larger are refused (permanent path) without downloading.
    pub max_message_bytes: u64,
}

impl ImapConfig {
    /// Defaults: port 993 with implicit TLS, `INBOX`, mark seen, IDLE on, poll every 60 s,
    /// no failed mailbox (flag instead), 25 MiB size limit.
    pub fn new(
        host: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        ImapConfig {
            host: host.into(),
            port: 993,
            security: Security::Tls,
            username: username.into(),
            password: password.into(),
            mailbox: "INBOX".into(),
            after: AfterStore::MarkSeen,
            poll_interval: Duration::from_secs(60),
            use_idle: true,
            ca_file: None,
            failed_mailbox: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Checks what can be checked without a server: plain text only to loopback, mailbox names
    /// usable, a non-zero poll interval and size limit, a readable CA file.
    pub fn validate(&self) -> Result<(), ImapError> {
        if self.host.trim().is_empty() {
            return Err(ImapError::Config("imap host is empty".into()));
        }
        if self.security == Security::Plain && !is_loopback_host(&self.host) {
            return Err(ImapError::Config(format!(
                "plain-text IMAP (no TLS) is only allowed to a loopback host, not to {:?}; \
                 use TLS or STARTTLS",
                self.host
            )));
        }
        if self.password.contains(['\r', '\n', '\0']) {
            return Err(ImapError::Config(
                "imap password contains a line break or NUL".into(),
            ));
        }
        if self.port == 0 {
            return Err(ImapError::Config("imap port is 0".into()));
        }
        check_mailbox_name("mailbox", &self.mailbox)?;
        if let AfterStore::Move(target) = &self.after {
            check_mailbox_name("move target", target)?;
            if target == &self.mailbox {
                return Err(ImapError::Config(format!(
                    "the move target {target:?} is the polled mailbox itself"
                )));
            }
        }
        if let Some(failed) = &self.failed_mailbox {
            check_mailbox_name("failed mailbox", failed)?;
            if failed == &self.mailbox {
                return Err(ImapError::Config(format!(
                    "the failed mailbox {failed:?} is the polled mailbox itself"
                )));
            }
        }
        if self.poll_interval.is_zero() {
            return Err(ImapError::Config("imap poll interval is zero".into()));
        }
        if self.max_message_bytes == 0 {
            return Err(ImapError::Config("imap max_message_bytes is zero".into()));
        }
        if let Some(path) = &self.ca_file {
            load_ca_file(path)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("mailbox", &self.mailbox)
            .field("after", &self.after)
            .field("poll_interval", &self.poll_interval)
            .field("use_idle", &self.use_idle)
            .field("ca_file", &self.ca_file)
            .field("failed_mailbox", &self.failed_mailbox)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}

/// The default for [`ImapConfig::max_message_bytes`]: 25 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 25 * 1024 * 1024;

/// What `deliver` did with a message. Every variant counts as handled: the message gets the
/// [`AfterStore`] treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Registered (a new complaint or a message added to one).
    Stored,
    /// Already known (same Message-ID): a re-fetch after a crash, say.
    Duplicate,
    /// Deliberately dropped (auto-reply, bounce loop…).
    Ignored,
}

/// Why `deliver` did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// Leave the message unseen and try again next round (database down, say).
    #[error("temporary delivery failure: {0}")]
    Temporary(String),
    /// The message can never be taken (unparseable, refused): it goes to the failed mailbox or
    /// is flagged, and is not retried.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// The callback that takes one raw RFC 5322 message.
pub type Deliver =
    Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Delivery, DeliverError>> + Send + Sync>;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Unseen messages found (including oversized ones, whose bodies are not downloaded).
    pub fetched: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub ignored: usize,
    /// Left unseen for the next round (including a `deliver` that panicked).
    pub temporary_failures: usize,
    /// Moved to the failed mailbox or flagged (including oversized messages).
    pub permanent_failures: usize,
}

impl PollStats {
    fn add(&mut self, other: &PollStats) {
        self.fetched += other.fetched;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.temporary_failures += other.temporary_failures;
        self.permanent_failures += other.permanent_failures;
    }
}

/// Errors of a poll round. None of them carries the password.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The configuration cannot work (plain text to a remote host, bad CA file…). Retrying will
    /// not help.
    #[error("imap configuration: {0}")]
    Config(String),
    /// TCP connection failed.
    #[error("imap connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    /// TLS handshake or STARTTLS failed.
    #[error("imap tls with {host}: {message}")]
    Tls { host: String, message: String },
    /// The server refused the user name or password.
    #[error("imap login refused for user {username:?}: {message}")]
    Auth { username: String, message: String },
    /// The mailbox could not be selected or created.
    #[error("imap mailbox {mailbox:?}: {message}")]
    Mailbox { mailbox: String, message: String },
    /// The server did not answer in time.
    #[error("imap timeout while {0}")]
    Timeout(&'static str),
    /// Any other protocol or I/O error (connection lost, NO/BAD to a command…).
    #[error("imap {context}: {source}")]
    Protocol {
        context: &'static str,
        #[source]
        source: async_imap::error::Error,
    },
}

impl ImapError {
    /// True for errors that a retry cannot fix ([`ImapError::Config`]).
    pub fn is_config(&self) -> bool {
        matches!(self, ImapError::Config(_))
    }
}

/// Messages per `UID FETCH BODY.PEEK[]` command (fewer when they are large: see [`chunks`]).
const FETCH_CHUNK: usize = 50;
/// Bytes per body fetch chunk, unless one message alone is larger.
const FETCH_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// UIDs per `UID FETCH RFC822.SIZE` command.
const SIZE_CHUNK: usize = 500;
/// Timeout of one ordinary command (and of the TCP connect, the TLS handshake, the login).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Re-issue IDLE this often (RFC 2177 asks for less than 29 minutes).
const IDLE_REISSUE: Duration = Duration::from_secs(25 * 60);
/// How long [`run`] lets a round finish after shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// One round on a fresh connection: connect, log in, select, `UID SEARCH UNSEEN UNDELETED`,
/// check sizes, fetch bodies in chunks with `BODY.PEEK[]`, deliver each, apply
/// [`AfterStore`] to the handled ones and the failure treatment to the refused ones, log out.
pub async fn poll_once(cfg: &ImapConfig, deliver: &Deliver) -> Result<PollStats, ImapError> {
    cfg.validate()?;
    let mut open = Open::connect(cfg).await?;
    let stats = open.process(cfg, deliver, None).await?;
    open.logout().await;
    Ok(stats)
}

/// The poller's loop. Polls; then waits with IDLE when the server advertises it and
/// `use_idle` is set (re-issued every 25 minutes), else sleeps `poll_interval` (on a new
/// connection each round). Errors are logged and the connection is rebuilt with back-off
/// (1 s doubling to 5 min). A round with temporary failures is followed by the next one after
/// `poll_interval` even when idling, so that they are retried without waiting for new mail.
///
/// Returns promptly once `shutdown` is `true` (or its sender is dropped): after the message
/// being delivered and recording what was handled, or after [`SHUTDOWN_GRACE`] at most (a
/// round cut short is safe: what was not recorded is fetched again next time). A
/// configuration error ([`ImapConfig::validate`]) is logged once and the loop then only waits
/// for shutdown.
pub async fn run(cfg: ImapConfig, deliver: Deliver, mut shutdown: watch::Receiver<bool>) {
    if let Err(e) = cfg.validate() {
        tracing::error!(error = %e, host = %cfg.host, "imap poller not started");
        wait_shutdown(&mut shutdown).await;
        return;
    }
    let mut backoff = BACKOFF_MIN;
    loop {
        if is_shutdown(&shutdown) {
            return;
        }
        let result = {
            let mut watcher = shutdown.clone();
            let work = run_connection(&cfg, &deliver, &mut shutdown, &mut backoff);
            tokio::pin!(work);
            tokio::select! {
                r = &mut work => r,
                _ = wait_shutdown(&mut watcher) => match timeout(SHUTDOWN_GRACE, &mut work).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(host = %cfg.host, "imap poller stopped in the middle of a round");
                        return;
                    }
                },
            }
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    host = %cfg.host,
                    mailbox = %cfg.mailbox,
                    retry_in_secs = backoff.as_secs(),
                    "imap poll failed"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = wait_shutdown(&mut shutdown) => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One connection's life in [`run`]. `Ok(())` means shutdown was requested.
async fn run_connection(
    cfg: &ImapConfig,
    deliver: &Deliver,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), ImapError> {
    let mut open = Open::connect(cfg).await?;
    loop {
        // Rounds until nothing new arrived while we were busy.
        let mut retry_soon;
        loop {
            open.drain_unsolicited();
            let stats = open.process(cfg, deliver, Some(shutdown)).await?;
            *backoff = BACKOFF_MIN;
            log_round(cfg, &stats);
            retry_soon = stats.temporary_failures > 0;
            if is_shutdown(shutdown) {
                open.logout().await;
                return Ok(());
            }
            if !open.drain_unsolicited() {
                break;
            }
        }
        if !(cfg.use_idle && open.caps.idle) {
            open.logout().await;
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll_interval) => {}
                _ = wait_shutdown(shutdown) => return Ok(()),
            }
            open = Open::connect(cfg).await?;
            continue;
        }
        let wait = if retry_soon {
            cfg.poll_interval.min(IDLE_REISSUE)
        } else {
            IDLE_REISSUE
        };
        match open.idle(shutdown, wait).await? {
            Some(again) => open = again,
            None => return Ok(()),
        }
    }
}

fn log_round(cfg: &ImapConfig, s: &PollStats) {
    if s.fetched == 0 {
        tracing::debug!(mailbox = %cfg.mailbox, "imap poll: nothing new");
    } else {
        tracing::info!(
            mailbox = %cfg.mailbox,
            fetched = s.fetched,
            stored = s.stored,
            duplicates = s.duplicates,
            ignored = s.ignored,
            temporary_failures = s.temporary_failures,
            permanent_failures = s.permanent_failures,
            "imap poll"
        );
    }
}

fn is_shutdown(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow() || rx.has_changed().is_err()
}

/// Completes when the value is `true` or the sender is gone.
async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|&stop| stop).await;
}

// --- the transport ----------------------------------------------------------------------

/// The byte stream under the IMAP client: plain TCP (loopback only) or TLS.
///
/// It also keeps the password out of logs: async-imap logs every command it sends at `trace`
/// level (through the `log` crate, which a tracing subscriber may forward), `LOGIN` included.
/// So the client is given a placeholder for the password, and this stream swaps the real
/// (quoted) password in on the way out, once.
struct Conn {
    inner: Inner,
    secret: Option<Secret>,
    pending: Option<Pending>,
}

enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

struct Secret {
    /// What the client writes (a quoted token).
    placeholder: Vec<u8>,
    /// What goes on the wire instead (the quoted password).
    value: Vec<u8>,
}

/// A rewritten write being flushed: `bytes[written..]` still to go; once done, the caller is
/// told that its `reported` bytes were written.
struct Pending {
    bytes: Vec<u8>,
    written: usize,
    reported: usize,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Plain(_) => "plain",
            Inner::Tls(_) => "tls",
        };
        f.debug_struct("Conn")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// The token the client sees instead of the password.
const PASSWORD_PLACEHOLDER: &str = "ombuds-password-placeholder-7f3e9c";

impl Conn {
    fn new(inner: Inner) -> Conn {
        Conn {
            inner,
            secret: None,
            pending: None,
        }
    }

    /// Arms the one-time swap of the quoted placeholder for the quoted password.
    fn arm_password(&mut self, password: &str) {
        self.secret = Some(Secret {
            placeholder: quote(PASSWORD_PLACEHOLDER).into_bytes(),
            value: quote(password).into_bytes(),
        });
    }

    fn disarm(&mut self) {
        self.secret = None;
    }
}

impl Inner {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut p = match this.pending.take() {
            // Called again by `write_all` with the same buffer until the rewrite is out.
            Some(p) => p,
            None => {
                let armed = this.secret.take_if(|s| find(buf, &s.placeholder).is_some());
                let Some((secret, at)) =
                    armed.and_then(|s| find(buf, &s.placeholder).map(|at| (s, at)))
                else {
                    return this.inner.poll_write(cx, buf);
                };
                let mut bytes = Vec::with_capacity(buf.len() + secret.value.len());
                bytes.extend_from_slice(&buf[..at]);
                bytes.extend_from_slice(&secret.value);
                bytes.extend_from_slice(&buf[at + secret.placeholder.len()..]);
                Pending {
                    bytes,
                    written: 0,
                    reported: buf.len(),
                }
            }
        };
        while p.written < p.bytes.len() {
            match this.inner.poll_write(cx, &p.bytes[p.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => p.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    this.pending = Some(p);
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(p.reported))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_mailbox_name(what: &str, name: &str) -> Result<(), ImapError> {
    if name.is_empty() {
        return Err(ImapError::Config(format!("imap {what} name is empty")));
    }
    if name.contains(['\r', '\n', '\0', '%', '*']) {
        return Err(ImapError::Config(format!(
            "imap {what} name {name:?} contains a forbidden character"
        )));
    }
    Ok(())
}

fn load_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, ImapError> {
    let bad = |m: String| ImapError::Config(format!("imap ca_file {}: {m}", path.display()));
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(certs)
}

fn tls_connector(cfg: &ImapConfig) -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca_file {
        for cert in load_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| ImapError::Config(format!("imap ca_file {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Config(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls_handshake(cfg: &ImapConfig, tcp: TcpStream) -> Result<Conn, ImapError> {
    let connector = tls_connector(cfg)?;
    let host = cfg.host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| ImapError::Tls {
        host: cfg.host.clone(),
        message: format!("not a valid server name: {e}"),
    })?;
    let tls = timeout(COMMAND_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout("doing the TLS handshake"))?
        .map_err(|e| ImapError::Tls {
            host: cfg.host.clone(),
            message: e.to_string(),
        })?;
    Ok(Conn::new(Inner::Tls(Box::new(tls))))
}

/// Runs `fut` with [`COMMAND_TIMEOUT`] and wraps its error.
async fn cmd<T>(
    context: &'static str,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    timeout(COMMAND_TIMEOUT, fut)
        .await
        .map_err(|_| ImapError::Timeout(context))?
        .map_err(|source| ImapError::Protocol { context, source })
}

/// Reads the server greeting: `* OK` (or `* PREAUTH`) goes on, `* BYE` is an error.
async fn read_greeting<T>(client: &mut Client<T>) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    use async_imap::imap_proto::{Response, Status};
    let greeting = timeout(COMMAND_TIMEOUT, client.read_response())
        .await
        .map_err(|_| ImapError::Timeout("waiting for the server greeting"))?
        .map_err(|e| ImapError::Protocol {
            context: "reading the server greeting",
            source: e.into(),
        })?;
    let Some(greeting) = greeting else {
        return Err(ImapError::Protocol {
            context: "reading the server greeting",
            source: async_imap::error::Error::ConnectionLost,
        });
    };
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        other => Err(ImapError::Protocol {
            context: "reading the server greeting",
            source: async_imap::error::Error::Bad(format!("unexpected greeting: {other:?}")),
        }),
    }
}

// --- one connection ---------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

/// A logged-in session with the polled mailbox selected.
struct Open {
    session: Session<Conn>,
    caps: Caps,
    /// Mailboxes known to exist (created or listed on this connection).
    known_mailboxes: HashSet<String>,
}

/// Per-message outcome inside a round.
enum Outcome {
    Handled,
    Failed,
    Retry,
}

impl Open {
    async fn connect(cfg: &ImapConfig) -> Result<Open, ImapError> {
        let addr_host = cfg.host.trim_start_matches('[').trim_end_matches(']');
        let addr = format!("{}:{}", cfg.host, cfg.port);
        let tcp = timeout(COMMAND_TIMEOUT, TcpStream::connect((addr_host, cfg.port)))
            .await
            .map_err(|_| ImapError::Timeout("connecting"))?
            .map_err(|source| ImapError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);

        let mut client = match cfg.security {
            Security::Plain => {
                let mut c = Client::new(Conn::new(Inner::Plain(tcp)));
                read_greeting(&mut c).await?;
                c
            }
            Security::Tls => {
                let mut c = Client::new(tls_handshake(cfg, tcp).await?);
                read_greeting(&mut c).await?;
                c
            }
            Security::StartTls => {
                let mut plain = Client::new(tcp);
                read_greeting(&mut plain).await?;
                timeout(
                    COMMAND_TIMEOUT,
                    plain.run_command_and_check_ok("STARTTLS", None),
                )
                .await
                .map_err(|_| ImapError::Timeout("starting TLS"))?
                .map_err(|e| ImapError::Tls {
                    host: cfg.host.clone(),
                    message: format!("the server refused STARTTLS: {e}"),
                })?;
                // `into_inner` drops anything the server sent after its STARTTLS answer (no
                // plain-text injection into the TLS session). No greeting follows the upgrade.
                Client::new(tls_handshake(cfg, plain.into_inner()).await?)
            }
        };
        client.get_mut().arm_password(&cfg.password);
        let mut session = match timeout(
            COMMAND_TIMEOUT,
            client.login(&cfg.username, PASSWORD_PLACEHOLDER),
        )
        .await
        {
            Err(_) => return Err(ImapError::Timeout("logging in")),
            Ok(Ok(mut session)) => {
                session.get_mut().disarm();
                session
            }
            Ok(Err((e, _client))) => {
                return Err(match e {
                    async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                        ImapError::Auth {
                            username: cfg.username.clone(),
                            message: m,
                        }
                    }
                    async_imap::error::Error::Validate(v) => ImapError::Auth {
                        username: cfg.username.clone(),
                        message: format!("user name or password not sendable: {v}"),
                    },
                    source => ImapError::Protocol {
                        context: "logging in",
                        source,
                    },
                });
            }
        };

        let capabilities = cmd("asking for capabilities", session.capabilities()).await?;
        let caps = Caps {
            idle: capabilities.has_str("IDLE"),
            mv: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
        };
        match timeout(COMMAND_TIMEOUT, session.select(&cfg.mailbox)).await {
            Err(_) => return Err(ImapError::Timeout("selecting the mailbox")),
            Ok(Err(e)) => {
                return Err(ImapError::Mailbox {
                    mailbox: cfg.mailbox.clone(),
                    message: e.to_string(),
                });
            }
            Ok(Ok(_mailbox)) => {}
        }
        tracing::debug!(host = %cfg.host, mailbox = %cfg.mailbox, ?caps, "imap connected");
        Ok(Open {
            session,
            caps,
            known_mailboxes: HashSet::new(),
        })
    }

    /// Empties the unsolicited-response queue; true if it held news of new messages.
    fn drain_unsolicited(&mut self) -> bool {
        let mut news = false;
        while let Ok(r) = self.session.unsolicited_responses.try_recv() {
            news |= matches!(r, UnsolicitedResponse::Exists(_));
        }
        news
    }

    async fn logout(mut self) {
        let _ = timeout(Duration::from_secs(5), self.session.logout()).await;
    }

    /// One round on this connection.
    async fn process(
        &mut self,
        cfg: &ImapConfig,
        deliver: &Deliver,
        shutdown: Option<&watch::Receiver<bool>>,
    ) -> Result<PollStats, ImapError> {
        let mut stats = PollStats::default();
        let mut uids: Vec<u32> = cmd(
            "searching unseen messages",
            self.session.uid_search("UNSEEN UNDELETED"),
        )
        .await?
        .into_iter()
        .collect();
        uids.sort_unstable();
        if uids.is_empty() {
            return Ok(stats);
        }
        stats.fetched = uids.len();

        // Sizes first: an oversized message is refused without downloading it.
        let mut sized: Vec<(u32, u64)> = Vec::with_capacity(uids.len());
        for part in uids.chunks(SIZE_CHUNK) {
            let set = uid_set(part);
            let fetches: Vec<_> = cmd("fetching message sizes", async {
                self.session
                    .uid_fetch(&set, "(UID RFC822.SIZE)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
            for f in fetches {
                if let Some(uid) = f.uid {
                    sized.push((uid, f.size.map(u64::from).unwrap_or(0)));
                }
            }
        }
        // Only what we asked for (a server may add unsolicited FETCH responses).
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        sized.retain(|(uid, _)| wanted.contains(uid));
        sized.sort_unstable();
        sized.dedup_by_key(|(uid, _)| *uid);
        // Messages gone between SEARCH and FETCH (expunged by someone else) are not counted.
        stats.fetched = sized.len();

        let mut oversized = Vec::new();
        sized.retain(|&(uid, size)| {
            if size > cfg.max_message_bytes {
                tracing::warn!(
                    mailbox = %cfg.mailbox,
                    uid,
                    size,
                    limit = cfg.max_message_bytes,
                    "imap message larger than the limit: refused without downloading it"
                );
                oversized.push(uid);
                false
            } else {
                true
            }
        });
        if !oversized.is_empty() {
            stats.permanent_failures += oversized.len();
            self.fail(cfg, &oversized).await?;
        }

        for chunk in chunks(&sized, cfg.max_message_bytes) {
            if shutdown.is_some_and(is_shutdown) {
                break;
            }
            let mut chunk_stats = PollStats::default();
            let set = uid_set(&chunk.iter().map(|(uid, _)| *uid).collect::<Vec<_>>());
            let bytes: u64 = chunk.iter().map(|(_, size)| size).sum();
            let body_timeout = COMMAND_TIMEOUT + Duration::from_secs(bytes / (256 * 1024));
            let fetches = timeout(body_timeout, async {
                self.session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await
            .map_err(|_| ImapError::Timeout("fetching message bodies"))?
            .map_err(|source| ImapError::Protocol {
                context: "fetching message bodies",
                source,
            })?;

            // Own the bodies (in UID order, each once) and let the responses go.
            let mut seen_in_chunk = HashSet::new();
            let mut bodies: Vec<(u32, Vec<u8>)> = Vec::with_capacity(chunk.len());
            for f in &fetches {
                let Some(uid) = f.uid else { continue };
                if !chunk.iter().any(|(u, _)| *u == uid) || !seen_in_chunk.insert(uid) {
                    continue;
                }
                match f.body() {
                    Some(body) => bodies.push((uid, body.to_vec())),
                    None => {
                        tracing::warn!(mailbox = %cfg.mailbox, uid, "imap fetch returned no body")
                    }
                }
            }
            drop(fetches);
            bodies.sort_unstable_by_key(|(uid, _)| *uid);

            let mut handled = Vec::new();
            let mut failed = Vec::new();
            for (uid, body) in bodies {
                if body.len() as u64 > cfg.max_message_bytes {
                    tracing::warn!(
                        mailbox = %cfg.mailbox,
                        uid,
                        size = body.len(),
                        "imap message larger than the limit"
                    );
                    chunk_stats.permanent_failures += 1;
                    failed.push(uid);
                    continue;
                }
                match deliver_one(deliver, body, cfg, uid, &mut chunk_stats).await {
                    Outcome::Handled => handled.push(uid),
                    Outcome::Failed => failed.push(uid),
                    Outcome::Retry => {}
                }
                if shutdown.is_some_and(is_shutdown) {
                    break;
                }
            }
            // Record progress chunk by chunk: a crash later re-fetches only what is left.
            if !handled.is_empty() {
                self.after_store(cfg, &handled).await?;
            }
            if !failed.is_empty() {
                self.fail(cfg, &failed).await?;
            }
            stats.add(&chunk_stats);
        }
        Ok(stats)
    }

    /// The [`AfterStore`] treatment of delivered messages.
    async fn after_store(&mut self, cfg: &ImapConfig, uids: &[u32]) -> Result<(), ImapError> {
        let set = uid_set(uids);
        match &cfg.after {
            AfterStore::MarkSeen => self.store_flags(&set, "+FLAGS.SILENT (\\Seen)").await,
            AfterStore::Move(target) => {
                self.store_flags(&set, "+FLAGS.SILENT (\\Seen)").await?;
                self.move_to(&set, target).await
            }
            AfterStore::Delete => {
                self.store_flags(&set, "+FLAGS.SILENT (\\Seen \\Deleted)")
                    .await?;
                self.expunge(&set).await
            }
        }
    }

    /// The treatment of permanently refused messages.
    async fn fail(&mut self, cfg: &ImapConfig, uids: &[u32]) -> Result<(), ImapError> {
        let set = uid_set(uids);
        match &cfg.failed_mailbox {
            Some(target) => self.move_to(&set, target).await,
            None => {
                self.store_flags(&set, "+FLAGS.SILENT (\\Seen \\Flagged)")
                    .await
            }
        }
    }

    async fn store_flags(&mut self, set: &str, change: &str) -> Result<(), ImapError> {
        cmd("storing flags", async {
            self.session
                .uid_store(set, change)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map(drop)
    }

    async fn expunge(&mut self, set: &str) -> Result<(), ImapError> {
        if self.caps.uidplus {
            cmd("expunging", async {
                self.session
                    .uid_expunge(set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await
            .map(drop)
        } else {
            cmd("expunging", async {
                self.session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await
            .map(drop)
        }
    }

    async fn move_to(&mut self, set: &str, target: &str) -> Result<(), ImapError> {
        self.ensure_mailbox(target).await?;
        if self.caps.mv {
            cmd("moving messages", self.session.uid_mv(set, target)).await
        } else {
            cmd("copying messages", self.session.uid_copy(set, target)).await?;
            self.store_flags(set, "+FLAGS.SILENT (\\Deleted)").await?;
            self.expunge(set).await
        }
    }

    /// Creates `name` unless `LIST` shows it exists.
    async fn ensure_mailbox(&mut self, name: &str) -> Result<(), ImapError> {
        if self.known_mailboxes.contains(name) {
            return Ok(());
        }
        let pattern = quote(name);
        let names = cmd("listing mailboxes", async {
            self.session
                .list(Some(""), Some(&pattern))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let exists = names.iter().any(|n| n.name() == name);
        if !exists {
            match timeout(COMMAND_TIMEOUT, self.session.create(name)).await {
                Err(_) => return Err(ImapError::Timeout("creating a mailbox")),
                Ok(Err(e)) => {
                    return Err(ImapError::Mailbox {
                        mailbox: name.to_string(),
                        message: format!("cannot create it: {e}"),
                    });
                }
                Ok(Ok(())) => {
                    tracing::info!(mailbox = name, "imap mailbox created");
                    // So that mail clients show it; not needed by us.
                    let _ = timeout(COMMAND_TIMEOUT, self.session.subscribe(name)).await;
                }
            }
        }
        self.known_mailboxes.insert(name.to_string());
        Ok(())
    }

    /// IDLE until the server reports a change, `wait` passed, or shutdown. Gives the
    /// connection back, or `None` at shutdown (after DONE and LOGOUT, best effort).
    async fn idle(
        self,
        shutdown: &mut watch::Receiver<bool>,
        wait: Duration,
    ) -> Result<Option<Open>, ImapError> {
        use async_imap::extensions::idle::IdleResponse;
        let Open {
            session,
            caps,
            known_mailboxes,
        } = self;
        // The handle keeps the session until DONE; this receiver shows what the server said
        // while IDLE was starting (a message that arrived just before it).
        let unsolicited = session.unsolicited_responses.clone();
        let mut handle = session.idle();
        cmd("starting IDLE", handle.init()).await?;
        let mut news = false;
        while let Ok(r) = unsolicited.try_recv() {
            news |= matches!(r, UnsolicitedResponse::Exists(_));
        }
        let stop = if news {
            false
        } else {
            // The library's own timeout restarts at every server keepalive (Dovecot sends one
            // every 2 minutes); the sleep bounds the whole IDLE.
            let (idle_wait, _interrupt) = handle.wait_with_timeout(wait);
            tokio::select! {
                r = idle_wait => match r {
                    Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt) => false,
                    Err(source) => return Err(ImapError::Protocol { context: "waiting in IDLE", source }),
                },
                _ = tokio::time::sleep(wait) => false,
                _ = wait_shutdown(shutdown) => true,
            }
        };
        if stop {
            if let Ok(Ok(mut session)) = timeout(Duration::from_secs(5), handle.done()).await {
                let _ = timeout(Duration::from_secs(5), session.logout()).await;
            }
            return Ok(None);
        }
        let session = cmd("ending IDLE", handle.done()).await?;
        Ok(Some(Open {
            session,
            caps,
            known_mailboxes,
        }))
    }
}

/// Splits sized messages into body-fetch chunks: at most [`FETCH_CHUNK`] messages and about
/// [`FETCH_CHUNK_BYTES`] (or one message, if a single one is larger).
fn chunks(sized: &[(u32, u64)], max_message_bytes: u64) -> Vec<Vec<(u32, u64)>> {
    let byte_cap = FETCH_CHUNK_BYTES.max(max_message_bytes.min(FETCH_CHUNK_BYTES * 4));
    let mut out: Vec<Vec<(u32, u64)>> = Vec::new();
    let mut cur: Vec<(u32, u64)> = Vec::new();
    let mut cur_bytes = 0u64;
    for &(uid, size) in sized {
        if !cur.is_empty() && (cur.len() >= FETCH_CHUNK || cur_bytes + size > byte_cap) {
            out.push(std::mem::take(&mut cur));
            cur_bytes = 0;
        }
        cur.push((uid, size));
        cur_bytes += size;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Compact UID set: `1:3,7,9:10` from sorted (or unsorted) UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Calls `deliver` for one message, catching a panic (counted as a temporary failure: the
/// message stays unseen).
async fn deliver_one(
    deliver: &Deliver,
    raw: Vec<u8>,
    cfg: &ImapConfig,
    uid: u32,
    stats: &mut PollStats,
) -> Outcome {
    let fut = deliver(raw);
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(Delivery::Stored)) => {
            stats.stored += 1;
            Outcome::Handled
        }
        Ok(Ok(Delivery::Duplicate)) => {
            stats.duplicates += 1;
            Outcome::Handled
        }
        Ok(Ok(Delivery::Ignored)) => {
            stats.ignored += 1;
            Outcome::Handled
        }
        Ok(Err(DeliverError::Temporary(reason))) => {
            tracing::warn!(mailbox = %cfg.mailbox, uid, %reason, "imap message left for the next round");
            stats.temporary_failures += 1;
            Outcome::Retry
        }
        Ok(Err(DeliverError::Permanent(reason))) => {
            tracing::warn!(mailbox = %cfg.mailbox, uid, %reason, "imap message refused");
            stats.permanent_failures += 1;
            Outcome::Failed
        }
        Err(_panic) => {
            tracing::error!(mailbox = %cfg.mailbox, uid, "imap deliver panicked: message left unseen");
            stats.temporary_failures += 1;
            Outcome::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10, 10]), "1:3,7,9:10");
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
            "[::1]",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.org",
            "10.0.0.1",
            "192.168.1.1",
            "localhost.example.org",
            "::2",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn chunks_respect_count_and_bytes() {
        let many: Vec<(u32, u64)> = (1..=120).map(|u| (u, 10)).collect();
        let c = chunks(&many, 1000);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 20]);
        let big: Vec<(u32, u64)> = (1..=3).map(|u| (u, FETCH_CHUNK_BYTES - 1)).collect();
        assert_eq!(chunks(&big, FETCH_CHUNK_BYTES).len(), 3);
    }

    #[tokio::test]
    async fn conn_swaps_the_placeholder_for_the_password_once() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut conn = Conn::new(Inner::Plain(client.unwrap()));
        let (mut server, _) = server.unwrap();
        conn.arm_password("p\"a\\ss word");
        // Written in pieces, as async-imap does: tag, space, command, line end.
        let command = format!("LOGIN \"desk\" {}", quote(PASSWORD_PLACEHOLDER));
        for _ in 0..2 {
            for piece in ["A1", " ", &command, "\r\n"] {
                conn.write_all(piece.as_bytes()).await.unwrap();
            }
        }
        conn.flush().await.unwrap();
        drop(conn);
        let mut got = String::new();
        server.read_to_string(&mut got).await.unwrap();
        let first = "A1 LOGIN \"desk\" \"p\\\"a\\\\ss word\"\r\n";
        assert_eq!(
            got,
            format!("{first}A1 {command}\r\n"),
            "swapped once, then passed through"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = ImapConfig::new("imap.example.org", "desk", "hunter2-secret");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
