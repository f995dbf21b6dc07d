//! `ombuds bench intake`: drives a running server over HTTP with N concurrent clients that
//! register complaints as fast as they are answered, and reports throughput and latency.

use anyhow::{Context, bail};
use std::time::{Duration, Instant};

pub struct IntakeBench {
    pub url: String,
    pub token: String,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
}

#[derive(Debug)]
pub struct BenchReport {
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

const SUBJECTS: &[(&str, &str)] = &[
    ("ru", "Не пришёл вывод средств на карту"),
    ("kk", "Ақша шығару картаға түспеді"),
    ("en", "Withdrawal has not arrived on my card"),
    ("ru", "Ставка рассчитана неверно"),
    ("kk", "Бәс қате есептелді"),
    ("en", "Bonus wagering requirement unclear"),
];

pub async fn run(b: IntakeBench) -> anyhow::Result<BenchReport> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(b.clients).build()?;
    let url = format!("{}/api/v1/complaints", b.url.trim_end_matches('/'));
    // One request first: a wrong URL or token should fail loudly, not as a million errors.
    let probe = client.get(format!("{}/api/v1/me", b.url.trim_end_matches('/'))).bearer_auth(&b.token).send().await.context("server unreachable")?;
    if !probe.status().is_success() {
        bail!("the token was refused: {}", probe.status());
    }
    let start = Instant::now();
    let measure_from = start + b.warmup;
    let end = measure_from + b.duration;
    let mut tasks = vec![];
    for c in 0..b.clients {
        let (client, url, token) = (client.clone(), url.clone(), b.token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut failed, mut i) = (Vec::with_capacity(100_000), 0u64, 0u64);
            while Instant::now() < end {
                i += 1;
                let (lang, subject) = SUBJECTS[(i as usize + c) % SUBJECTS.len()];
                let body = serde_json::json!({
                    "channel": "api",
                    "player": {"external_id": format!("bench-{c}-{i}"), "email": format!("p{c}.{i}@bench.example"), "language": lang},
                    "subject": subject,
                    "description": format!("{subject}. Заявка #{i} клиента {c}; сумма 25 000 ₸, Kaspi."),
                });
                let t = Instant::now();
                let r = client.post(&url).bearer_auth(&token).json(&body).send().await;
                let ok = matches!(&r, Ok(r) if r.status().as_u16() == 201);
                if t >= measure_from && Instant::now() <= end {
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
            }
            (lat, failed)
        }));
    }
    let mut all = vec![];
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failed += f;
    }
    all.sort();
    let q = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(BenchReport {
        ok: all.len() as u64,
        failed,
        seconds: b.duration.as_secs_f64(),
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p99_ms: q(0.99),
        max_ms: all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    })
}
