//! `ombuds bench mail`: sends a corpus of realistic mail (mixed charsets, attachments, replies
//! quoting earlier mail, HTML, auto-replies) over SMTP to a running listener from concurrent
//! sessions, as a busy relay would, and reports messages per second and the time from
//! `MAIL FROM` to the final `250` (which the listener sends only after the durable commit).

use anyhow::{Context, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct MailBench {
    pub smtp: String,
    pub to: String,
    pub clients: usize,
    pub duration: Duration,
    /// Distinct messages generated; each is sent with a fresh Message-ID every time it is reused.
    pub pool: usize,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct MailReport {
    pub sent: u64,
    pub registered: u64,
    pub replied: u64,
    pub ignored: u64,
    pub duplicate: u64,
    pub refused: u64,
    /// Transactions the server asked to retry later (a 4xx: the per-sender rate limit, a
    /// busy store, too many connections): not errors, reported apart.
    pub deferred: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_bytes: f64,
}

struct Session {
    io: BufReader<TcpStream>,
}

impl Session {
    async fn open(addr: &str) -> anyhow::Result<Session> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut s = Session { io: BufReader::new(stream) };
        let greeting = s.reply().await?;
        if !greeting.starts_with("220") {
            bail!("unexpected greeting: {greeting}");
        }
        s.io.get_mut().write_all(b"EHLO bench.example\r\n").await?;
        let ehlo = s.reply().await?;
        if !ehlo.starts_with("250") {
            bail!("EHLO refused: {ehlo}");
        }
        Ok(s)
    }

    async fn reply(&mut self) -> anyhow::Result<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.io.read_line(&mut line).await? == 0 {
                bail!("the server closed the connection");
            }
            let last = line.as_bytes().get(3) != Some(&b'-');
            all.push_str(&line);
            if last {
                return Ok(all.trim_end().to_string());
            }
        }
    }

    /// One transaction; the reply that decided it. `MAIL FROM` is sent alone, so a sender
    /// deferred there (`450` from the rate limit) is not followed by `RCPT` and `DATA` that
    /// could only get `503` (which the listener counts as protocol errors, closing the
    /// session after ten); `RCPT` and `DATA` are pipelined together.
    async fn send(&mut self, from: &str, to: &str, data: &[u8]) -> anyhow::Result<String> {
        self.io.get_mut().write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes()).await?;
        let m = self.reply().await?;
        if !m.starts_with("250") {
            return Ok(m);
        }
        self.io.get_mut().write_all(format!("RCPT TO:<{to}>\r\nDATA\r\n").as_bytes()).await?;
        let (r, d) = (self.reply().await?, self.reply().await?);
        if !d.starts_with("354") {
            self.io.get_mut().write_all(b"RSET\r\n").await?;
            self.reply().await?;
            return Ok(if r.starts_with("250") { d } else { r });
        }
        self.io.get_mut().write_all(data).await?;
        self.reply().await
    }
}

/// How the bench counts a reply that is not a 250.
fn is_deferred(reply: &str) -> bool {
    reply.starts_with('4')
}

/// The message as DATA lines: dot-stuffed, CRLF, ended by the lone dot.
fn data_of(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The same message with its Message-ID made unique for `round`.
fn fresh_id(data: &[u8], round: usize) -> Vec<u8> {
    const KEY: &[u8] = b"Message-ID: <";
    match data.windows(KEY.len()).position(|w| w.eq_ignore_ascii_case(KEY)) {
        Some(i) => {
            let mut out = Vec::with_capacity(data.len() + 12);
            out.extend_from_slice(&data[..i + KEY.len()]);
            out.extend_from_slice(format!("r{round}.").as_bytes());
            out.extend_from_slice(&data[i + KEY.len()..]);
            out
        }
        None => data.to_vec(),
    }
}

/// The message with the address in its `From:` header replaced.
fn with_sender(raw: &[u8], address: &str) -> Vec<u8> {
    let Some(start) = raw.windows(7).position(|w| w.eq_ignore_ascii_case(b"\r\nFrom:")).map(|i| i + 2) else { return raw.to_vec() };
    // The field runs to the first line break not followed by a fold (space or tab).
    let mut end = start;
    loop {
        match raw[end..].windows(2).position(|w| w == b"\r\n") {
            None => {
                end = raw.len();
                break;
            }
            Some(i) => {
                end += i;
                if matches!(raw.get(end + 2), Some(b' ' | b'\t')) {
                    end += 2;
                } else {
                    break;
                }
            }
        }
    }
    let line = &raw[start..end];
    let new_line = match (line.iter().rposition(|b| *b == b'<'), line.iter().rposition(|b| *b == b'>')) {
        (Some(a), Some(z)) if a < z => [&line[..=a], address.as_bytes(), &line[z..]].concat(),
        _ => format!("From: {address}").into_bytes(),
    };
    [&raw[..start], &new_line[..], &raw[end..]].concat()
}

fn sender_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(4096)]);
    text.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("from:"))
        .and_then(|l| l.rsplit_once('<').map(|(_, a)| a.trim_end_matches('>').trim().to_string()))
        .filter(|a| a.contains('@'))
        .unwrap_or_else(|| "player@bench.example".into())
}

