//! The e-mail channel end to end, on both stores: mail in over a real SMTP session to the
//! listener, notices out through a real SMTP relay on loopback that the test reads back from,
//! replies threaded by Message-ID and by reference, machine mail ignored, bad input refused.

use futures_util::future::BoxFuture;
use ombuds_channels::auth::{AuthResult, DkimSigning, DmarcPolicy, SenderVerifier};
use ombuds_channels::email::{EmailIntake, IntakeConfig, Ingested};
use ombuds_channels::sender::{MailSender, RelayConfig, RelaySecurity, SenderConfig};
use ombuds_channels::smtp_in::{self, Envelope, Reply, SmtpConfig, SmtpHandler};
use ombuds_core::*;
use ombuds_desk::*;
use ombuds_store::testing::TestDb;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

const DESK: &str = "support@desk.example";

/// A relay on loopback that keeps what it is given (and refuses `nobody@…`).
struct Relay {
    got: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl SmtpHandler for Relay {
    fn rcpt_to(&self, rcpt: &str) -> Result<(), Reply> {
        if rcpt.starts_with("nobody@") { Err(Reply::new(550, "5.1.1", "No such user")) } else { Ok(()) }
    }
    fn data(self: Arc<Self>, envelope: Envelope, raw: Vec<u8>) -> BoxFuture<'static, Reply> {
        self.got.lock().unwrap().push((envelope, raw));
        Box::pin(async { Reply::ok("queued") })
    }
}

struct World {
    desk: Desk,
    intake: Arc<EmailIntake>,
    smtp: SocketAddr,
    relay: Arc<Relay>,
    runner: JobRunner,
    _stop: watch::Sender<bool>,
}

async fn world(db: &TestDb, config: IntakeConfig) -> World {
    world_with(db, config, SmtpConfig { hostname: "mx.desk.example".into(), max_message_bytes: 512 * 1024, ..SmtpConfig::default() }).await
}

/// What a test world's sender is set up with besides the defaults.
#[derive(Default)]
struct Extra {
    dkim: Option<Arc<DkimSigning>>,
}

async fn world_with(db: &TestDb, config: IntakeConfig, cfg: SmtpConfig) -> World {
    world_extra(db, config, cfg, Extra::default()).await
}

async fn world_extra(db: &TestDb, intake_config: IntakeConfig, cfg: SmtpConfig, config: Extra) -> World {
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let intake = EmailIntake::new(desk.clone(), IntakeConfig { addresses: vec![DESK.into()], ..intake_config });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp = listener.local_addr().unwrap();
    tokio::spawn(smtp_in::serve(listener, cfg, intake.clone(), stop_rx.clone()));

    let relay = Arc::new(Relay { got: Mutex::new(vec![]) });
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay_listener.local_addr().unwrap().port();
    tokio::spawn(smtp_in::serve(relay_listener, SmtpConfig::default(), relay.clone(), stop_rx));
    let sender = MailSender::new(SenderConfig {
        relay: RelayConfig {
            host: "127.0.0.1".into(),
            port: relay_port,
            security: RelaySecurity::None,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
        },
        from_address: DESK.into(),
        from_name: Some("Desk Support".into()),
        message_id_domain: "desk.example".into(),
        operator_name: "Desk".into(),
        tracking_url: Some("https://desk.example/track/{ref}".into()),
        response_hours: 24,
        dkim: config.dkim.clone(),
    })
    .unwrap();
    let runner = sender.register(JobRunner::new(desk.clone(), "test"));
    World { desk, intake, smtp, relay, runner, _stop: stop }
}

/// Sender settings for a relay without TLS.
fn plain_relay(host: &str, port: u16) -> SenderConfig {
    SenderConfig {
        relay: RelayConfig { host: host.into(), port, security: RelaySecurity::None, username: None, password: None, timeout: Duration::from_secs(2) },
        from_address: DESK.into(),
        from_name: None,
        message_id_domain: "desk.example".into(),
        operator_name: "Desk".into(),
        tracking_url: None,
        response_hours: 24,
        dkim: None,
    }
}

/// A raw SMTP client: sends lines, reads (possibly multi-line) replies.
struct Client {
    io: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> (Client, String) {
        let mut c = Client { io: BufReader::new(TcpStream::connect(addr).await.unwrap()) };
        let greeting = c.reply().await;
        (c, greeting)
    }
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.io.read_line(&mut line).await.unwrap() == 0 {
                return all + "<closed>";
            }
            let last = line.as_bytes().get(3) != Some(&b'-');
            all.push_str(&line);
            if last {
                return all.trim_end().to_string();
            }
        }
    }
    async fn send(&mut self, line: &str) -> String {
        self.io.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.reply().await
    }
    async fn raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }
    /// One whole transaction; the reply to the final dot.
    async fn mail(&mut self, from: &str, to: &str, message: &str) -> String {
        assert!(self.send(&format!("MAIL FROM:<{from}>")).await.starts_with("250"), "MAIL FROM refused");
        let r = self.send(&format!("RCPT TO:<{to}>")).await;
        if !r.starts_with("250") {
            self.send("RSET").await;
            return r;
        }
        assert!(self.send("DATA").await.starts_with("354"));
        let mut data = String::new();
        for line in message.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.raw(data.as_bytes()).await;
        self.reply().await
    }
}

async fn send_mail(w: &World, from: &str, message: &str) -> String {
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO player.example").await;
    let r = c.mail(from, DESK, message).await;
    c.send("QUIT").await;
    r
}

fn message(from: &str, message_id: &str, subject: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "From: Player <{from}>\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0500\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn reference_in(reply: &str) -> ComplaintRef {
    let token = reply.split_whitespace().last().unwrap();
    ComplaintRef::parse(token).unwrap_or_else(|_| panic!("no reference in {reply:?}"))
}

fn admin() -> Principal {
    Principal::Token { id: uuid::Uuid::nil(), name: "test".into(), scopes: [Scope::Admin].into() }
}

async fn count(desk: &Desk) -> usize {
    desk.list(&admin(), &ComplaintFilter::default(), PageRequest { after: None, limit: 500 }).await.unwrap().items.len()
}

