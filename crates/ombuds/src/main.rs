//! The `ombuds` binary: command line, configuration, wiring.

mod bench;
mod bench_chat;
mod bench_mail;
mod bench_pages;
mod bench_timers;
mod email;
mod routing_cli;
mod settings;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ombuds_core::{DepartmentCode, Language, PersonName, Role, Scope};
use ombuds_desk::{Desk, DeskConfig, DeskError, JobRunner, Location, NewAgent};
use settings::Settings;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "ombuds", version, about = "Complaint and feedback desk")]
struct Cli {
    /// Configuration file (default: ./ombuds.toml when present).
    #[arg(long, global = true, env = "OMBUDS_CONFIG")]
    config: Option<PathBuf>,
    /// Database: sqlite://PATH or postgres://USER@HOST/DB (overrides the configuration).
    #[arg(long, global = true)]
    database: Option<String>,
    /// Directory of the embedded store (overrides the configuration).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the desk: HTTP API and job runner.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Load a demo data set of a betting operator's complaints on first start.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations (the server also does this when it starts).
    Migrate,
    /// Manage agents.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Manage API tokens for integrations.
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Check the hash-chained event log.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Write everything as JSON lines to standard output or a file.
    Export {
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make an online, consistent copy of the embedded store.
    Backup { path: PathBuf },
    /// Routing rules: export the set in force, or import a file (checked whole before saving).
    Rules {
        #[command(subcommand)]
        command: routing_cli::RulesCmd,
    },
    /// (Re)train the routing classifier on the resolved complaints; --eval only measures it.
    Train(routing_cli::TrainArgs),
    /// Label a JSONL or CSV file of texts with the trained classifier (offline evaluation).
    Classify(routing_cli::ClassifyArgs),
    /// Load benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add an agent; prints a generated password unless --password-stdin is given.
    Add {
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "agent")]
        role: String,
        /// Department code; repeat for several.
        #[arg(long = "department")]
        departments: Vec<String>,
        /// ru, kk or en; repeat for several.
        #[arg(long = "language")]
        languages: Vec<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// A skill for auto-assignment (`crypto`, `vip`); repeat for several.
        #[arg(long = "skill")]
        skills: Vec<String>,
        /// Open complaints auto-assignment gives the agent at most (default 20; 0: none).
        #[arg(long)]
        capacity: Option<u32>,
    },
    List,
    Disable { login: String },
    Enable { login: String },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// complaints:read, complaints:write or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    List,
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk the event chain; exits 1 and names the first broken event if it was tampered with.
    Verify,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Register complaints over HTTP from concurrent clients against a running server.
    Intake {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// API token with complaints:write (or OMBUDS_TOKEN).
        #[arg(long, env = "OMBUDS_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Unmeasured warm-up seconds.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Open many chats (player sockets, agents' consoles) and measure player → agent latency.
    Chat {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// API token with the admin scope, to create the benchmark's agents (or OMBUDS_TOKEN).
        #[arg(long, env = "OMBUDS_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, default_value_t = 1000)]
        chats: usize,
        #[arg(long, default_value_t = 20)]
        agents: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Messages per second each player writes.
        #[arg(long, default_value_t = 0.2)]
        rate: f64,
        /// The server's process id, to report its memory per open chat.
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Send a corpus of realistic mail over SMTP to a running listener from concurrent sessions.
    Mail {
        /// The listener (`[email] smtp_listen` of the server).
        #[arg(long, default_value = "127.0.0.1:2525")]
        smtp: String,
        /// An address the listener accepts.
        #[arg(long, default_value = "support@ombuds.localhost")]
        to: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Distinct messages generated (reused with fresh Message-IDs).
        #[arg(long, default_value_t = 4000)]
        pool: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Fire SLA timers: registers --count complaints on the (fresh, empty) store given by
    /// --database, with timers due at once, and times the job runners firing them.
    Timers {
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Runners racing for the same jobs (as several nodes would).
        #[arg(long, default_value_t = 1)]
        runners: usize,
        /// Jobs each runner claims per round.
        #[arg(long, default_value_t = 2_000)]
        batch: u32,
        /// Jobs of one round in flight at once.
        #[arg(long, default_value_t = 512)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Time the workspace's busiest pages with a large store (filled through the write path
    /// first, once; a store that holds enough complaints is reused).
    Pages {
        /// Complaints the store should hold.
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        /// Requests timed per page.
        #[arg(long, default_value_t = 300)]
        samples: usize,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ombuds: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn open_desk(s: &Settings) -> anyhow::Result<Desk> {
    let location = Location::parse(&s.database_url())?;
    let mut config = DeskConfig {
        session_ttl: Duration::from_secs(s.session_hours * 3600),
        login_max_failures: s.login_max_failures,
        login_lockout: Duration::from_secs(s.login_lockout_minutes * 60),
        ..Default::default()
    };
    config.cti = ombuds_desk::cti::CtiConfig { callback_within: Duration::from_secs(s.cti.callback_minutes * 60) };
    config.chat = ombuds_desk::chat::ChatConfig {
        identity_secret: s.chat.identity_secret.as_ref().map(|x| x.as_bytes().to_vec()),
        identity_max_age: jiff::SignedDuration::from_hours(s.chat.identity_max_age_hours as i64),
        default_department: s.chat.default_department.as_deref().map(|d| ombuds_core::DepartmentCode::parse(d).expect("checked when loading")),
    };
    config.routing = ombuds_desk::routing::RoutingConfig {
        min_confidence: s.routing.min_confidence,
        retrain_every: (s.routing.retrain_hours > 0).then(|| Duration::from_secs(s.routing.retrain_hours * 3600)),
        max_training_rows: s.routing.max_training_rows,
        min_training_rows: s.routing.min_training_rows,
        auto_assign: ombuds_core::assign::AssignStrategy::parse(&s.routing.auto_assign).expect("checked when loading"),
    };
    config.db.max_connections = s.max_connections;
    Desk::open(&location, config).await.with_context(|| format!("cannot open the store at {}", redact(&s.database_url())))
}

/// The database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(b)) if b > a => {
            let creds = &url[a + 3..b];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..a + 3], &url[b..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn user_error(e: DeskError) -> anyhow::Error {
    match e {
        DeskError::Domain(ombuds_core::DomainError::Invalid(errors)) => {
            anyhow::anyhow!(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        }
        e => anyhow::anyhow!(e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(d) = cli.database {
        s.database = Some(d);
    }
    if let Some(d) = cli.data_dir {
        s.data_dir = d;
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&s.log).context("invalid log filter")?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Cmd::Serve { listen, demo } => {
            if let Some(l) = listen {
                s.listen = l;
            }
            serve(s, demo).await?;
        }
        Cmd::Migrate => {
            let desk = open_desk(&s).await?;
            println!("the store at {} is up to date", redact(&s.database_url()));
            desk.close().await;
        }
        Cmd::User { command } => {
            let desk = open_desk(&s).await?;
            user(&desk, command).await?;
            desk.close().await;
        }
        Cmd::Token { command } => {
            let desk = open_desk(&s).await?;
            token(&desk, command).await?;
            desk.close().await;
        }
        Cmd::Audit { command: AuditCmd::Verify } => {
            let desk = open_desk(&s).await?;
            let r = desk.verify_chain().await?;
            desk.close().await;
            match r.broken {
                None => println!("event chain intact: {} events verified", r.checked),
                Some(b) => {
                    println!("EVENT CHAIN BROKEN after {} intact events: {b}", r.checked);
                    return Ok(std::process::ExitCode::from(1));
                }
            }
        }
        Cmd::Export { format, output } => {
            if format != "jsonl" {
                bail!("unknown export format '{format}': the only format is jsonl");
            }
            let desk = open_desk(&s).await?;
            let n = match output {
                Some(path) => {
                    let f = std::fs::File::create_new(&path).with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    let n = desk.store().export_jsonl(&mut w).await?;
                    w.flush()?;
                    n
                }
                None => {
                    let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
                    let n = desk.store().export_jsonl(&mut w).await?;
                    w.flush()?;
                    n
                }
            };
            eprintln!("exported {n} records");
            desk.close().await;
        }
        Cmd::Rules { command } => {
            let desk = open_desk(&s).await?;
            let r = routing_cli::rules(&desk, command).await;
            desk.close().await;
            return r;
        }
        Cmd::Train(args) => {
            let desk = open_desk(&s).await?;
            let r = routing_cli::train(&desk, args).await;
            desk.close().await;
            return r;
        }
        Cmd::Classify(args) => {
            let desk = open_desk(&s).await?;
            let r = routing_cli::classify(&desk, args).await;
            desk.close().await;
            return r;
        }
        Cmd::Backup { path } => {
            let desk = open_desk(&s).await?;
            desk.store().backup(&path).await?;
            println!("backed up to {}", path.display());
            desk.close().await;
        }
        Cmd::Bench { command: BenchCmd::Intake { url, token, clients, seconds, warmup, json } } => {
            if clients == 0 || seconds == 0 {
                bail!("--clients and --seconds must be at least 1");
            }
            let r = bench::run(bench::IntakeBench {
                url,
                token,
                clients,
                duration: Duration::from_secs(seconds),
                warmup: Duration::from_secs(warmup),
            })
            .await?;
            let rate = r.ok as f64 / r.seconds;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"clients": clients, "registrations_per_s": rate, "ok": r.ok, "failed": r.failed,
                        "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms})
                );
            } else {
                println!(
                    "intake: {clients} clients, {:.0} registrations/s ({} ok, {} failed in {:.0} s); latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    rate, r.ok, r.failed, r.seconds, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
                );
            }
        }
        Cmd::Bench { command: BenchCmd::Chat { url, token, chats, agents, seconds, rate, server_pid, json } } => {
            if chats == 0 || agents == 0 || seconds == 0 || !(rate > 0.0 && rate <= 1.0) {
                bail!("--chats, --agents and --seconds must be at least 1, and --rate between 0 and 1 message per second");
            }
            let r = bench_chat::run(bench_chat::ChatBench { url, token, chats, agents, duration: Duration::from_secs(seconds), rate, server_pid }).await?;
            let per_chat_kb = match (r.rss_before_kb, r.rss_open_kb) {
                (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / r.chats as f64),
                _ => None,
            };
            let rate = r.received as f64 / r.seconds;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"chats": r.chats, "agents": r.agents, "messages_per_s": rate, "sent": r.sent, "received": r.received,
                        "lost": r.lost, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms, "ack_p50_ms": r.ack_p50_ms,
                        "ack_p99_ms": r.ack_p99_ms, "rss_before_kb": r.rss_before_kb, "rss_open_kb": r.rss_open_kb, "kb_per_chat": per_chat_kb})
                );
            } else {
                println!(
                    "chat: {} open chats, {} agents, {rate:.0} messages/s ({} sent, {} received, {} lost); player → agent p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; ack p50 {:.2} ms, p99 {:.2} ms; server memory {}",
                    r.chats, r.agents, r.sent, r.received, r.lost, r.p50_ms, r.p99_ms, r.max_ms, r.ack_p50_ms, r.ack_p99_ms,
                    per_chat_kb.map_or("not measured (pass --server-pid)".to_string(), |k| format!("{k:.1} KiB per open chat"))
                );
            }
        }
        Cmd::Bench { command: BenchCmd::Mail { smtp, to, clients, seconds, pool, seed, json } } => {
            if clients == 0 || seconds == 0 || pool == 0 {
                bail!("--clients, --seconds and --pool must be at least 1");
            }
            let r = bench_mail::run(bench_mail::MailBench { smtp, to, clients, duration: Duration::from_secs(seconds), pool, seed }).await?;
            let rate = r.sent as f64 / r.seconds;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"clients": clients, "messages_per_s": rate, "sent": r.sent, "registered": r.registered,
                        "replied": r.replied, "ignored": r.ignored, "duplicate": r.duplicate, "refused": r.refused, "deferred": r.deferred,
                        "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms, "mean_bytes": r.mean_bytes})
                );
            } else {
                println!(
                    "mail: {clients} sessions, {rate:.0} messages/s ({} sent: {} new, {} replies, {} ignored, {} duplicates, {} refused, {} deferred (4xx); mean {:.1} KB); p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    r.sent, r.registered, r.replied, r.ignored, r.duplicate, r.refused, r.deferred, r.mean_bytes / 1024.0, r.p50_ms, r.p99_ms, r.max_ms
                );
            }
            if r.refused > 0 {
                return Ok(std::process::ExitCode::from(1));
            }
        }
        Cmd::Bench { command: BenchCmd::Pages { count, samples, json } } => {
            if count == 0 || samples == 0 {
                bail!("--count and --samples must be at least 1");
            }
            let desk = open_desk(&s).await?;
            let r = bench_pages::run(&desk, count, samples).await?;
            desk.close().await;
            if json {
                let pages: Vec<_> = r.timings.iter().map(|t| serde_json::json!({"page": t.page, "p50_ms": t.p50_ms, "p95_ms": t.p95_ms, "p99_ms": t.p99_ms})).collect();
                println!("{}", serde_json::json!({"complaints": r.complaints, "seeded": r.seeded, "seed_seconds": r.seed_seconds, "samples": samples, "pages": pages}));
            } else {
                if r.seeded > 0 {
                    println!("seeded {} complaints in {:.0} s ({:.0}/s)", r.seeded, r.seed_seconds, r.seeded as f64 / r.seed_seconds);
                }
                println!("{} complaints in the store; {samples} requests per page, whole request on loopback", r.complaints);
                println!("{:<50} {:>8} {:>8} {:>8}", "page", "p50 ms", "p95 ms", "p99 ms");
                for t in &r.timings {
                    println!("{:<50} {:>8.2} {:>8.2} {:>8.2}", t.page, t.p50_ms, t.p95_ms, t.p99_ms);
                }
            }
        }
        Cmd::Bench { command: BenchCmd::Timers { count, runners, batch, concurrency, json } } => {
            if count == 0 || runners == 0 || batch == 0 || concurrency == 0 {
                bail!("--count, --runners, --batch and --concurrency must be at least 1");
            }
            let desk = open_desk(&s).await?;
            let first = ombuds_desk::PageRequest { after: None, limit: 1 };
            if !desk.store().list_complaints(&Default::default(), &ombuds_core::Visibility::All, first).await?.items.is_empty() {
                bail!("the store at {} holds complaints: give the benchmark a fresh one (--database sqlite:///tmp/timers.db)", redact(&s.database_url()));
            }
            let r = bench_timers::run(&desk, count, runners, batch, concurrency).await?;
            desk.close().await;
            let rate = r.timers as f64 / r.seconds;
            if json {
                println!("{}", serde_json::json!({"timers": r.timers, "seconds": r.seconds, "timers_per_s": rate, "runners": runners, "register_seconds": r.register_seconds}));
            } else {
                println!("timers: {} fired by {runners} runner(s) in {:.2} s: {rate:.0} timers/s (registering them took {:.1} s)", r.timers, r.seconds, r.register_seconds);
            }
            if r.timers != count {
                eprintln!("expected {count} timers to fire, {} did", r.timers);
                return Ok(std::process::ExitCode::from(1));
            }
        }
    }
    Ok(ok)
}