pub async fn run(b: MailBench) -> anyhow::Result<MailReport> {
    // Warm-up, unmeasured: new complaints whose references the replies of the corpus quote.
    let warm = ombuds_mail::corpus::generate(b.seed, 200, &[], &b.to);
    let mut refs = vec![];
    let mut senders = std::collections::HashMap::new();
    let mut s = Session::open(&b.smtp).await?;
    for raw in warm.iter().filter(|r| !String::from_utf8_lossy(r).contains("Auto-Submitted")) {
        let sender = sender_of(raw);
        let reply = s.send(&sender, &b.to, &data_of(raw)).await?;
        if let Some(r) = reply.strip_prefix("250 2.0.0 Registered as ") {
            refs.push(r.trim().to_string());
            senders.insert(r.trim().to_string(), sender);
        } else if is_deferred(&reply) {
            // Rate limited: the warm-up needs only some complaints to reply to.
            continue;
        } else if !reply.starts_with("250") {
            bail!("the warm-up message was refused: {reply}");
        }
    }
    if refs.is_empty() {
        bail!("the warm-up registered nothing: is {} one of the listener's addresses?", b.to);
    }
    // Replies come from the player who wrote the complaint (the desk follows a thread only for
    // its own player), as they would in life.
    let limits = ombuds_mail::inbound::Limits::default();
    let pool: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        ombuds_mail::corpus::generate(b.seed + 1, b.pool, &refs, &b.to)
            .into_iter()
            .map(|raw| {
                let player = ombuds_mail::inbound::parse(&raw, &limits)
                    .ok()
                    .and_then(|m| m.subject_refs.first().and_then(|r| senders.get(&r.to_string())).cloned());
                let raw = match &player {
                    Some(p) => with_sender(&raw, p),
                    None => raw,
                };
                (sender_of(&raw), data_of(&raw))
            })
            .collect(),
    );
    let mean_bytes = pool.iter().map(|(_, d)| d.len()).sum::<usize>() as f64 / pool.len().max(1) as f64;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + b.duration;
    let mut tasks = vec![];
    for _ in 0..b.clients {
        let (pool, next, addr, to) = (pool.clone(), next.clone(), b.smtp.clone(), b.to.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Some(Session::open(&addr).await?);
            let mut lat = Vec::with_capacity(50_000);
            let mut r = MailReport::default();
            while Instant::now() < end {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let (from, data) = &pool[i % pool.len()];
                let data = fresh_id(data, i / pool.len());
                let t = Instant::now();
                let session = match s.as_mut() {
                    Some(session) => session,
                    None => match Session::open(&addr).await {
                        Ok(session) => s.insert(session),
                        Err(e) => {
                            // Too many connections, or the server is going away: a deferral.
                            r.deferred += 1;
                            if r.deferred <= 3 {
                                eprintln!("deferred: {e:#}");
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let reply = match session.send(from, &to, &data).await {
                    Ok(reply) => reply,
                    // The server closed the session (a 421): count it, open a new one.
                    Err(e) => {
                        s = None;
                        format!("421 {e:#}")
                    }
                };
                if is_deferred(&reply) {
                    r.deferred += 1;
                    if r.deferred <= 3 {
                        eprintln!("deferred: {reply}");
                    }
                    // Back off a little, as a sending MTA would (it would wait minutes).
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                lat.push(t.elapsed());
                r.sent += 1;
                if reply.starts_with("250 2.0.0 Registered") {
                    r.registered += 1;
                } else if reply.starts_with("250 2.0.0 Added") {
                    r.replied += 1;
                } else if reply.starts_with("250 2.0.0 Already") {
                    r.duplicate += 1;
                } else if reply.starts_with("250") {
                    r.ignored += 1;
                } else {
                    r.refused += 1;
                    if r.refused <= 3 {
                        eprintln!("refused: {reply}");
                    }
                }
            }
            anyhow::Ok((r, lat))
        }));
    }
    let mut total = MailReport { mean_bytes, ..MailReport::default() };
    let mut all = vec![];
    for t in tasks {
        let (r, lat) = t.await??;
        total.sent += r.sent;
        total.registered += r.registered;
        total.replied += r.replied;
        total.duplicate += r.duplicate;
        total.ignored += r.ignored;
        total.refused += r.refused;
        total.deferred += r.deferred;
        all.extend(lat);
    }
    total.seconds = start.elapsed().as_secs_f64();
    all.sort();
    let q = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    total.p50_ms = q(0.5);
    total.p99_ms = q(0.99);
    total.max_ms = all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_replies_keep_a_usable_sender() {
        let limits = ombuds_mail::inbound::Limits::default();
        for raw in ombuds_mail::corpus::generate(5, 300, &["K7M-4QX-2PH".to_string()], "support@bench.example") {
            let changed = with_sender(&raw, "player@mail.kz");
            let m = ombuds_mail::inbound::parse(&changed, &limits);
            assert!(m.as_ref().is_ok_and(|m| m.from.as_ref().is_some_and(|f| f.address == "player@mail.kz")), "{}", String::from_utf8_lossy(&changed[..changed.len().min(1500)]));
        }
    }

    #[test]
    fn data_is_dot_stuffed_and_ids_refreshed() {
        let d = data_of(b"Message-ID: <a@b>\n\n.hidden\nend");
        assert_eq!(d, b"Message-ID: <a@b>\r\n\r\n..hidden\r\nend\r\n.\r\n");
        assert_eq!(fresh_id(&d, 3)[..20], b"Message-ID: <r3.a@b>"[..]);
        assert_eq!(sender_of(b"Subject: x\r\nFrom: \"A\" <a@kz.example>\r\n\r\n"), "a@kz.example");
        assert_eq!(with_sender(b"Subject: x\r\nFrom: =?utf-8?B?QQ==?= <a@kz.example>\r\nTo: y\r\n", "b@kz.example"), b"Subject: x\r\nFrom: =?utf-8?B?QQ==?= <b@kz.example>\r\nTo: y\r\n");
    }
}