/// A complaint arrives by e-mail, is acknowledged by e-mail, and the player's reply to the
/// acknowledgment joins it; a copy delivered twice is stored once.
async fn mail_round_trip(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let first = message(
        "aigerim@mail.kz",
        "first-1@mail.kz",
        "Шығарылған ақша түспеді",
        "",
        "Сәлеметсіз бе! 20 қарашада 50 000 теңге шығардым, әлі күнге дейін картаға түскен жоқ.",
    );
    let r = send_mail(&w, "aigerim@mail.kz", &first).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    let reference = reference_in(&r);
    let view = w.desk.complaint(&admin(), &reference).await.unwrap();
    assert_eq!(view.complaint.channel, Channel::Email);
    assert_eq!(view.complaint.language, Language::Kk);
    assert_eq!(view.complaint.subject.as_str(), "Шығарылған ақша түспеді");
    assert!(view.complaint.description.as_str().contains("50 000 теңге"));
    assert_eq!(view.player.email.as_ref().unwrap().as_str(), "aigerim@mail.kz");
    assert_eq!(view.player.name.as_ref().unwrap().as_str(), "Player");
    let mails = w.desk.mails_of(&admin(), &reference).await.unwrap();
    assert_eq!(mails.len(), 1);
    let (_, raw) = w.desk.mail_raw(&admin(), &reference, mails[0].id).await.unwrap();
    assert!(raw.starts_with(b"Received: from player.example"), "the stored copy carries our trace header");
    assert!(String::from_utf8_lossy(&raw).contains("Message-ID: <first-1@mail.kz>"));

    // The same message again (a sender retrying after a lost 250): stored once.
    let again = send_mail(&w, "aigerim@mail.kz", &first).await;
    assert_eq!(again, "250 2.0.0 Already received");
    assert_eq!(count(&w.desk).await, 1);

    // The acknowledgment goes out through the relay, threaded to the player's mail.
    assert_eq!(w.runner.run_once().await.unwrap(), 1);
    let sent = w.relay.got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (env, ack) = &sent[0];
    assert_eq!(env.rcpt_to, vec!["aigerim@mail.kz".to_string()]);
    assert_eq!(env.mail_from, DESK);
    let ack = mail_parser::MessageParser::default().parse(ack).unwrap();
    assert!(ack.subject().unwrap().contains(&reference.to_string()), "{:?}", ack.subject());
    // Anyone can cause an acknowledgment by naming an address: it carries none of their text.
    let ack_text = String::from_utf8_lossy(&sent[0].1).to_string() + ack.body_text(0).as_deref().unwrap_or("");
    assert!(!ack.subject().unwrap().contains("Шығарылған") && !ack_text.contains("Шығарылған ақша"), "{:?}", ack.subject());
    assert_eq!(ack.to().and_then(|t| t.first()).and_then(|a| a.name()), None, "no name the sender chose");
    assert_eq!(ack.in_reply_to().as_text(), Some("first-1@mail.kz"));
    assert_eq!(ack.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    let ack_id = ack.message_id().unwrap().to_string();
    assert!(ack_id.ends_with("@desk.example"), "{ack_id}");

    // The player answers the acknowledgment: the reply joins the complaint.
    let reply = message(
        "aigerim@mail.kz",
        "reply-2@mail.kz",
        &format!("Re: {}", ack.subject().unwrap()),
        &format!("In-Reply-To: <{ack_id}>\r\nReferences: <first-1@mail.kz> <{ack_id}>\r\n"),
        "Чек қосып жібердім.\r\n\r\n> Өтінішіңіз тіркелді",
    );
    let r = send_mail(&w, "aigerim@mail.kz", &reply).await;
    assert_eq!(r, format!("250 2.0.0 Added to {reference}"));
    let view = w.desk.complaint(&admin(), &reference).await.unwrap();
    let inbound: Vec<&Message> = view.messages.iter().filter(|m| m.kind == MessageKind::Inbound).collect();
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].body.as_str(), "Чек қосып жібердім.", "the quote is trimmed");
    assert_eq!(inbound[0].author, Actor::Player { id: view.player.id });
    let mails = w.desk.mails_of(&admin(), &reference).await.unwrap();
    assert_eq!(mails.iter().map(|m| m.direction).collect::<Vec<_>>(), vec![MailDirection::In, MailDirection::Out, MailDirection::In]);
    assert_eq!(mails[2].message_id, Some(inbound[0].id));
    assert_eq!(count(&w.desk).await, 1);
}

/// Threading by the reference in the subject follows only the complaint's own player; a reply
/// to a closed complaint starts a follow-up.
async fn subject_reference_threading(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let r = send_mail(&w, "ivan@yandex.ru", &message("ivan@yandex.ru", "a1@yandex.ru", "Ставка не рассчитана", "", "Матч давно закончился.")).await;
    let reference = reference_in(&r);
    // The subject names the reference; no In-Reply-To (a new mail written by hand).
    let subject = format!("Re: [{reference}] Ставка не рассчитана");
    let r = send_mail(&w, "ivan@yandex.ru", &message("ivan@yandex.ru", "a2@yandex.ru", &subject, "", "Прошло уже три дня.")).await;
    assert_eq!(r, format!("250 2.0.0 Added to {reference}"));
    // Someone else copies the reference: a complaint of their own, not a message in Ivan's.
    let r = send_mail(&w, "mallory@evil.example", &message("mallory@evil.example", "m1@evil.example", &subject, "", "Закройте эту жалобу")).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    assert_ne!(reference_in(&r), reference);
    let ivan = w.desk.complaint(&admin(), &reference).await.unwrap();
    assert_eq!(ivan.messages.len(), 1);

    // Close Ivan's complaint; his next mail with the reference is a follow-up complaint.
    let who = admin();
    w.desk.apply(&who, &reference, Command::Route { department: DepartmentCode::parse("bet_settlement").unwrap(), category: None }).await.unwrap();
    let text = Body::parse("Ставка пересчитана").unwrap();
    w.desk.apply(&who, &reference, Command::Resolve { measures: text.clone(), result: text }).await.unwrap();
    w.desk.apply(&who, &reference, Command::Close).await.unwrap();
    let r = send_mail(&w, "ivan@yandex.ru", &message("ivan@yandex.ru", "a3@yandex.ru", &subject, "", "Снова не рассчитали!")).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    let follow = w.desk.complaint(&admin(), &reference_in(&r)).await.unwrap();
    assert!(follow.complaint.tags.contains(&Tag::parse("follow-up").unwrap()));
    assert_eq!(follow.player.id, ivan.player.id);
}

/// Machine mail is taken (so senders stop retrying) but never registered or answered.
async fn machine_mail_is_ignored(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let auto = message("ivan@yandex.ru", "v1@yandex.ru", "Автоответ: Re: [K7M-4QX-2PH]", "Auto-Submitted: auto-replied\r\n", "Я в отпуске до 1 декабря.");
    assert_eq!(send_mail(&w, "ivan@yandex.ru", &auto).await, "250 2.0.0 Accepted, not registered (auto_reply)");
    let list = message("news@bookmaker.example", "n1@bookmaker.example", "Weekly odds", "Precedence: bulk\r\nList-Id: <odds.bookmaker.example>\r\n", "Odds!");
    assert!(send_mail(&w, "news@bookmaker.example", &list).await.starts_with("250 2.0.0 Accepted, not registered"));
    let ours = message(DESK, "x@desk.example", "[K7M-4QX-2PH] Complaint registered", "X-Ombuds-Ref: K7M-4QX-2PH\r\n", "Loop?");
    assert!(send_mail(&w, "someone@else.example", &ours).await.starts_with("250 2.0.0 Accepted, not registered"));
    // A bounce: empty envelope sender.
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO mailer.example").await;
    let bounce = message("MAILER-DAEMON@mailer.example", "b1@mailer.example", "Undelivered Mail Returned to Sender", "", "The mail system said no.");
    assert!(c.mail("", DESK, &bounce).await.starts_with("250 2.0.0 Accepted, not registered"));
    assert_eq!(count(&w.desk).await, 0);
    assert_eq!(w.runner.run_once().await.unwrap(), 0, "nothing to answer");
}

