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
use std::path::PathBuf;
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
    /// How long the server waits for the next command (and for a TLS handshake).
    pub timeout: Duration,
    /// How long the server waits for each block of message data after `DATA`.
    pub data_timeout: Duration,
    /// The longest one connection may last, whatever it does.
    pub session_timeout: Duration,
    pub max_connections: usize,
    /// Connections at once from one client address (an IPv6 client: from its /64).
    pub max_connections_per_ip: usize,
    /// Protocol errors tolerated in one session before it is closed.
    pub max_errors: usize,
    /// STARTTLS is offered when set.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Message data past this many bytes goes to a temporary file instead of memory.
    pub spool_threshold: usize,
    /// Where those files are made (unnamed, so nothing is left behind); default: the
    /// system's temporary directory.
    pub spool_dir: Option<PathBuf>,
    /// Spooled (large) messages read back and handed to the handler at the same time; the
    /// others wait their turn, so memory stays bounded however many arrive together.
    pub max_large_in_flight: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(120),
            session_timeout: Duration::from_secs(15 * 60),
            max_connections: 512,
            max_connections_per_ip: 20,
            max_errors: 10,
            tls: None,
            spool_threshold: 256 * 1024,
            spool_dir: None,
            max_large_in_flight: 1,
        }
    }
}

/// Accepts connections until `shutdown` turns true; sessions in progress finish on their own.
pub async fn serve(listener: TcpListener, config: SmtpConfig, handler: Arc<dyn SmtpHandler>, mut shutdown: watch::Receiver<bool>) {
    let shared = Arc::new(Shared { large: Semaphore::new(config.max_large_in_flight.max(1)), config });
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    // Connections per client network (an IPv6 client: its /64).
    let per_ip = Arc::new(ombuds_core::clients::Slots::default());
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
        let refuse = |stream: TcpStream, text: &'static [u8]| {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(text)).await;
            });
        };
        let Some(ip_slot) = per_ip.take(peer.ip(), shared.config.max_connections_per_ip) else {
            metrics::counter!("ombuds_smtp_refused_connections_total", "why" => "per_ip").increment(1);
            refuse(stream, b"421 4.7.0 Too many connections from your address, try again later\r\n");
            continue;
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let (shared, handler) = (shared.clone(), handler.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, peer, &shared, handler).await {
                        tracing::debug!(%peer, error = %e, "smtp session ended with an error");
                    }
                    drop(permit);
                    drop(ip_slot);
                });
            }
            Err(_) => {
                metrics::counter!("ombuds_smtp_refused_connections_total", "why" => "total").increment(1);
                refuse(stream, b"421 4.7.0 Too many connections, try again later\r\n");
            }
        }
    }
}

/// What every session of one listener shares.
struct Shared {
    config: SmtpConfig,
    /// Turns to hand a spooled message to the handler.
    large: Semaphore,
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: &Shared, handler: Arc<dyn SmtpHandler>) -> std::io::Result<()> {
    let config = &shared.config;
    metrics::counter!("ombuds_smtp_sessions_total").increment(1);
    let deadline = tokio::time::Instant::now() + config.session_timeout;
    // The greeting carries no enhanced status code (RFC 2034 §3).
    let greeting = format!("220 {} ESMTP ombuds ready\r\n", config.hostname.replace(|c: char| c.is_control(), "")).into_bytes();
    match session(stream, peer, shared, &handler, false, greeting, deadline).await? {
        After::Closed => Ok(()),
        After::StartTls(stream) => {
            let Some(tls) = &config.tls else { return Ok(()) };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            let until = deadline.min(tokio::time::Instant::now() + config.timeout);
            let stream = tokio::time::timeout_at(until, acceptor.accept(stream)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
            // RFC 3207: after the handshake the client starts over with EHLO; no greeting.
            match session(stream, peer, shared, &handler, true, Vec::new(), deadline).await? {
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
            // A last line without its line end was cut off: it is not a command.
            return Ok(Line::Eof);
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

/// A message's bytes while `DATA` is read: in memory up to a threshold, then in an unnamed
/// temporary file (deleted by the system when closed, so a crash leaves nothing behind).
struct Spool<'a> {
    mem: Vec<u8>,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    len: usize,
    threshold: usize,
    dir: Option<&'a std::path::Path>,
}

impl<'a> Spool<'a> {
    fn new(threshold: usize, dir: Option<&'a std::path::Path>) -> Self {
        Spool { mem: Vec::with_capacity(16 * 1024), file: None, len: 0, threshold, dir }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.len += bytes.len();
        if let Some(f) = &mut self.file {
            return f.write_all(bytes).await;
        }
        if self.mem.len() + bytes.len() <= self.threshold {
            self.mem.extend_from_slice(bytes);
            return Ok(());
        }
        let dir = self.dir.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
        let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir)).await.map_err(std::io::Error::other)??;
        let mut w = tokio::io::BufWriter::with_capacity(64 * 1024, tokio::fs::File::from_std(file));
        w.write_all(&self.mem).await?;
        w.write_all(bytes).await?;
        self.mem = Vec::new();
        self.file = Some(w);
        Ok(())
    }

    fn spooled(&self) -> bool {
        self.file.is_some()
    }

    fn discard(&mut self) {
        self.mem = Vec::new();
        self.file = None;
    }

    async fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        match self.file {
            None => Ok(self.mem),
            Some(mut w) => {
                w.flush().await?;
                let mut f = w.into_inner();
                f.seek(std::io::SeekFrom::Start(0)).await?;
                // Room for the trace header the intake puts in front.
                let mut v = Vec::with_capacity(self.len + 1024);
                f.read_to_end(&mut v).await?;
                Ok(v)
            }
        }
    }
}

/// How the data of one `DATA` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataEnd {
    /// `<CRLF>.<CRLF>`, and the message is within the limits.
    Complete,
    /// `<CRLF>.<CRLF>`, but the message was larger than the limit (its bytes were dropped).
    TooBig,
    /// `<CRLF>.<CRLF>`, but a bare CR or LF came before it (also dropped).
    BareNewline,
    /// The connection closed before `<CRLF>.<CRLF>`: the message is incomplete.
    Closed,
    Timeout,
}

