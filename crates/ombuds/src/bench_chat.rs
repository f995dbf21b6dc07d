//! `ombuds bench chat`: opens many chats on a running server, each with a player's WebSocket and
//! held by one of a few agents' consoles, then has every player write at a steady pace and
//! measures how long each message takes from the player's `say` to the agent's screen (it is
//! stored on the way). Reports throughput, latency percentiles, lost messages and, given the
//! server's pid, its memory per open chat.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

pub struct ChatBench {
    pub url: String,
    /// An API token with the admin scope (to create the benchmark's agents).
    pub token: String,
    pub chats: usize,
    pub agents: usize,
    pub duration: Duration,
    /// Messages per second each player writes.
    pub rate: f64,
    pub server_pid: Option<u32>,
}

#[derive(Debug)]
pub struct ChatReport {
    pub chats: usize,
    pub agents: usize,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    /// Server resident memory before the chats opened and with all of them open, in KiB.
    pub rss_before_kb: Option<u64>,
    pub rss_open_kb: Option<u64>,
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

const DEPARTMENT: &str = "technical";
const PASSWORD: &str = "bench password 2026";

pub async fn run(b: ChatBench) -> anyhow::Result<ChatReport> {
    let base = b.url.trim_end_matches('/').to_string();
    let ws_base = base.replacen("http", "ws", 1);
    let http = reqwest::Client::new();
    let probe = http.get(format!("{base}/api/v1/me")).bearer_auth(&b.token).send().await.context("server unreachable")?;
    if !probe.status().is_success() {
        bail!("the token was refused: {}", probe.status());
    }

    // Agents: created once, reused by later runs.
    let mut sessions = vec![];
    for i in 0..b.agents {
        let login = format!("bench-agent-{i}");
        let r = http
            .post(format!("{base}/api/v1/agents"))
            .bearer_auth(&b.token)
            .json(&json!({"login": login, "name": format!("Bench agent {i}"), "role": "agent", "departments": [DEPARTMENT], "languages": ["ru", "kk", "en"], "password": PASSWORD}))
            .send()
            .await?;
        if !(r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT) {
            bail!("creating agent {login} failed: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
        let r: Value = http.post(format!("{base}/api/v1/auth/login")).json(&json!({"login": login, "password": PASSWORD})).send().await?.json().await?;
        sessions.push(r["token"].as_str().context("agent login failed")?.to_string());
    }
    let rss_before_kb = b.server_pid.and_then(rss_kb);

    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));

    // Agents' consoles: each accepts the chats it is given and records every player line.
    let mut accept_tx = vec![];
    let mut held = vec![];
    for token in &sessions {
        let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("{ws_base}/api/v1/chat/ws"))?;
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await.context("agent console")?;
        let (mut tx, mut rx) = ws.split();
        let (atx, mut arx) = tokio::sync::mpsc::unbounded_channel::<String>();
        accept_tx.push(atx);
        let holding = Arc::new(AtomicU64::new(0));
        held.push(holding.clone());
        let (sent, latencies, received, measuring) = (sent.clone(), latencies.clone(), received.clone(), measuring.clone());
        tokio::spawn(async move {
            while let Some(id) = arx.recv().await {
                if tx.send(Message::Text(json!({"type": "accept", "chat_id": id}).to_string().into())).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(t) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                match v["type"].as_str() {
                    Some("chat") if v["status"] == "active" => {
                        holding.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("msg") if v["from"] == "player" => {
                        let key = v["text"].as_str().unwrap_or("").to_string();
                        if let Some(at) = sent.lock().await.remove(&key) {
                            received.fetch_add(1, Ordering::Relaxed);
                            if measuring.load(Ordering::Relaxed) {
                                latencies.lock().await.push(at.elapsed().as_secs_f64() * 1000.0);
                            }
                        }
                    }
                    _ => {}
                }
            }
        });
    }

    // Chats: registered over HTTP (32 at a time), each with its player's socket.
    let started = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let next = Arc::new(AtomicU64::new(0));
    let mut makers = vec![];
    for _ in 0..32.min(b.chats) {
        let (http, base, started, next) = (http.clone(), base.clone(), started.clone(), next.clone());
        let total = b.chats as u64;
        makers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                let lang = ["ru", "kk", "en"][i as usize % 3];
                let r = http
                    .post(format!("{base}/chat/v1/chats"))
                    .json(&json!({"name": format!("Player {i}"), "email": format!("player{i}@bench.example"), "language": lang, "department": DEPARTMENT, "text": format!("Бенчмарк чат {i}")}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("starting chat {i} failed: {} {}", r.status(), r.text().await.unwrap_or_default());
                }
                let v: Value = r.json().await?;
                started.lock().await.push((v["chat_id"].as_str().unwrap_or("").to_string(), v["secret"].as_str().unwrap_or("").to_string()));
            }
        }));
    }
    for m in makers {
        m.await??;
    }
    let chats = std::mem::take(&mut *started.lock().await);
    for (i, (id, _)) in chats.iter().enumerate() {
        let _ = accept_tx[i % accept_tx.len()].send(id.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while held.iter().map(|h| h.load(Ordering::Relaxed)).sum::<u64>() < chats.len() as u64 {
        if Instant::now() > deadline {
            bail!("agents accepted only {} of {} chats in 60 s", held.iter().map(|h| h.load(Ordering::Relaxed)).sum::<u64>(), chats.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Players: connect, then write every 1/rate seconds (start times spread over a period).
    let acks = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sent_count = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(1.0 / b.rate.max(0.001));
    let mut players = vec![];
    for (i, (id, secret)) in chats.iter().enumerate() {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{ws_base}/chat/v1/ws")).await.context("player socket")?;
        let (mut tx, mut rx) = ws.split();
        tx.send(Message::Text(json!({"type": "hello", "chat_id": id, "secret": secret, "after": 0}).to_string().into())).await?;
        let (sent, acks, stop, sent_count, measuring) = (sent.clone(), acks.clone(), stop.clone(), sent_count.clone(), measuring.clone());
        let pending: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
        let p2 = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(t) = m else { continue };
                if let Ok(v) = serde_json::from_str::<Value>(&t)
                    && v["type"] == "ack"
                    && let Some(at) = p2.lock().await.remove(v["client_id"].as_str().unwrap_or(""))
                    && measuring.load(Ordering::Relaxed)
                {
                    acks.lock().await.push(at.elapsed().as_secs_f64() * 1000.0);
                }
            }
        });
        let offset = period.mul_f64(i as f64 / chats.len() as f64);
        players.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(period);
            let mut n = 0u64;
            loop {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                n += 1;
                let (cid, text) = (format!("m{n}"), format!("bench {i} {n}"));
                let now = Instant::now();
                sent.lock().await.insert(text.clone(), now);
                pending.lock().await.insert(cid.clone(), now);
                if tx.send(Message::Text(json!({"type": "say", "client_id": cid, "text": text}).to_string().into())).await.is_err() {
                    break;
                }
                sent_count.fetch_add(1, Ordering::Relaxed);
            }
            reader.abort();
        }));
    }
    let rss_open_kb = b.server_pid.and_then(rss_kb);

    // Warm up for one period, then measure.
    tokio::time::sleep(period.max(Duration::from_secs(1))).await;
    let (sent0, recv0) = (sent_count.load(Ordering::Relaxed), received.load(Ordering::Relaxed));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(b.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = t0.elapsed().as_secs_f64();
    let (sent1, recv1) = (sent_count.load(Ordering::Relaxed), received.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    // Stragglers: what was sent before the stop and is still unseen two seconds later is lost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lost = sent.lock().await.values().filter(|at| **at <= stopped).count() as u64;
    for p in players {
        p.abort();
    }
    let mut l = std::mem::take(&mut *latencies.lock().await);
    l.sort_by(f64::total_cmp);
    let mut a = std::mem::take(&mut *acks.lock().await);
    a.sort_by(f64::total_cmp);
    Ok(ChatReport {
        chats: chats.len(),
        agents: b.agents,
        sent: sent1 - sent0,
        received: recv1 - recv0,
        lost,
        seconds,
        p50_ms: pct(&l, 0.5),
        p99_ms: pct(&l, 0.99),
        max_ms: l.last().copied().unwrap_or(0.0),
        ack_p50_ms: pct(&a, 0.5),
        ack_p99_ms: pct(&a, 0.99),
        rss_before_kb,
        rss_open_kb,
    })
}