/// Bad input at the SMTP level: clear replies, and nothing stored is touched.
async fn smtp_refusals(db: &TestDb) {
    let w = world(db, IntakeConfig { sender_burst: 3, sender_per_hour: 1, ..IntakeConfig::default() }).await;
    let ok = send_mail(&w, "keep@mail.kz", &message("keep@mail.kz", "k1@mail.kz", "Бонус не начислен", "", "Где мой фрибет?")).await;
    let kept = reference_in(&ok);

    let (mut c, greeting) = Client::connect(w.smtp).await;
    assert!(greeting.starts_with("220 mx.desk.example"), "{greeting}");
    assert!(c.send("MAIL FROM:<a@b.kz>").await.starts_with("503 5.5.1"), "EHLO first");
    let ehlo = c.send("EHLO client.example").await;
    assert!(ehlo.contains("250-PIPELINING") && ehlo.contains("SIZE 524288") && ehlo.contains("8BITMIME"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "no certificate, no STARTTLS");
    assert_eq!(c.send("STARTTLS").await, "502 5.5.1 STARTTLS not available");
    assert!(c.send("DATA").await.starts_with("503 5.5.1"));
    assert!(c.send("MAIL FROM:<a@b.kz> SIZE=999999999").await.starts_with("552 5.3.4"));
    assert!(c.send("MAIL FROM:<not an address>").await.starts_with("553 5.1.7"));
    assert!(c.send("MAIL FROM:<a@b.kz>").await.starts_with("250"));
    assert_eq!(c.send("RCPT TO:<someone@elsewhere.example>").await, "550 5.7.1 Relaying denied: this server only receives mail for its own addresses");
    assert_eq!(c.send("RCPT TO:<sales@desk.example>").await, "550 5.1.1 No such mailbox here");
    assert!(c.send(&format!("RCPT TO:<{}>", "x".repeat(2000))).await.starts_with("500 5.5.2 Line too long"));
    assert!(c.send("BOGUS").await.starts_with("500 5.5.2"));
    assert!(c.send("RSET").await.starts_with("250"));
    // A message that is not one: no header section, no sender.
    let r = c.mail("a@b.kz", DESK, "just some words\r\nwithout headers").await;
    assert_eq!(r, "554 5.6.0 not an e-mail message: no header section");
    // Too big: the whole body is read, then refused.
    let big = message("a@b.kz", "big@b.kz", "big", "", &"x".repeat(600 * 1024));
    assert_eq!(c.mail("a@b.kz", DESK, &big).await, "552 5.3.4 Message too big: the limit is 524288 bytes");
    assert!(c.send("NOOP").await.starts_with("250"), "the session survives");
    assert!(c.send("QUIT").await.starts_with("221"));

    // Header injection in the subject of a stored complaint stays inside the subject.
    let evil = message("keep@mail.kz", "k2@mail.kz", "=?utf-8?Q?Hi=0D=0ABcc:_x@evil.example?=", "", "text");
    let r = send_mail(&w, "keep@mail.kz", &evil).await;
    let c2 = w.desk.complaint(&admin(), &reference_in(&r)).await.unwrap();
    assert!(!c2.complaint.subject.as_str().contains('\n') && !c2.complaint.subject.as_str().contains('\r'));

    // Per-sender rate limit: the burst is 3 (two used above), then 450 at MAIL FROM.
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO client.example").await;
    assert!(c.send("MAIL FROM:<keep@mail.kz>").await.starts_with("250"));
    c.send("RSET").await;
    assert_eq!(c.send("MAIL FROM:<keep@mail.kz>").await, "450 4.7.1 Too many messages from this sender; try again later");
    assert!(c.send("MAIL FROM:<other@mail.kz>").await.starts_with("250"), "other senders are not affected");

    // Too many protocol errors close the session.
    let (mut c, _) = Client::connect(w.smtp).await;
    let mut last = String::new();
    for _ in 0..12 {
        last = c.send("WHAT").await;
        if last.starts_with("421") || last.ends_with("<closed>") {
            break;
        }
    }
    assert!(last.starts_with("421 4.7.0"), "{last}");

    // Nothing stored was touched.
    let view = w.desk.complaint(&admin(), &kept).await.unwrap();
    assert_eq!(view.complaint.version, 1);
    assert_eq!(count(&w.desk).await, 2);
    assert!(w.desk.verify_chain().await.unwrap().broken.is_none());
}

/// Pipelined commands get their replies in order; STARTTLS with commands pipelined after it is
/// refused (the command-injection class of bugs).
async fn pipelining(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO client.example").await;
    let body = message("pipe@mail.kz", "p1@mail.kz", "Вопрос по верификации", "", "Какие документы нужны?");
    c.raw(format!("MAIL FROM:<pipe@mail.kz>\r\nRCPT TO:<{DESK}>\r\nRCPT TO:<nobody@other.example>\r\nDATA\r\n").as_bytes()).await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("550 5.7.1"));
    assert!(c.reply().await.starts_with("354"));
    c.raw(format!("{body}.\r\nQUIT\r\n").as_bytes()).await;
    assert!(c.reply().await.starts_with("250 2.0.0 Registered as "));
    assert!(c.reply().await.starts_with("221"));
}

/// A relay that refuses the player's address: the job fails for good and the complaint says
/// so. A relay that is down: the job waits for a retry.
async fn delivery_failures(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let r = send_mail(&w, "nobody@mail.kz", &message("nobody@mail.kz", "n1@mail.kz", "Аккаунт заблокирован", "", "Не могу войти.")).await;
    let reference = reference_in(&r);
    assert_eq!(w.runner.run_once().await.unwrap(), 1);
    let jobs = w.desk.jobs_of(&admin(), &reference).await.unwrap();
    assert_eq!(jobs[0].status, "failed");
    assert!(jobs[0].last_error.as_deref().unwrap().contains("550"), "{:?}", jobs[0].last_error);
    let history = w.desk.history(&admin(), &reference).await.unwrap();
    let failed = history.iter().find_map(|e| match &e.event.data {
        EventData::DeliveryFailed { notice, recipient, reason, .. } => Some((notice.clone(), recipient.clone(), reason.clone())),
        _ => None,
    });
    let (notice, recipient, reason) = failed.expect("a delivery_failed event");
    assert_eq!((notice.as_str(), recipient.as_deref()), ("acknowledge", Some("nobody@mail.kz")));
    assert!(reason.contains("refused"), "{reason}");
    assert!(w.desk.verify_chain().await.unwrap().broken.is_none());

    // A relay nobody listens on: transient, retried later, nothing recorded on the complaint yet.
    let dead = MailSender::new(plain_relay("127.0.0.1", 1))
    .unwrap();
    let runner = dead.register(JobRunner::new(w.desk.clone(), "dead"));
    let r = send_mail(&w, "someone@mail.kz", &message("someone@mail.kz", "s1@mail.kz", "Вопрос", "", "Текст")).await;
    let other = reference_in(&r);
    assert_eq!(runner.run_once().await.unwrap(), 1);
    let jobs = w.desk.jobs_of(&admin(), &other).await.unwrap();
    assert_eq!((jobs[0].status.as_str(), jobs[0].attempts), ("pending", 1));
    assert!(jobs[0].run_at > now(), "retried later");
    let history = w.desk.history(&admin(), &other).await.unwrap();
    assert!(!history.iter().any(|e| matches!(e.event.data, EventData::DeliveryFailed { .. })));
    // Plain SMTP to a relay elsewhere is refused at start-up.
    let e = MailSender::new(plain_relay("smtp.example.com", 25));
    assert!(e.is_err());
}

/// Agent replies, proposed solutions and the resolution reach the player in their language,
/// each threaded under the previous mail.
async fn notices_follow_the_thread(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let r = send_mail(&w, "john@example.com", &message("john@example.com", "j1@example.com", "Withdrawal pending", "", "My withdrawal of 200 EUR has been pending for five days.")).await;
    let reference = reference_in(&r);
    let who = admin();
    w.desk.apply(&who, &reference, Command::Route { department: DepartmentCode::parse("payments").unwrap(), category: None }).await.unwrap();
    w.desk.apply(&who, &reference, Command::AddMessage { kind: MessageKind::Outbound, channel: None, body: Body::parse("We are checking it with the bank.").unwrap() }).await.unwrap();
    w.desk.apply(&who, &reference, Command::AddMessage { kind: MessageKind::Note, channel: None, body: Body::parse("internal: bank ticket 991").unwrap() }).await.unwrap();
    w.desk.apply(&who, &reference, Command::Resolve { measures: Body::parse("Payment re-sent").unwrap(), result: Body::parse("The money arrived").unwrap() }).await.unwrap();
    while w.runner.run_once().await.unwrap() > 0 {}
    let sent = w.relay.got.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "ack, reply, resolution; never the internal note");
    let parsed: Vec<_> = sent.iter().map(|(_, raw)| mail_parser::MessageParser::default().parse(raw).unwrap()).collect();
    let texts: Vec<String> = parsed.iter().map(|m| m.body_text(0).unwrap().to_string()).collect();
    assert!(texts[1].contains("We are checking it with the bank."));
    assert!(texts[2].contains("Payment re-sent") && texts[2].contains("The money arrived"));
    assert!(texts.iter().all(|t| !t.contains("bank ticket 991")));
    for m in &parsed {
        assert_eq!(m.in_reply_to().as_text(), Some("j1@example.com"), "every notice answers the player's mail");
        assert!(m.subject().unwrap().contains(&reference.to_string()));
    }
    let refs = parsed[2].references().as_text_list().unwrap();
    assert_eq!(refs.first().map(|s| s.as_ref()), Some("j1@example.com"));
    assert!(refs.len() >= 3, "{refs:?}");
    assert_eq!(parsed[1].header_raw("Auto-Submitted"), None, "an agent's reply is written by a person");
}

