//! The SMTP listener (RFC 5321 server side, for receiving mail addressed to the desk).
//!
//! Written on tokio rather than on a synchronous SMTP state machine because of one rule: the
//! final `250` after `DATA` is sent only once the message is durably stored (the handler's
//! future resolves after the store's commit). A sender that gets `250` may delete its copy.
//!
//! Supported: `EHLO`/`HELO`, `MAIL FROM` (with `SIZE`, `BODY`, `SMTPUTF8`), `RCPT TO`,
//! `DATA`, `RSET`, `NOOP`, `VRFY` (never confirms), `HELP`, `QUIT`, `STARTTLS` when a
//! certificate is configured, `PIPELINING`, `ENHANCEDSTATUSCODES`. Not `AUTH`: this is an
//! inbound mail exchanger, it relays nothing.
//!
//! Limits: command lines of at most 512 bytes (RFC 5321 §4.5.3.1.4, with some slack), the
//! message size announced in `SIZE`, a number of recipients, an idle timeout per command, a
//! number of connections, and a number of protocol errors per session before it is closed.

use futures_util::future::BoxFuture;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// One SMTP reply: a code, an enhanced status code and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        // A reply is one line: whatever a handler says must not break the protocol.
        let text: String = text.into().chars().map(|c| if c.is_control() { ' ' } else { c }).take(400).collect();
        Reply { code, enhanced, text }
    }
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, "2.0.0", text)
    }
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} {} {}\r\n", self.code, self.enhanced, self.text).as_bytes());
    }
}

/// The envelope of one message, as the client stated it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub peer: SocketAddr,
    pub helo: String,
    /// Empty for a bounce (`MAIL FROM:<>`).
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub tls: bool,
}

/// What the listener asks of the desk's side. `data` answers only after the message is
/// stored (or refused): its reply is the one the client gets.
pub trait SmtpHandler: Send + Sync + 'static {
    /// A sender may be refused early (rate limits): a 4xx makes it try again later.
    fn mail_from(&self, _from: &str, _peer: IpAddr) -> Result<(), Reply> {
        Ok(())
    }
    fn rcpt_to(&self, rcpt: &str) -> Result<(), Reply>;
    fn data(self: Arc<Self>, envelope: Envelope, raw: Vec<u8>) -> BoxFuture<'static, Reply>;
}

#[derive(Clone)]
pub struct SmtpConfig {
    /// The name the server greets with.
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// How long the server waits for a command or a data line.
    pub timeout: Duration,
    pub max_connections: usize,
    /// Protocol errors tolerated in one session before it is closed.
    pub max_errors: usize,
    /// STARTTLS is offered when set.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            timeout: Duration::from_secs(300),
            max_connections: 512,
            max_errors: 10,
            tls: None,
        }
    }
}

/// Accepts connections until `shutdown` turns true; sessions in progress finish on their own.
pub async fn serve(listener: TcpListener, config: SmtpConfig, handler: Arc<dyn SmtpHandler>, mut shutdown: watch::Receiver<bool>) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if *shutdown.borrow() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let (config, handler) = (config.clone(), handler.clone());
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, peer, &config, handler).await {
                        tracing::debug!(%peer, error = %e, "smtp session ended with an error");
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = stream.write_all(b"421 4.7.0 Too many connections, try again later\r\n").await;
                });
            }
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, config: &SmtpConfig, handler: Arc<dyn SmtpHandler>) -> std::io::Result<()> {
    metrics::counter!("ombuds_smtp_sessions_total").increment(1);
    // The greeting carries no enhanced status code (RFC 2034 §3).
    let greeting = format!("220 {} ESMTP ombuds ready\r\n", config.hostname.replace(|c: char| c.is_control(), "")).into_bytes();
    match session(stream, peer, config, &handler, false, greeting).await? {
        After::Closed => Ok(()),
        After::StartTls(stream) => {
            let Some(tls) = &config.tls else { return Ok(()) };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            let stream = tokio::time::timeout(config.timeout, acceptor.accept(stream)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
            // RFC 3207: after the handshake the client starts over with EHLO; no greeting.
            match session(stream, peer, config, &handler, true, Vec::new()).await? {
                After::Closed | After::StartTls(_) => Ok(()),
            }
        }
    }
}

enum After<S> {
    Closed,
    StartTls(S),
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    rcpt: Vec<String>,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
}

/// Reads one line (through `\n`) of at most `max` bytes; a longer line is consumed to its end
/// and reported as too long, so memory stays bounded whatever the client sends.
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long { Line::Eof } else if too_long { Line::TooLong } else { Line::Text(line) });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if !too_long {
            if line.len() + n > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Text(line) });
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `<addr>` from `FROM:<addr> PARAMS`; returns the address (unquoted as given) and the rest.
fn path_arg<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let rest = arg.get(..keyword.len()).filter(|k| k.eq_ignore_ascii_case(keyword)).map(|_| &arg[keyword.len()..])?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let addr = &rest[..end];
    // Source routes (`@a,@b:user@c`) are obsolete: keep the mailbox.
    let addr = addr.rsplit_once(':').filter(|(route, _)| route.starts_with('@')).map_or(addr, |(_, a)| a);
    Some((addr, rest[end + 1..].trim()))
}