async fn serve(s: Settings, demo: bool) -> anyhow::Result<()> {
    let desk = open_desk(&s).await?;
    desk.seed_departments().await?;
    desk.set_sla(&s.sla).await.map_err(user_error).context("invalid [sla] settings")?;
    if desk.load_saved_sla().await? {
        println!("SLA settings: the version saved through the API is in force (over [sla])");
    }
    if let Some((login, password)) = desk.ensure_admin().await? {
        println!("================================================================");
        println!(" First start: an administrator account was created.");
        println!("   login:    {login}");
        println!("   password: {password}");
        println!(" It is shown only this once. Change it: POST /api/v1/me/password");
        println!("================================================================");
    }
    if demo {
        match ombuds_desk::demo::load(&desk, 300, 20261125).await? {
            Some(sum) => println!("demo data loaded: {} complaints, {} agents (password demo-password-1)", sum.complaints, sum.agents),
            None => println!("demo data: the store already has complaints; nothing loaded"),
        }
    }
    let listener = tokio::net::TcpListener::bind(&s.listen).await.with_context(|| format!("cannot listen on {}", s.listen))?;
    let addr = listener.local_addr()?;
    println!("ombuds is serving on http://{addr} (store: {})", redact(&s.database_url()));
    let chat = ombuds_web::chat::ChatWebConfig {
        allowed_origins: s.chat.allowed_origins.clone(),
        messages_per_minute: s.chat.messages_per_minute,
        burst: s.chat.burst,
    };
    // Cookies go over HTTPS only, unless the desk listens on this machine's own address only
    // (plain HTTP on loopback, behind a TLS proxy or for a try-out).
    let secure_cookies = s.secure_cookies.unwrap_or(!addr.ip().is_loopback());
    let ui = ombuds_web::UiConfig { secure_cookies };
    let net = s.http.net();
    let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig { body_limit: s.body_limit, chat, ui, net: net.clone() });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut runner = ombuds_desk::sla::with_handlers(JobRunner::new(desk.clone(), format!("{}:{}", hostname(), std::process::id())));
    if let Some(e) = &s.email {
        let (r, lines) = email::start(&desk, e, &s.data_dir, runner, &stop_rx).await?;
        runner = r;
        for l in lines {
            println!("e-mail: {l}");
        }
    }
    let retraining = desk.spawn_retraining();
    let housekeeping = desk.spawn_housekeeping();
    let mut rx = stop_rx.clone();
    let runner_task = tokio::spawn(runner.run(async move {
        let _ = rx.wait_for(|v| *v).await;
    }));
    let mut rx = stop_rx.clone();
    let server = ombuds_web::net::serve(listener, app, &net, async move {
        let _ = rx.wait_for(|v| *v).await;
    });
    tokio::select! {
        r = server => r?,
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        }
    }
    let _ = stop_tx.send(true);
    let _ = runner_task.await;
    if let Some(t) = retraining {
        t.abort();
    }
    housekeeping.abort();
    desk.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "node".into())
}