ombuds_store::both_backends! {
    round_trip => mail_round_trip,
    subject_threading => subject_reference_threading,
    machine_mail => machine_mail_is_ignored,
    refusals => smtp_refusals,
    pipelined => pipelining,
    failures => delivery_failures,
    notices => notices_follow_the_thread,
    smuggling => smtp_smuggling_is_refused,
    cut_off => data_cut_off_after_the_dot,
    postmaster => postmaster_and_bare_paths,
    spooled => large_messages_are_spooled,
    reply_to => reply_to_and_no_reply_addresses,
    long_text => long_text_and_outlook_placeholders,
    bounces => bounces_are_recorded,
    dkim_signed => notices_are_dkim_signed,
    sender_checks => senders_are_checked,
    staff => staff_notices_by_mail,
    templates => saved_templates_are_sent,
}

/// A template an administrator saved is the one the next letter is composed with; a refused one
/// changes nothing; after a reset the built-in one is back.
async fn saved_templates_are_sent(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let r = send_mail(&w, "john@example.com", &message("john@example.com", "t1@example.com", "Withdrawal pending", "", "My withdrawal of 200 EUR is late.")).await;
    let reference = reference_in(&r);
    let who = admin();
    let builtin = w.desk.mail_templates(&who).await.unwrap().into_iter().find(|t| t.name == "en/reply.txt").unwrap();
    assert!(builtin.replaced.is_none());
    let refused = w.desk.save_mail_template(&who, "en/reply.txt", "no reference {{ nonsense(").await;
    assert!(matches!(refused, Err(DeskError::Domain(DomainError::Invalid(_)))), "{refused:?}");
    w.desk.save_mail_template(&who, "en/reply.txt", &format!("Marker from the settings screen.\n{}", builtin.source)).await.unwrap();
    w.desk.apply(&who, &reference, Command::AddMessage { kind: MessageKind::Outbound, channel: None, body: Body::parse("We are on it.").unwrap() }).await.unwrap();
    while w.runner.run_once().await.unwrap() > 0 {}
    let sent = w.relay.got.lock().unwrap().clone();
    let texts: Vec<String> =
        sent.iter().map(|(_, raw)| mail_parser::MessageParser::default().parse(raw).unwrap().body_text(0).unwrap().to_string()).collect();
    assert_eq!(texts.len(), 2, "acknowledgment and reply");
    assert!(!texts[0].contains("Marker from the settings screen."), "the acknowledgment's template was not changed");
    assert!(texts[1].contains("Marker from the settings screen.") && texts[1].contains("We are on it."), "{}", texts[1]);

    // Back to the built-in one: the next reply is without the marker.
    w.desk.reset_mail_template(&who, "en/reply.txt").await.unwrap();
    w.desk.apply(&who, &reference, Command::AddMessage { kind: MessageKind::Outbound, channel: None, body: Body::parse("Done.").unwrap() }).await.unwrap();
    while w.runner.run_once().await.unwrap() > 0 {}
    let sent = w.relay.got.lock().unwrap().clone();
    let last = mail_parser::MessageParser::default().parse(&sent.last().unwrap().1).unwrap().body_text(0).unwrap().to_string();
    assert!(last.contains("Done.") && !last.contains("Marker from the settings screen."), "{last}");
}

/// Agents and supervisors hear of assignments and SLA alarms by e-mail, in their language.
async fn staff_notices_by_mail(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let staff = |login: &str, role: Role, email: &str, languages: &[Language]| NewAgent {
        login: login.into(),
        name: PersonName::parse(login).unwrap(),
        email: Some(EmailAddress::parse(email).unwrap()),
        role,
        departments: [DepartmentCode::parse("payments").unwrap()].into(),
        languages: languages.iter().copied().collect(),
        password: Some("correct horse battery".into()),
        skills: Default::default(),
        capacity: None,
    };
    let (dana, _) = w.desk.add_agent(None, staff("dana", Role::Agent, "dana@desk.example", &[Language::Kk])).await.unwrap();
    w.desk.add_agent(None, staff("sup", Role::Supervisor, "sup@desk.example", &[Language::En])).await.unwrap();
    let r = send_mail(&w, "john@example.com", &message("john@example.com", "s1@example.com", "Шығару", "", "Ақша шығару өтінімі үш күннен бері орындалмады.")).await;
    let reference = reference_in(&r);
    let who = admin();
    w.desk.apply(&who, &reference, Command::Route { department: DepartmentCode::parse("payments").unwrap(), category: None }).await.unwrap();
    w.desk.apply(&who, &reference, Command::Assign { agent: dana.id }).await.unwrap();
    while w.runner.run_once().await.unwrap() > 0 {}
    let to = |addr: &str| -> Vec<String> {
        w.relay
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e.rcpt_to.iter().any(|r| r == addr))
            .map(|(_, raw)| mail_parser::MessageParser::default().parse(raw).unwrap().body_text(0).unwrap().to_string())
            .collect()
    };
    let dana_mail = to("dana@desk.example");
    assert_eq!(dana_mail.len(), 1, "{dana_mail:?}");
    assert!(dana_mail[0].contains("Сізге өтініш тағайындалды") && dana_mail[0].contains(&reference.to_string()), "in Kazakh: {}", dana_mail[0]);
    assert!(to("sup@desk.example").is_empty(), "an assignment is the assignee's business");
    // A day later the deadlines are missed: the supervisor (in English) and the assignee hear of it.
    let c = w.desk.store().complaint_by_ref(&reference).await.unwrap();
    w.desk.check_sla_as_of(c.id, jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25)).await.unwrap();
    while w.runner.run_once().await.unwrap() > 0 {}
    let sup_mail = to("sup@desk.example");
    assert!(!sup_mail.is_empty() && sup_mail.iter().all(|m| m.contains("missed its")), "{sup_mail:?}");
    assert!(sup_mail.iter().any(|m| m.contains("first response")) && sup_mail.iter().any(|m| m.contains("UTC")), "{sup_mail:?}");
    assert!(to("dana@desk.example").iter().any(|m| m.contains("мерзімі бұзылды")), "{:?}", to("dana@desk.example"));
    assert!(to("john@example.com").iter().all(|m| !m.contains("мерзімі бұзылды") && !m.contains("missed its")), "the player never sees staff notices");
}

#[tokio::test]
async fn ingest_reports_duplicates_directly() {
    let db = TestDb::sqlite();
    let w = world(&db, IntakeConfig::default()).await;
    let raw = message("a@mail.kz", "d1@mail.kz", "Тема", "", "Текст").into_bytes();
    assert!(matches!(w.intake.ingest(raw.clone(), None).await.unwrap(), Ingested::Registered(_)));
    assert_eq!(w.intake.ingest(raw, None).await.unwrap(), Ingested::Duplicate);
    db.cleanup().await;
}