fn valid_mailbox(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && !domain.is_empty()
        && domain.len() <= 255
        && !addr.chars().any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    config: &SmtpConfig,
    handler: &Arc<dyn SmtpHandler>,
    tls: bool,
    greeting: Vec<u8>,
) -> std::io::Result<After<S>> {
    let mut io = BufReader::with_capacity(16 * 1024, stream);
    let mut out: Vec<u8> = greeting;
    let mut helo: Option<String> = None;
    let mut tx = Transaction::default();
    let mut errors = 0usize;
    macro_rules! reply {
        ($code:expr, $enh:expr, $($t:tt)*) => {
            Reply::new($code, $enh, format!($($t)*)).write_to(&mut out)
        };
    }
    // A refusal that counts towards `max_errors`.
    macro_rules! fail {
        ($code:expr, $enh:expr, $($t:tt)*) => {{
            errors += 1;
            reply!($code, $enh, $($t)*)
        }};
    }
    // A handler's answer: its permanent refusals count as errors too.
    macro_rules! answer {
        ($r:expr) => {{
            let r: Reply = $r;
            if r.code >= 500 {
                errors += 1;
            }
            r.write_to(&mut out)
        }};
    }
    loop {
        // Pipelining: answer a group of commands together, when there is nothing more to read.
        if io.buffer().is_empty() && !out.is_empty() {
            io.get_mut().write_all(&out).await?;
            io.get_mut().flush().await?;
            out.clear();
        }
        if errors >= config.max_errors {
            reply!(421, "4.7.0", "Too many errors, closing the connection");
            io.get_mut().write_all(&out).await?;
            return Ok(After::Closed);
        }
        let line = match tokio::time::timeout(config.timeout, read_line(&mut io, 1024)).await {
            Err(_) => {
                reply!(421, "4.4.2", "{} Timeout, closing the connection", config.hostname);
                let _ = io.get_mut().write_all(&out).await;
                return Ok(After::Closed);
            }
            Ok(r) => r?,
        };
        let line = match line {
            Line::Eof => return Ok(After::Closed),
            Line::TooLong => {
                fail!(500, "5.5.2", "Line too long");
                continue;
            }
            Line::Text(l) => l,
        };
        let Ok(text) = std::str::from_utf8(strip_eol(&line)) else {
            fail!(500, "5.5.2", "Command is not valid UTF-8");
            continue;
        };
        let (verb, arg) = text.split_once(' ').map_or((text, ""), |(v, a)| (v, a.trim()));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => {
                fail!(501, "5.5.4", "Syntax: {verb} hostname");
            }
            "EHLO" => {
                helo = Some(arg.chars().take(255).collect());
                tx = Transaction::default();
                let mut lines = vec![
                    format!("{} greets {}", config.hostname, arg.chars().take(64).collect::<String>()),
                    "PIPELINING".into(),
                    format!("SIZE {}", config.max_message_bytes),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if config.tls.is_some() && !tls {
                    lines.push("STARTTLS".into());
                }
                let last = lines.len() - 1;
                for (i, l) in lines.iter().enumerate() {
                    let l: String = l.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
                    out.extend_from_slice(format!("250{}{}\r\n", if i == last { ' ' } else { '-' }, l).as_bytes());
                }
            }
            "HELO" => {
                helo = Some(arg.chars().take(255).collect());
                tx = Transaction::default();
                reply!(250, "2.0.0", "{}", config.hostname);
            }
            "STARTTLS" => {
                if config.tls.is_none() || tls {
                    fail!(502, "5.5.1", "STARTTLS not available");
                } else if !arg.is_empty() {
                    fail!(501, "5.5.4", "STARTTLS takes no argument");
                } else {
                    // Anything the client pipelined after STARTTLS would otherwise be read as if
                    // it had come over TLS (the CVE-2011-0411 class of bugs): refuse it.
                    if !io.buffer().is_empty() {
                        reply!(554, "5.5.1", "Commands pipelined after STARTTLS, closing");
                        io.get_mut().write_all(&out).await?;
                        return Ok(After::Closed);
                    }
                    reply!(220, "2.0.0", "Ready to start TLS");
                    io.get_mut().write_all(&out).await?;
                    io.get_mut().flush().await?;
                    return Ok(After::StartTls(io.into_inner()));
                }
            }
            "MAIL" => {
                if helo.is_none() {
                    fail!(503, "5.5.1", "Say EHLO first");
                    continue;
                }
                if tx.from.is_some() {
                    fail!(503, "5.5.1", "Sender already given; RSET to start over");
                    continue;
                }
                let Some((addr, params)) = path_arg(arg, "FROM:") else {
                    fail!(501, "5.5.4", "Syntax: MAIL FROM:<address>");
                    continue;
                };
                if !addr.is_empty() && !valid_mailbox(addr) {
                    fail!(553, "5.1.7", "Bad sender address syntax");
                    continue;
                }
                let mut refused = None;
                for p in params.split_whitespace() {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    match k.to_ascii_uppercase().as_str() {
                        "SIZE" => match v.parse::<u64>() {
                            Ok(n) if n > config.max_message_bytes as u64 => {
                                refused = Some(Reply::new(552, "5.3.4", format!("Message too big: the limit is {} bytes", config.max_message_bytes)));
                            }
                            Ok(_) => {}
                            Err(_) => refused = Some(Reply::new(501, "5.5.4", "Bad SIZE parameter")),
                        },
                        "BODY" | "SMTPUTF8" | "RET" | "ENVID" | "AUTH" => {}
                        _ => refused = Some(Reply::new(555, "5.5.4", format!("Unsupported parameter {k}"))),
                    }
                }
                if refused.is_none()
                    && let Err(r) = handler.mail_from(&addr.to_ascii_lowercase(), peer.ip())
                {
                    refused = Some(r);
                }
                match refused {
                    Some(r) => {
                        answer!(r);
                    }
                    None => {
                        tx.from = Some(addr.to_string());
                        reply!(250, "2.1.0", "Sender ok");
                    }
                }
            }
            "RCPT" => {
                if tx.from.is_none() {
                    fail!(503, "5.5.1", "MAIL FROM first");
                    continue;
                }
                let Some((addr, _params)) = path_arg(arg, "TO:") else {
                    fail!(501, "5.5.4", "Syntax: RCPT TO:<address>");
                    continue;
                };
                if !valid_mailbox(addr) {
                    fail!(553, "5.1.3", "Bad recipient address syntax");
                    continue;
                }
                if tx.rcpt.len() >= config.max_recipients {
                    reply!(452, "4.5.3", "Too many recipients");
                    continue;
                }
                let addr = addr.to_ascii_lowercase();
                match handler.rcpt_to(&addr) {
                    Ok(()) => {
                        if !tx.rcpt.contains(&addr) {
                            tx.rcpt.push(addr);
                        }
                        reply!(250, "2.1.5", "Recipient ok");
                    }
                    Err(r) => {
                        answer!(r);
                    }
                }
            }
            "DATA" => {
                if tx.from.is_none() || tx.rcpt.is_empty() {
                    fail!(503, "5.5.1", "{}", if tx.from.is_none() { "MAIL FROM first" } else { "RCPT TO first" });
                    continue;
                }
                reply!(354, "2.0.0", "End data with <CR><LF>.<CR><LF>");
                io.get_mut().write_all(&out).await?;
                io.get_mut().flush().await?;
                out.clear();
                let mut raw: Vec<u8> = Vec::with_capacity(16 * 1024);
                let mut too_big = false;
                loop {
                    let line = match tokio::time::timeout(config.timeout, read_line(&mut io, 1024 * 1024)).await {
                        Err(_) => {
                            reply!(421, "4.4.2", "Timeout while reading data, closing");
                            let _ = io.get_mut().write_all(&out).await;
                            return Ok(After::Closed);
                        }
                        Ok(r) => r?,
                    };
                    let line = match line {
                        Line::Eof => return Ok(After::Closed),
                        // A line longer than a megabyte: the message is broken beyond use.
                        Line::TooLong => {
                            too_big = true;
                            continue;
                        }
                        Line::Text(l) => l,
                    };
                    let content = strip_eol(&line);
                    if content == b"." {
                        break;
                    }
                    if too_big {
                        continue;
                    }
                    let content = content.strip_prefix(b".").unwrap_or(content);
                    if raw.len() + content.len() + 2 > config.max_message_bytes {
                        too_big = true;
                        raw = Vec::new();
                        continue;
                    }
                    raw.extend_from_slice(content);
                    raw.extend_from_slice(b"\r\n");
                }
                let envelope = Envelope {
                    peer,
                    helo: helo.clone().unwrap_or_default(),
                    mail_from: tx.from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut tx.rcpt),
                    tls,
                };
                if too_big {
                    metrics::counter!("ombuds_smtp_messages_total", "outcome" => "too_big").increment(1);
                    reply!(552, "5.3.4", "Message too big: the limit is {} bytes", config.max_message_bytes);
                } else {
                    let r = handler.clone().data(envelope, raw).await;
                    metrics::counter!("ombuds_smtp_messages_total", "outcome" => if r.is_positive() { "accepted" } else { "refused" }).increment(1);
                    r.write_to(&mut out);
                }
            }
            "RSET" => {
                tx = Transaction::default();
                reply!(250, "2.0.0", "Reset");
            }
            "NOOP" => reply!(250, "2.0.0", "OK"),
            "VRFY" => reply!(252, "2.5.0", "Cannot verify; send the message and it will be delivered if possible"),
            "HELP" => reply!(214, "2.0.0", "See RFC 5321; this server receives complaints for its desk"),
            "QUIT" => {
                reply!(221, "2.0.0", "{} closing connection", config.hostname);
                io.get_mut().write_all(&out).await?;
                io.get_mut().flush().await?;
                let _ = io.get_mut().shutdown().await;
                return Ok(After::Closed);
            }
            "AUTH" | "BDAT" | "ETRN" | "TURN" | "EXPN" => {
                fail!(502, "5.5.1", "Command not implemented");
            }
            _ => {
                fail!(500, "5.5.2", "Command not recognised");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_forgivingly() {
        assert_eq!(path_arg("FROM:<a@b.kz> SIZE=10", "FROM:"), Some(("a@b.kz", "SIZE=10")));
        assert_eq!(path_arg("from: <a@b.kz>", "FROM:"), Some(("a@b.kz", "")));
        assert_eq!(path_arg("FROM:<>", "FROM:"), Some(("", "")));
        assert_eq!(path_arg("TO:<@relay.example:user@desk.kz>", "TO:"), Some(("user@desk.kz", "")));
        assert_eq!(path_arg("FROM:a@b.kz", "FROM:"), None);
        assert_eq!(path_arg("FRO", "FROM:"), None);
        assert_eq!(path_arg("FROM:<a@b", "FROM:"), None);
    }

    #[test]
    fn mailboxes() {
        assert!(valid_mailbox("игрок@почта.рф"));
        assert!(valid_mailbox("a.b+c@x.kz"));
        assert!(!valid_mailbox("no-at-sign"));
        assert!(!valid_mailbox("@x.kz"));
        assert!(!valid_mailbox("a b@x.kz"));
        assert!(!valid_mailbox("a@"));
    }

    #[test]
    fn replies_stay_on_one_line() {
        let mut out = vec![];
        Reply::new(550, "5.1.1", "no\r\nsuch").write_to(&mut out);
        assert_eq!(out, b"550 5.1.1 no  such\r\n");
    }
}