async fn user(desk: &Desk, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { login, name, role, departments, languages, email, password_stdin, skills, capacity } => {
            let skills: BTreeSet<ombuds_core::Tag> =
                skills.iter().map(|s| ombuds_core::Tag::parse(s).map_err(|e| anyhow::anyhow!("--skill '{s}': {}", e.message))).collect::<Result<_, _>>()?;
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("--role {}", e.message))?;
            let departments: BTreeSet<DepartmentCode> = departments
                .iter()
                .map(|d| DepartmentCode::parse(d).map_err(|e| anyhow::anyhow!("--department '{d}': {}", e.message)))
                .collect::<Result<_, _>>()?;
            let languages: BTreeSet<Language> =
                languages.iter().map(|l| Language::parse(l).map_err(|e| anyhow::anyhow!("--language {}", e.message))).collect::<Result<_, _>>()?;
            let name = PersonName::parse(&name).map_err(|e| anyhow::anyhow!("--name {}", e.message))?;
            let email = email.map(|e| ombuds_core::EmailAddress::parse(&e).map_err(|err| anyhow::anyhow!("--email {}", err.message))).transpose()?;
            let password = if password_stdin {
                let mut p = String::new();
                std::io::stdin().read_line(&mut p)?;
                Some(p.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            desk.seed_departments().await?;
            let (agent, generated) =
                desk.add_agent(None, NewAgent { login, name, email, role, departments, languages, password, skills, capacity }).await.map_err(user_error)?;
            println!("added {} ({}) id {}", agent.login, agent.role, agent.id);
            if let Some(p) = generated {
                println!("password: {p}");
            }
        }
        UserCmd::List => {
            for a in desk.agents().await? {
                let deps: Vec<&str> = a.departments.iter().map(|d| d.as_str()).collect();
                println!("{:<20} {:<10} {:<8} {:<30} {}", a.login, a.role, if a.active { "active" } else { "disabled" }, deps.join(","), a.name);
            }
        }
        UserCmd::Disable { login } => {
            let a = desk.set_agent_active(None, &login, false).await.map_err(user_error)?;
            println!("disabled {}; its sessions are ended", a.login);
        }
        UserCmd::Enable { login } => {
            let a = desk.set_agent_active(None, &login, true).await.map_err(user_error)?;
            println!("enabled {}", a.login);
        }
    }
    Ok(())
}

async fn token(desk: &Desk, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create { name, scopes } => {
            let scopes: BTreeSet<Scope> =
                scopes.iter().map(|s| Scope::parse(s).map_err(|e| anyhow::anyhow!("--scope {}", e.message))).collect::<Result<_, _>>()?;
            let t = desk.create_token(None, &name, scopes).await.map_err(user_error)?;
            println!("token {} ({}) created; its secret, shown only now:", t.id, t.name);
            println!("{}", t.secret);
        }
        TokenCmd::List => {
            for t in desk.store().tokens().await? {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                println!("{}  {:<24} {:<40} {}", t.id, t.name, scopes.join(" "), if t.revoked_at.is_some() { "revoked" } else { "active" });
            }
        }
        TokenCmd::Revoke { id } => {
            let id = uuid::Uuid::parse_str(&id).map_err(|_| anyhow::anyhow!("'{id}' is not a token id (see `ombuds token list`)"))?;
            desk.revoke_token(None, id).await.map_err(user_error)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