/// STARTTLS: offered when a certificate is configured, a real TLS client (lettre) delivers
/// over it, the stored copy says ESMTPS; commands pipelined after STARTTLS are refused.
#[tokio::test]
async fn starttls() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let tls = ombuds_channels::email::server_tls(&cert_path, &key_path).unwrap();
    assert!(ombuds_channels::email::server_tls(&key_path, &key_path).is_err(), "a key is not a certificate");

    let db = TestDb::sqlite();
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();
    let intake = EmailIntake::new(desk.clone(), IntakeConfig { addresses: vec![DESK.into()], ..IntakeConfig::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    let cfg = SmtpConfig { hostname: "localhost".into(), tls: Some(tls), ..SmtpConfig::default() };
    tokio::spawn(smtp_in::serve(listener, cfg, intake, stop_rx));

    let (mut c, _) = Client::connect(addr).await;
    assert!(c.send("EHLO client.example").await.ends_with("250 STARTTLS"));
    c.raw(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n").await;
    assert_eq!(c.reply().await, "554 5.5.1 Commands pipelined after STARTTLS, closing");

    use lettre::AsyncTransport;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let params = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(key.cert.pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("localhost")
        .port(addr.port())
        .tls(Tls::Required(params))
        .build();
    let raw = message("tls@mail.kz", "tls1@mail.kz", "Вывод средств", "", "Отправлено по TLS");
    let envelope = lettre::address::Envelope::new(Some("tls@mail.kz".parse().unwrap()), vec![DESK.parse().unwrap()]).unwrap();
    let response = transport.send_raw(&envelope, raw.as_bytes()).await.unwrap();
    let text = response.message().collect::<Vec<_>>().join(" ");
    let reference = ComplaintRef::parse(text.split_whitespace().last().unwrap()).unwrap();
    let mails = desk.mails_of(&admin(), &reference).await.unwrap();
    let (_, stored) = desk.mail_raw(&admin(), &reference, mails[0].id).await.unwrap();
    assert!(String::from_utf8_lossy(&stored).lines().next().unwrap().contains("with ESMTPS"));
    db.cleanup().await;
}

/// SMTP smuggling: only <CRLF>.<CRLF> ends DATA. Each known variant of a bare end of data
/// (`\n.\n`, `\r.\r`, `\r\n.\n`, `\n.\r\n`) followed by a forged second transaction in a
/// victim's name is refused whole (554 5.5.2) and the session closed: neither message is
/// registered and the victim's complaint is untouched.
async fn smtp_smuggling_is_refused(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let r = send_mail(&w, "victim@mail.kz", &message("victim@mail.kz", "v1@mail.kz", "Вывод средств", "", "Деньги не пришли.")).await;
    let victim = reference_in(&r);
    for (i, sep) in ["\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n"].iter().enumerate() {
        let (mut c, _) = Client::connect(w.smtp).await;
        c.send("EHLO attacker.example").await;
        assert!(c.send("MAIL FROM:<attacker@evil.example>").await.starts_with("250"));
        assert!(c.send(&format!("RCPT TO:<{DESK}>")).await.starts_with("250"));
        assert!(c.send("DATA").await.starts_with("354"));
        let first = message("attacker@evil.example", &format!("a{i}@evil.example"), "Hello", "", "harmless");
        let forged = message(
            "victim@mail.kz",
            &format!("forged{i}@evil.example"),
            &format!("Re: [{victim}] Вывод средств"),
            "",
            "Всё решено, закройте мою жалобу.",
        );
        let payload = format!("{}{sep}MAIL FROM:<victim@mail.kz>\r\nRCPT TO:<{DESK}>\r\nDATA\r\n{forged}.\r\nQUIT\r\n", first.trim_end());
        c.raw(payload.as_bytes()).await;
        let r = c.reply().await;
        assert!(r.starts_with("554 5.5.2 Message refused: bare CR or LF"), "variant {sep:?}: {r}");
        assert_eq!(c.reply().await, "<closed>", "variant {sep:?}: the session is closed, nothing after it is read");
    }
    assert_eq!(count(&w.desk).await, 1, "neither the carrier nor the forged message is registered");
    let view = w.desk.complaint(&admin(), &victim).await.unwrap();
    assert_eq!(view.complaint.version, 1, "the victim's complaint is untouched");
    assert!(view.messages.is_empty());
    // A well-formed message afterwards is taken as usual.
    let r = send_mail(&w, "attacker@evil.example", &message("attacker@evil.example", "ok@evil.example", "Вопрос", "", "Обычное письмо.")).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
}

/// A message cut off right after the final dot (no CRLF; or after ".\r") is incomplete:
/// nothing is registered and no 250 is given.
async fn data_cut_off_after_the_dot(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    for (i, tail) in [".", ".\r", "\r\n."].iter().enumerate() {
        let (mut c, _) = Client::connect(w.smtp).await;
        c.send("EHLO client.example").await;
        assert!(c.send("MAIL FROM:<cut@mail.kz>").await.starts_with("250"));
        assert!(c.send(&format!("RCPT TO:<{DESK}>")).await.starts_with("250"));
        assert!(c.send("DATA").await.starts_with("354"));
        let m = message("cut@mail.kz", &format!("cut{i}@mail.kz"), "Обрыв", "", "Письмо оборвалось");
        c.raw(format!("{m}{tail}").as_bytes()).await;
        c.io.get_mut().shutdown().await.unwrap();
        assert_eq!(c.reply().await, "<closed>", "tail {tail:?}: no reply to an incomplete message");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count(&w.desk).await, 0);
}

/// `postmaster` (alone or at our domain) is always a valid recipient, and paths without angle
/// brackets are tolerated; other domains' postmasters are still not relayed to.
async fn postmaster_and_bare_paths(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO client.example").await;
    assert_eq!(c.send("MAIL FROM:admin@other.example").await, "250 2.1.0 Sender ok");
    assert_eq!(c.send("RCPT TO:<Postmaster@desk.example>").await, "250 2.1.5 Recipient ok");
    assert_eq!(c.send("RCPT TO:postmaster").await, "250 2.1.5 Recipient ok");
    assert!(c.send("RCPT TO:<postmaster@elsewhere.example>").await.starts_with("550 5.7.1"));
    assert!(c.send("DATA").await.starts_with("354"));
    let m = message("admin@other.example", "pm1@other.example", "Your server", "", "Your players complain to us; please check your MX.");
    c.raw(format!("{m}.\r\n").as_bytes()).await;
    let r = c.reply().await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "a person writing to postmaster reaches the desk: {r}");
    let mails = w.desk.mails_of(&admin(), &reference_in(&r)).await.unwrap();
    assert_eq!(mails[0].recipient, "postmaster@desk.example");
    // Without brackets to the desk itself, too.
    assert_eq!(c.send("MAIL FROM:player@mail.kz SIZE=100").await, "250 2.1.0 Sender ok");
    assert_eq!(c.send(&format!("RCPT TO:{DESK}")).await, "250 2.1.5 Recipient ok");
    assert!(c.send("QUIT").await.starts_with("221"));
}

/// A message larger than the spool threshold goes to a file while it arrives and comes back
/// byte for byte.
async fn large_messages_are_spooled(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SmtpConfig {
        hostname: "mx.desk.example".into(),
        max_message_bytes: 2 * 1024 * 1024,
        spool_threshold: 16 * 1024,
        spool_dir: Some(dir.path().to_path_buf()),
        ..SmtpConfig::default()
    };
    let w = world_with(db, IntakeConfig::default(), cfg).await;
    let line = "Строка длинного письма о выводе средств. ".repeat(2);
    let body = (0..8000).map(|i| format!("{i} {line}")).collect::<Vec<_>>().join("\r\n");
    let m = message("big@mail.kz", "big1@mail.kz", "Длинное письмо", "", &format!(".leading dot\r\n{body}"));
    assert!(m.len() > 1024 * 1024);
    let r = send_mail(&w, "big@mail.kz", &m).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    let reference = reference_in(&r);
    let mails = w.desk.mails_of(&admin(), &reference).await.unwrap();
    let (_, raw) = w.desk.mail_raw(&admin(), &reference, mails[0].id).await.unwrap();
    let stored = String::from_utf8(raw).unwrap();
    let (_, original) = stored.split_once("\r\n").unwrap();
    // `Client::mail` ends every line, the empty one after the last CRLF too: one CRLF more.
    assert!(original == format!("{m}\r\n"), "the spooled message comes back whole, dot-stuffing undone ({} bytes, sent {})", original.len(), m.len());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left in the spool directory");
}

/// Connections beyond the per-address limit get 421 and are closed; a slot freed is reusable.
/// Idle clients are closed by the command timeout, slow ones by the data timeout.
#[tokio::test]
async fn connection_limits_and_timeouts() {
    let db = TestDb::sqlite();
    let cfg = SmtpConfig {
        hostname: "mx.desk.example".into(),
        max_connections_per_ip: 3,
        timeout: Duration::from_millis(400),
        data_timeout: Duration::from_millis(400),
        ..SmtpConfig::default()
    };
    let w = world_with(&db, IntakeConfig::default(), cfg).await;
    let mut open = vec![];
    for _ in 0..3 {
        let (c, greeting) = Client::connect(w.smtp).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        open.push(c);
    }
    let (mut fourth, greeting) = Client::connect(w.smtp).await;
    assert_eq!(greeting, "421 4.7.0 Too many connections from your address, try again later");
    assert_eq!(fourth.reply().await, "<closed>");
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_again, greeting) = Client::connect(w.smtp).await;
    assert!(greeting.starts_with("220 "), "a freed slot is given again: {greeting}");

    // An idle session is closed at the command timeout.
    let r = open[0].reply().await;
    assert!(r.starts_with("421 4.4.2") && r.contains("Timeout"), "{r}");
    // A stalled DATA is closed at the data timeout; nothing is registered.
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO client.example").await;
    c.send("MAIL FROM:<slow@mail.kz>").await;
    c.send(&format!("RCPT TO:<{DESK}>")).await;
    assert!(c.send("DATA").await.starts_with("354"));
    c.raw(b"From: slow@mail.kz\r\nSubject: slow\r\n\r\nhalf a mes").await;
    assert_eq!(c.reply().await, "421 4.4.2 Timeout while reading data, closing");
    assert_eq!(count(&w.desk).await, 0);
    db.cleanup().await;
}

/// The whole session has a time limit, however busy the client keeps it.
#[tokio::test]
async fn session_time_limit() {
    let db = TestDb::sqlite();
    let cfg = SmtpConfig { hostname: "mx.desk.example".into(), session_timeout: Duration::from_millis(600), ..SmtpConfig::default() };
    let w = world_with(&db, IntakeConfig::default(), cfg).await;
    let (mut c, _) = Client::connect(w.smtp).await;
    let started = std::time::Instant::now();
    let last = loop {
        let r = c.send("NOOP").await;
        if !r.starts_with("250") {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(5), "the session never ended");
    };
    assert!(last.starts_with("421 4.4.2") && last.contains("Session time limit"), "{last}");
    db.cleanup().await;
}

/// A contact form's mail (From: noreply@site, Reply-To: the player) belongs to the player and
/// is acknowledged to them; a mail from a no-reply address without a usable Reply-To is
/// registered, nothing is sent to it, and the complaint says why.
async fn reply_to_and_no_reply_addresses(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let form = message("noreply@site.example", "form-1@site.example", "Форма обратной связи", "Reply-To: Игрок Один <player@mail.kz>\r\n", "Не пришла выплата.");
    let r = send_mail(&w, "noreply@site.example", &form).await;
    let reference = reference_in(&r);
    let view = w.desk.complaint(&admin(), &reference).await.unwrap();
    assert_eq!(view.player.email.as_ref().unwrap().as_str(), "player@mail.kz");
    assert_eq!(view.player.name.as_ref().unwrap().as_str(), "Игрок Один");
    assert_eq!(w.runner.run_once().await.unwrap(), 1);
    let sent = w.relay.got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.rcpt_to, vec!["player@mail.kz".to_string()], "acknowledged to the player, not to noreply@");

    // No usable Reply-To (absent, or itself no-reply): registered, nothing sent, said on the complaint.
    for (i, extra) in ["", "Reply-To: <do-not-reply@site.example>\r\n"].iter().enumerate() {
        let m = message("no-reply@site.example", &format!("form-{i}b@site.example"), "Форма", extra, "Текст обращения.");
        let r = send_mail(&w, "no-reply@site.example", &m).await;
        assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
        let reference = reference_in(&r);
        assert_eq!(w.runner.run_once().await.unwrap(), 1);
        assert_eq!(w.relay.got.lock().unwrap().len(), 1, "nothing is sent to a no-reply address");
        let history = w.desk.history(&admin(), &reference).await.unwrap();
        let reason = history.iter().find_map(|e| match &e.event.data {
            EventData::DeliveryFailed { reason, recipient, .. } => Some((reason.clone(), recipient.clone())),
            _ => None,
        });
        let (reason, recipient) = reason.expect("the complaint says nothing was sent");
        assert!(reason.contains("no-reply address"), "{reason}");
        assert_eq!(recipient.as_deref(), Some("no-reply@site.example"));
    }
}