/// Where the reader is within a line of message data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// After a CRLF (or right after the `DATA` command).
    LineStart,
    /// A `.` at the start of a line.
    Dot,
    /// `.` and CR at the start of a line: an LF now ends the data.
    DotCr,
    Mid,
    /// A CR: only an LF may follow.
    Cr,
}

/// Reads message data up to `<CRLF>.<CRLF>` (RFC 5321 §4.1.1.4), undoing dot-stuffing, into
/// `spool`. Only CR LF ends a line: a bare LF or a bare CR anywhere marks the message as
/// refused, and from then on only a real `<CRLF>.<CRLF>` ends it, so `<LF>.<LF>`,
/// `<CR>.<CR>`, `<CRLF>.<LF>` or `<LF>.<CRLF>` can never end the data early and let what
/// follows be read as commands (SMTP smuggling). No line is held in memory: bytes go to the
/// spool as they come.
async fn read_data<R: AsyncBufReadExt + Unpin>(
    io: &mut R,
    spool: &mut Spool<'_>,
    max_bytes: usize,
    block_timeout: Duration,
    deadline: tokio::time::Instant,
) -> std::io::Result<DataEnd> {
    let mut at = At::LineStart;
    let mut bare = false;
    let mut too_big = false;
    loop {
        let until = deadline.min(tokio::time::Instant::now() + block_timeout);
        let buf = match tokio::time::timeout_at(until, io.fill_buf()).await {
            Err(_) => return Ok(DataEnd::Timeout),
            Ok(r) => r?,
        };
        if buf.is_empty() {
            return Ok(DataEnd::Closed);
        }
        // Keeps `bytes` unless the message is already refused; drops it all past the limit.
        macro_rules! keep {
            ($bytes:expr) => {{
                let bytes: &[u8] = $bytes;
                if !bare && !too_big && !bytes.is_empty() {
                    if spool.len + bytes.len() > max_bytes {
                        too_big = true;
                        spool.discard();
                    } else {
                        spool.write(bytes).await?;
                    }
                }
            }};
        }
        let n = buf.len();
        let mut i = 0;
        let mut ended = false;
        while i < n {
            if at == At::Mid {
                let rest = &buf[i..];
                match rest.iter().position(|b| *b == b'\r' || *b == b'\n') {
                    None => {
                        keep!(rest);
                        i = n;
                    }
                    Some(p) => {
                        keep!(&rest[..p]);
                        i += p + 1;
                        if rest[p] == b'\r' {
                            at = At::Cr;
                        } else {
                            bare = true;
                        }
                    }
                }
                continue;
            }
            let b = buf[i];
            i += 1;
            at = match (at, b) {
                (At::LineStart, b'.') => At::Dot,
                (At::LineStart | At::Dot, b'\r') => {
                    if at == At::Dot {
                        At::DotCr
                    } else {
                        At::Cr
                    }
                }
                (At::DotCr, b'\n') => {
                    ended = true;
                    break;
                }
                (At::Cr, b'\n') => {
                    keep!(b"\r\n");
                    At::LineStart
                }
                (At::Cr | At::DotCr, b'\r') => {
                    bare = true;
                    At::Cr
                }
                (_, b'\n') | (At::Cr | At::DotCr, _) => {
                    bare = true;
                    At::Mid
                }
                // A dot that starts a longer line is the sender's stuffing: dropped.
                (_, other) => {
                    keep!(&[other]);
                    At::Mid
                }
            };
        }
        io.consume(i);
        if ended {
            return Ok(if bare {
                DataEnd::BareNewline
            } else if too_big {
                DataEnd::TooBig
            } else {
                DataEnd::Complete
            });
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `<addr>` from `FROM:<addr> PARAMS`; returns the address (unquoted as given) and the rest.
/// Some clients leave out the angle brackets (`MAIL FROM:a@b`): the address is then the first
/// word, as Postfix and Exim take it.
fn path_arg<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let rest = arg.get(..keyword.len()).filter(|k| k.eq_ignore_ascii_case(keyword)).map(|_| &arg[keyword.len()..])?;
    let rest = rest.trim_start();
    let (addr, params) = match rest.strip_prefix('<') {
        Some(rest) => {
            let end = rest.find('>')?;
            (&rest[..end], &rest[end + 1..])
        }
        None => {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let addr = &rest[..end];
            if addr.is_empty() || addr.contains(['<', '>']) {
                return None;
            }
            (addr, &rest[end..])
        }
    };
    // Source routes (`@a,@b:user@c`) are obsolete: keep the mailbox.
    let addr = addr.rsplit_once(':').filter(|(route, _)| route.starts_with('@')).map_or(addr, |(_, a)| a);
    Some((addr, params.trim()))
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
    shared: &Shared,
    handler: &Arc<dyn SmtpHandler>,
    tls: bool,
    greeting: Vec<u8>,
    deadline: tokio::time::Instant,
) -> std::io::Result<After<S>> {
    let config = &shared.config;
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
        let until = deadline.min(tokio::time::Instant::now() + config.timeout);
        let line = match tokio::time::timeout_at(until, read_line(&mut io, 1024)).await {
            Err(_) => {
                if until == deadline {
                    reply!(421, "4.4.2", "{} Session time limit reached, closing the connection", config.hostname);
                } else {
                    reply!(421, "4.4.2", "{} Timeout, closing the connection", config.hostname);
                }
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
                // `postmaster` without a domain is a valid recipient (RFC 5321 §4.1.1.3).
                if !valid_mailbox(addr) && !addr.eq_ignore_ascii_case("postmaster") {
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
                let mut spool = Spool::new(config.spool_threshold, config.spool_dir.as_deref());
                let end = read_data(&mut io, &mut spool, config.max_message_bytes, config.data_timeout, deadline).await?;
                let envelope = Envelope {
                    peer,
                    helo: helo.clone().unwrap_or_default(),
                    mail_from: tx.from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut tx.rcpt),
                    tls,
                };
                match end {
                    DataEnd::Complete => {
                        // A large message waits for its turn before it is read back into memory.
                        let _turn = if spool.spooled() { Some(shared.large.acquire().await.map_err(std::io::Error::other)?) } else { None };
                        let raw = spool.into_bytes().await?;
                        let r = handler.clone().data(envelope, raw).await;
                        metrics::counter!("ombuds_smtp_messages_total", "outcome" => if r.is_positive() { "accepted" } else { "refused" }).increment(1);
                        r.write_to(&mut out);
                    }
                    DataEnd::TooBig => {
                        metrics::counter!("ombuds_smtp_messages_total", "outcome" => "too_big").increment(1);
                        reply!(552, "5.3.4", "Message too big: the limit is {} bytes", config.max_message_bytes);
                    }
                    DataEnd::BareNewline => {
                        // As Postfix's smtpd_forbid_bare_newline: the message is refused, and as
                        // the client and we may disagree on where it ended, the session too.
                        metrics::counter!("ombuds_smtp_messages_total", "outcome" => "bare_newline").increment(1);
                        tracing::info!(%peer, from = %envelope.mail_from, "smtp message with a bare CR or LF refused");
                        reply!(554, "5.5.2", "Message refused: bare CR or LF in the data; every line must end with CRLF (RFC 5321 2.3.8). Closing the connection");
                        io.get_mut().write_all(&out).await?;
                        io.get_mut().flush().await?;
                        let _ = io.get_mut().shutdown().await;
                        return Ok(After::Closed);
                    }
                    DataEnd::Closed => {
                        // Cut off before <CRLF>.<CRLF>: incomplete, so nothing is taken.
                        metrics::counter!("ombuds_smtp_messages_total", "outcome" => "incomplete").increment(1);
                        tracing::info!(%peer, from = %envelope.mail_from, bytes = spool.len, "smtp connection closed during DATA; message dropped");
                        return Ok(After::Closed);
                    }
                    DataEnd::Timeout => {
                        metrics::counter!("ombuds_smtp_messages_total", "outcome" => "timeout").increment(1);
                        reply!(421, "4.4.2", "Timeout while reading data, closing");
                        let _ = io.get_mut().write_all(&out).await;
                        return Ok(After::Closed);
                    }
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
        assert_eq!(path_arg("FROM:a@b.kz", "FROM:"), Some(("a@b.kz", "")));
        assert_eq!(path_arg("FROM: a@b.kz SIZE=10", "FROM:"), Some(("a@b.kz", "SIZE=10")));
        assert_eq!(path_arg("TO:x@y.kz", "TO:"), Some(("x@y.kz", "")));
        assert_eq!(path_arg("FROM:", "FROM:"), None);
        assert_eq!(path_arg("FROM:a@b>", "FROM:"), None);
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