/// Outlook's `[cid:…]` placeholders leave the visible text; a text longer than a complaint
/// holds (a 99 KB line) is cut with a note to the agent, and the whole text is attached.
async fn long_text_and_outlook_placeholders(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let long_line = "ставка ".repeat(99 * 1024 / 13);
    let body = format!("Добрый день.\r\n[cid:image001.png@01DA2B3C.4D5E6F70]\r\nСкрин выше.\r\n{long_line}\r\nКонец письма.");
    let r = send_mail(&w, "long@mail.kz", &message("long@mail.kz", "long1@mail.kz", "Длинное письмо", "", &body)).await;
    let reference = reference_in(&r);
    let view = w.desk.complaint(&admin(), &reference).await.unwrap();
    let text = view.complaint.description.as_str();
    assert!(!text.contains("[cid:"), "{}", &text[..200]);
    assert!(text.starts_with("Добрый день.\n\nСкрин выше."), "{}", &text[..200]);
    assert!(text.contains("[ombuds: this e-mail's text has") && text.ends_with("the original e-mail is kept whole]"), "the cut is said: {}", &text[text.len() - 300..]);
    let files = w.desk.attachments_of(&admin(), &reference).await.unwrap();
    let full = files.iter().find(|f| f.filename == "full-text.txt").expect("the whole text is attached");
    let (_, data) = w.desk.attachment(&admin(), &reference, full.id).await.unwrap();
    let data = String::from_utf8(data).unwrap();
    assert!(data.contains(long_line.trim_end()) && data.ends_with("Конец письма."), "the whole text, to its end");
    // A short mail is not touched.
    let r = send_mail(&w, "short@mail.kz", &message("short@mail.kz", "s1@mail.kz", "Коротко", "", "Коротко [cid:image001.png@01DA] и всё.")).await;
    let view = w.desk.complaint(&admin(), &reference_in(&r)).await.unwrap();
    assert_eq!(view.complaint.description.as_str(), "Коротко  и всё.");
    assert!(w.desk.attachments_of(&admin(), &reference_in(&r)).await.unwrap().is_empty());
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../mail/tests/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A DSN (Postfix) and an Exchange NDR answering the desk's acknowledgment are recorded on
/// the complaint as `delivery_failed` (once per report, however often it is delivered), the
/// address is marked as bouncing, and the mark is cleared when the player writes again.
async fn bounces_are_recorded(db: &TestDb) {
    let w = world(db, IntakeConfig::default()).await;
    let player = "aigerim.s@corp.example.kz";
    let r = send_mail(&w, player, &message(player, "b-first@corp.example.kz", "Вывод средств", "", "Деньги не пришли.")).await;
    let reference = reference_in(&r);
    assert_eq!(w.runner.run_once().await.unwrap(), 1);
    let ack = w.relay.got.lock().unwrap()[0].1.clone();
    let ack_id = mail_parser::MessageParser::default().parse(&ack).unwrap().message_id().unwrap().to_string();
    let failures = |h: &[ombuds_store::StoredEvent]| -> Vec<(String, Option<String>, String)> {
        h.iter()
            .filter_map(|e| match &e.event.data {
                EventData::DeliveryFailed { notice, recipient, reason, .. } => Some((notice.clone(), recipient.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    };

    // Postfix's DSN (with the returned headers only), sent with an empty envelope sender.
    let dsn = fixture("dsn_bounce.eml")
        .replace("ombuds.ab12@bet.example.kz", &ack_id)
        .replace("NF6-YY0-93X", &reference.to_string())
        .replace("no.such.player@example.kz", player);
    for _ in 0..2 {
        let (mut c, _) = Client::connect(w.smtp).await;
        c.send("EHLO mx.corp.example.kz").await;
        assert_eq!(c.mail("", DESK, &dsn).await, format!("250 2.0.0 Delivery report recorded on {reference}"));
    }
    let history = w.desk.history(&admin(), &reference).await.unwrap();
    let failed = failures(&history);
    assert_eq!(failed.len(), 1, "the same report twice is recorded once: {failed:?}");
    assert_eq!(failed[0].0, "acknowledge");
    assert_eq!(failed[0].1.as_deref(), Some(player));
    assert!(failed[0].2.contains("5.1.1") && failed[0].2.starts_with("bounced:"), "{}", failed[0].2);
    let mark = w.desk.bouncing(player).await.unwrap().expect("the address is marked as bouncing");
    assert!(mark.reason.contains("User unknown"), "{mark:?}");

    // An Exchange NDR (the whole returned message, X-Ombuds-Ref in it).
    let ndr = fixture("exchange_ndr.eml")
        .replace("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@bet.example.kz", &ack_id)
        .replace("NF6-YY0-93X", &reference.to_string());
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO corp.example.kz").await;
    assert_eq!(c.mail("", DESK, &ndr).await, format!("250 2.0.0 Delivery report recorded on {reference}"));
    let failed = failures(&w.desk.history(&admin(), &reference).await.unwrap());
    assert_eq!(failed.len(), 2);
    assert!(failed[1].2.contains("RESOLVER.ADR.RecipientNotFound"), "{}", failed[1].2);
    assert_eq!(w.desk.bouncing(player).await.unwrap().unwrap().bounces, 2, "two reports; the repeat is not counted");

    // A bounce about no mail of ours is dropped as before.
    let stray = fixture("dsn_bounce.eml").replace("X-Ombuds-Ref: NF6-YY0-93X", "X-Other: 1");
    let (mut c, _) = Client::connect(w.smtp).await;
    c.send("EHLO mx.other.example").await;
    assert_eq!(c.mail("", DESK, &stray).await, "250 2.0.0 Accepted, not registered (bounce)");
    assert_eq!(count(&w.desk).await, 1, "no report becomes a complaint");
    assert_eq!(w.runner.run_once().await.unwrap(), 0, "nothing answers a report");

    // The player writes again: the address works.
    send_mail(&w, player, &message(player, "b-again@corp.example.kz", "Re: Вывод средств", "", "Пишу с того же адреса.")).await;
    assert!(w.desk.bouncing(player).await.unwrap().is_none(), "cleared when the address writes to us");
    assert!(w.desk.verify_chain().await.unwrap().broken.is_none());
}

// ---------------------------------------------------------------------------------------------
// Sender authentication. No DNS here: every record is given to the verifier's cache, and any
// other look-up fails at once (an offline resolver), as on a machine whose DNS is down.

fn dkim_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/dkim/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap().trim().to_string()
}

fn dkim_key(name: &str, domain: &str, selector: &str) -> DkimSigning {
    DkimSigning::from_pem(domain, selector, dkim_file(name).as_bytes()).unwrap()
}

/// A verifier that knows `desk.example`'s key and nothing else about it.
fn verifier_for_desk() -> SenderVerifier {
    let v = SenderVerifier::offline(Duration::from_secs(2));
    v.add_txt("s1._domainkey.desk.example", &format!("v=DKIM1; k=rsa; p={}", dkim_file("rsa.pub"))).unwrap();
    v.add_missing("_dmarc.desk.example");
    v.add_missing("_dmarc.example");
    v
}

/// Every notice leaves with a DKIM signature (relaxed/relaxed) that a verifier accepts with
/// the published key, and that fails once the body is changed; Ed25519 and PKCS#1 RSA keys
/// sign too, and unusable keys are refused when they are loaded.
async fn notices_are_dkim_signed(db: &TestDb) {
    let key = Arc::new(dkim_key("rsa.pem", "desk.example", "s1"));
    assert_eq!(key.algorithm(), "rsa-sha256");
    let w = world_extra(db, IntakeConfig::default(), SmtpConfig { hostname: "mx.desk.example".into(), ..SmtpConfig::default() }, Extra { dkim: Some(key) }).await;
    let r = send_mail(&w, "john@example.com", &message("john@example.com", "k1@example.com", "Withdrawal pending", "", "My withdrawal is late.")).await;
    assert!(r.starts_with("250 2.0.0 Registered"), "{r}");
    assert_eq!(w.runner.run_once().await.unwrap(), 1);
    let (_, ack) = w.relay.got.lock().unwrap()[0].clone();
    let text = String::from_utf8_lossy(&ack).to_string();
    assert!(text.starts_with("DKIM-Signature: v=1; a=rsa-sha256; s=s1; d=desk.example; c=relaxed/relaxed;"), "{}", &text[..200.min(text.len())]);
    let h = text.split("h=").nth(1).unwrap().split(';').next().unwrap().to_ascii_lowercase();
    for header in ["from", "to", "subject", "date", "message-id", "in-reply-to", "mime-version", "content-type", "auto-submitted"] {
        assert!(h.split(':').any(|x| x.trim() == header), "{header} not signed: {h}");
    }

    let v = verifier_for_desk();
    let auth = v.check(&ack, None).await;
    assert_eq!(auth.dkim, AuthResult::Pass, "{auth:?}");
    assert_eq!((auth.spf, auth.dmarc, auth.domain.as_str()), (AuthResult::None, AuthResult::None, "desk.example"), "no DMARC record: none");
    // One changed byte in the body: the signature no longer holds.
    let body_at = text.find("\r\n\r\n").unwrap() + 4;
    let mut tampered = ack.clone();
    let i = tampered[body_at..].iter().position(|b| b.is_ascii_alphabetic()).unwrap() + body_at;
    tampered[i] = if tampered[i] == b'x' { b'y' } else { b'x' };
    assert_eq!(v.check(&tampered, None).await.dkim, AuthResult::Fail);
    // A changed subject too.
    let resubjected = text.replacen("Subject: ", "Subject: Urgent ", 1);
    assert_eq!(v.check(resubjected.as_bytes(), None).await.dkim, AuthResult::Fail);

    // Ed25519 (RFC 8463) and an RSA key in PKCS#1 form.
    let ed = dkim_key("ed25519.pem", "desk.example", "ed1");
    assert_eq!(ed.algorithm(), "ed25519-sha256");
    v.add_txt("ed1._domainkey.desk.example", &format!("v=DKIM1; k=ed25519; p={}", dkim_file("ed25519.pub"))).unwrap();
    let raw = message(DESK, "n1@desk.example", "Notice", "", "Text");
    let signed = ed.sign(raw.as_bytes()).unwrap();
    assert_eq!(v.check(&signed, None).await.dkim, AuthResult::Pass);
    let pkcs1 = dkim_key("rsa-pkcs1.pem", "desk.example", "s1");
    assert_eq!(v.check(&pkcs1.sign(raw.as_bytes()).unwrap(), None).await.dkim, AuthResult::Pass);

    // Keys that cannot sign are refused with a reason at start-up.
    let ec = DkimSigning::from_pem("desk.example", "s1", dkim_file("ec.pem").as_bytes()).unwrap_err();
    assert!(ec.contains("EC key"), "{ec}");
    let missing = DkimSigning::load("desk.example", "s1", std::path::Path::new("/nonexistent/dkim.pem")).unwrap_err();
    assert!(missing.contains("cannot read the DKIM key"), "{missing}");
    let selector = DkimSigning::from_pem("desk.example", "s 1", dkim_file("rsa.pem").as_bytes()).unwrap_err();
    assert!(selector.contains("selector"), "{selector}");
}

/// Records for the players' domains: `player.example` signs with Ed25519, sends from
/// 203.0.113.5 and asks for forgeries to be rejected; `quarantine.example` signs with RSA and
/// asks for quarantine; `plain.example` publishes nothing.
fn verifier_for_players() -> SenderVerifier {
    let v = SenderVerifier::offline(Duration::from_secs(2));
    v.add_txt("ed1._domainkey.player.example", &format!("v=DKIM1; k=ed25519; p={}", dkim_file("ed25519.pub"))).unwrap();
    v.add_txt("player.example", "v=spf1 ip4:203.0.113.5 -all").unwrap();
    v.add_txt("_dmarc.player.example", "v=DMARC1; p=reject").unwrap();
    v.add_txt("s1._domainkey.quarantine.example", &format!("v=DKIM1; k=rsa; p={}", dkim_file("rsa.pub"))).unwrap();
    v.add_txt("_dmarc.quarantine.example", "v=DMARC1; p=quarantine").unwrap();
    for name in ["_dmarc.plain.example", "_dmarc.example", "plain.example"] {
        v.add_missing(name);
    }
    v
}

fn envelope(ip: &str, mail_from: &str) -> Envelope {
    Envelope { peer: format!("{ip}:25000").parse().unwrap(), helo: "mx.player.example".into(), mail_from: mail_from.into(), rcpt_to: vec![DESK.into()], tls: false }
}

/// Received mail is checked before it is stored: the results are kept with the mail and
/// listed; a DMARC failure whose domain says `reject` is refused at SMTP (`550 5.7.1`); any
/// other failure is taken but never threaded into the complaint of the player it names; a
/// malformed signature and a DNS that does not answer give results, not errors or waits.
async fn senders_are_checked(db: &TestDb) {
    let v = Arc::new(verifier_for_players());
    let w = world(db, IntakeConfig { verifier: Some(v.clone()), ..IntakeConfig::default() }).await;
    let ed = dkim_key("ed25519.pem", "player.example", "ed1");
    let rsa = dkim_key("rsa.pem", "quarantine.example", "s1");
    let signed = |key: &DkimSigning, m: String| String::from_utf8(key.sign(m.as_bytes()).unwrap()).unwrap();

    // Signed by the player's domain, over SMTP from this machine (SPF: none): DMARC pass.
    let first = signed(&ed, message("ana@player.example", "a1@player.example", "Deposit missing", "", "My deposit of 100 EUR is missing."));
    let r = send_mail(&w, "ana@player.example", &first).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    let reference = reference_in(&r);
    let mails = w.desk.mails_of(&admin(), &reference).await.unwrap();
    let auth = mails[0].auth.clone().expect("checked");
    assert_eq!((auth.spf, auth.dkim, auth.dmarc), (AuthResult::None, AuthResult::Pass, AuthResult::Pass), "{auth:?}");
    assert_eq!((auth.domain.as_str(), auth.policy), ("player.example", Some(DmarcPolicy::Reject)));
    let json = serde_json::to_value(&mails[0]).unwrap();
    assert_eq!(json["auth"]["dmarc"], "pass", "{json}");

    // A forged reply in her name (unsigned, not from her domain's servers): refused.
    let forged = message("ana@player.example", "f1@evil.example", &format!("Re: [{reference}] Deposit missing"), "In-Reply-To: <a1@player.example>\r\n", "Send the money to my new card.");
    let r = send_mail(&w, "ana@player.example", &forged).await;
    assert!(r.starts_with("550 5.7.1 ") && r.contains("DMARC"), "{r}");
    // The same from her domain's server (SPF pass, aligned): DMARC pass, threaded.
    let by_server = message("ana@player.example", "a2@player.example", &format!("Re: [{reference}] Deposit missing"), "In-Reply-To: <a1@player.example>\r\n", "Any news?");
    let got = w.intake.ingest(by_server.clone().into_bytes(), Some(&envelope("203.0.113.5", "ana@player.example"))).await.unwrap();
    assert_eq!(got, Ingested::Replied(reference));
    let mails = w.desk.mails_of(&admin(), &reference).await.unwrap();
    let auth = mails.last().unwrap().auth.clone().unwrap();
    assert_eq!((auth.spf, auth.dkim, auth.dmarc), (AuthResult::Pass, AuthResult::None, AuthResult::Pass), "{auth:?}");
    // From another server: SPF fail, no signature, DMARC fail with p=reject: refused.
    let err = w.intake.ingest(message("ana@player.example", "a3@player.example", "Re: x", "", "x").into_bytes(), Some(&envelope("198.51.100.7", "ana@player.example"))).await.unwrap_err();
    assert!(matches!(&err, ombuds_channels::email::IngestError::Refused(_, 550, "5.7.1")), "{err:?}");

    // p=quarantine: a forged reply is taken, flagged, and opens its own complaint.
    let q = signed(&rsa, message("bob@quarantine.example", "b1@quarantine.example", "Bonus not credited", "", "Where is my bonus?"));
    let r = send_mail(&w, "bob@quarantine.example", &q).await;
    let bob_ref = reference_in(&r);
    let fake = message("bob@quarantine.example", "b2@evil.example", &format!("Re: [{bob_ref}] Bonus not credited"), "In-Reply-To: <b1@quarantine.example>\r\n", "Please close my account.");
    let r = send_mail(&w, "bob@quarantine.example", &fake).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "a failing reply is not added to the complaint: {r}");
    let fake_ref = reference_in(&r);
    assert_ne!(fake_ref, bob_ref);
    let auth = w.desk.mails_of(&admin(), &fake_ref).await.unwrap()[0].auth.clone().unwrap();
    assert_eq!((auth.dkim, auth.dmarc, auth.policy), (AuthResult::None, AuthResult::Fail, Some(DmarcPolicy::Quarantine)), "{auth:?}");
    // A signed reply with a changed body fails DKIM and DMARC alike.
    let mut altered = signed(&rsa, message("bob@quarantine.example", "b3@quarantine.example", &format!("Re: [{bob_ref}] x"), "", "Original text."));
    altered = altered.replace("Original text.", "Altered text.");
    let r = send_mail(&w, "bob@quarantine.example", &altered).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    assert_eq!(w.desk.mails_of(&admin(), &reference_in(&r)).await.unwrap()[0].auth.as_ref().unwrap().dkim, AuthResult::Fail);

    // A malformed signature on a domain without DMARC: a result, not a panic or an error.
    let malformed = format!("DKIM-Signature: v=1; a=rsa-sha256; d=plain.example; s=x; b=!!!; bh=\r\n{}", message("c@plain.example", "c1@plain.example", "Hello", "", "Text"));
    let r = send_mail(&w, "c@plain.example", &malformed).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
    let auth = w.desk.mails_of(&admin(), &reference_in(&r)).await.unwrap()[0].auth.clone().unwrap();
    // RFC 8601 2.7.1: a signature with syntax errors is "neutral".
    assert_eq!((auth.dkim, auth.dmarc), (AuthResult::Neutral, AuthResult::None), "{auth:?}");

    // Fetched by IMAP (no envelope): DKIM and DMARC only.
    let imap = signed(&ed, message("ana@player.example", "a4@player.example", "Another matter", "", "A new question."));
    let Ingested::Registered(r) = w.intake.ingest(imap.into_bytes(), None).await.unwrap() else { panic!("not registered") };
    let auth = w.desk.mails_of(&admin(), &r).await.unwrap()[0].auth.clone().unwrap();
    assert_eq!((auth.spf, auth.dkim, auth.dmarc), (AuthResult::None, AuthResult::Pass, AuthResult::Pass), "{auth:?}");

    // A domain DNS knows nothing of here (the resolver has no server): temperror at once,
    // taken as unverified; after a few such messages DNS is left alone for a while.
    let started = std::time::Instant::now();
    for i in 0..7 {
        let r = send_mail(&w, "d@unknown.example", &message("d@unknown.example", &format!("d{i}@unknown.example"), "Question", "", "Text")).await;
        assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
        let auth = w.desk.mails_of(&admin(), &reference_in(&r)).await.unwrap()[0].auth.clone().unwrap();
        assert_eq!(auth.dmarc, AuthResult::TempError, "{auth:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "DNS failures must not stall intake: {:?}", started.elapsed());
    // Unchecked is not proven: a reply that could not be checked joins its complaint only by
    // the thread's Message-IDs (which only the mail's recipients know), never by a reference in
    // the subject (which anyone may type), so failing DNS on purpose slips nothing in, and DNS
    // trouble does not break players' threads.
    let first = send_mail(&w, "d@unknown.example", &message("d@unknown.example", "d20@unknown.example", "Question", "", "Text")).await;
    let first = reference_in(&first);
    let r = send_mail(&w, "d@unknown.example", &message("d@unknown.example", "d21@unknown.example", "Re: Question", "In-Reply-To: <d20@unknown.example>\r\n", "More")).await;
    assert!(r.starts_with("250 2.0.0 Added to "), "{r}");
    assert!(r.contains(&first.to_string()), "{r}");
    let r = send_mail(&w, "d@unknown.example", &message("d@unknown.example", "d22@unknown.example", &format!("Re: [{first}] Question"), "", "Forged?")).await;
    assert!(r.starts_with("250 2.0.0 Registered as "), "{r}");
}
