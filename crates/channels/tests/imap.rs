//! The IMAP poller against a real Dovecot (see `support/dovecot.rs`). Every test that needs the
//! server skips (with a note) when Dovecot is not installed, unless
//! `OMBUDS_TEST_REQUIRE_DOVECOT=1`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ombuds_channels::imap::{
    AfterStore, Deliver, DeliverError, Delivery, ImapConfig, ImapError, PollStats, Security,
    poll_once, run,
};
use support::dovecot::{Dovecot, Options};

/// A small message with a recognisable Message-ID.
fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Player <player@example.org>\r\n\
         To: complaints@desk.example\r\n\
         Subject: complaint {id}\r\n\
         Message-ID: <{id}@example.org>\r\n\
         Date: Wed, 25 Nov 2026 08:00:00 +0000\r\n\
         \r\n\
         My withdrawal is stuck ({id}).\r\n"
    )
    .into_bytes()
}

fn has_id(raw: &[u8], id: &str) -> bool {
    let needle = format!("Message-ID: <{id}@example.org>");
    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The Message-ID local part of a test message.
fn id_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let start = text.find("Message-ID: <").expect("message id") + "Message-ID: <".len();
    let end = text[start..].find('@').expect("@");
    text[start..start + end].to_string()
}

fn deliver_with<F, Fut>(f: F) -> Deliver
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Delivery, DeliverError>> + Send + 'static,
{
    Arc::new(move |raw| Box::pin(f(raw)))
}

/// A deliver that records every message (its Message-ID local part) and answers with `answer`.
fn recorder(
    answer: impl Fn(&str) -> Result<Delivery, DeliverError> + Send + Sync + 'static,
) -> (Deliver, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    let deliver = deliver_with(move |raw: Vec<u8>| {
        let id = id_of(&raw);
        log.lock().unwrap().push(id.clone());
        let result = answer(&id);
        async move { result }
    });
    (deliver, seen)
}

fn stored(_: &str) -> Result<Delivery, DeliverError> {
    Ok(Delivery::Stored)
}

fn flags_of(list: &[(u32, Vec<String>, Vec<u8>)], id: &str) -> Vec<String> {
    list.iter()
        .find(|(_, _, raw)| has_id(raw, id))
        .unwrap_or_else(|| panic!("{id} not in the mailbox"))
        .1
        .clone()
}

fn is_seen(flags: &[String]) -> bool {
    flags.iter().any(|f| f == "\\Seen")
}

#[tokio::test]
async fn mark_seen_delivers_unseen_messages_once() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("a1")).await;
    dc.append("INBOX", &message("a2")).await;
    dc.append_with_flags("INBOX", &message("old"), Some("(\\Seen)"))
        .await;
    let cfg = dc.imap_config();
    let (deliver, got) = recorder(stored);

    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(
        stats,
        PollStats {
            fetched: 2,
            stored: 2,
            ..PollStats::default()
        }
    );
    assert_eq!(*got.lock().unwrap(), ["a1", "a2"]);
    let inbox = dc.list("INBOX").await;
    assert_eq!(inbox.len(), 3);
    for id in ["a1", "a2", "old"] {
        assert!(is_seen(&flags_of(&inbox, id)), "{id} not seen");
    }
    // The bytes delivered are the message as appended.
    let raw = &inbox.iter().find(|m| has_id(&m.2, "a1")).unwrap().2;
    assert_eq!(raw, &message("a1"));

    let again = poll_once(&cfg, &deliver).await.expect("second poll");
    assert_eq!(again, PollStats::default());
    assert_eq!(got.lock().unwrap().len(), 2, "nothing delivered twice");
}

#[tokio::test]
async fn move_creates_the_target_and_moves_delivered_messages() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("m1")).await;
    dc.append("INBOX", &message("m2")).await;
    let mut cfg = dc.imap_config();
    cfg.after = AfterStore::Move("Processed".into());
    let (deliver, got) = recorder(stored);

    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.stored, 2);
    assert_eq!(got.lock().unwrap().len(), 2);
    assert!(dc.list("INBOX").await.is_empty());
    let processed = dc.list("Processed").await;
    assert_eq!(processed.len(), 2);
    assert!(processed.iter().all(|m| is_seen(&m.1)));
    assert!(dc.mailboxes().await.contains(&"Processed".to_string()));

    // A second round with the target already there.
    dc.append("INBOX", &message("m3")).await;
    poll_once(&cfg, &deliver).await.expect("poll");
    assert!(dc.list("INBOX").await.is_empty());
    assert_eq!(dc.list("Processed").await.len(), 3);
}

#[tokio::test]
async fn delete_expunges_delivered_messages() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("d1")).await;
    dc.append_with_flags("INBOX", &message("kept"), Some("(\\Seen)"))
        .await;
    let mut cfg = dc.imap_config();
    cfg.after = AfterStore::Delete;
    let (deliver, got) = recorder(stored);

    poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(*got.lock().unwrap(), ["d1"]);
    let inbox = dc.list("INBOX").await;
    assert_eq!(
        inbox.len(),
        1,
        "only the message that was already seen is left"
    );
    assert!(has_id(&inbox[0].2, "kept"));
}

#[tokio::test]
async fn without_move_and_uidplus_the_fallbacks_work() {
    let Some(dc) = Dovecot::start_with(Options {
        capability: Some("IMAP4rev1 LITERAL+ SASL-IR".into()),
        ..Options::default()
    }) else {
        return;
    };
    dc.append("INBOX", &message("f1")).await;
    dc.append("INBOX", &message("f2")).await;
    let mut cfg = dc.imap_config();
    cfg.after = AfterStore::Move("Done".into());
    let (deliver, _) = recorder(stored);
    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.stored, 2);
    assert!(dc.list("INBOX").await.is_empty());
    assert_eq!(dc.list("Done").await.len(), 2);

    dc.append("INBOX", &message("f3")).await;
    cfg.after = AfterStore::Delete;
    poll_once(&cfg, &deliver).await.expect("poll");
    assert!(dc.list("INBOX").await.is_empty());
    assert_eq!(dc.list("Done").await.len(), 2);

    // No IDLE advertised: `run` falls back to polling.
    let (deliver, got) = recorder(stored);
    cfg.use_idle = true;
    cfg.poll_interval = Duration::from_millis(100);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));
    dc.append("INBOX", &message("f4")).await;
    wait_until(Duration::from_secs(5), || {
        got.lock().unwrap().contains(&"f4".to_string())
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("run stops")
        .unwrap();
}

#[tokio::test]
async fn duplicates_and_ignored_messages_count_as_handled() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("dup")).await;
    dc.append("INBOX", &message("auto")).await;
    let cfg = dc.imap_config();
    let (deliver, _) = recorder(|id| {
        Ok(if id == "dup" {
            Delivery::Duplicate
        } else {
            Delivery::Ignored
        })
    });
    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(
        stats,
        PollStats {
            fetched: 2,
            duplicates: 1,
            ignored: 1,
            ..PollStats::default()
        }
    );
    assert!(dc.list("INBOX").await.iter().all(|m| is_seen(&m.1)));
}

#[tokio::test]
async fn temporary_failure_leaves_the_message_for_the_next_round() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("t1")).await;
    dc.append("INBOX", &message("t2")).await;
    let cfg = dc.imap_config();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // The first attempt at t1 fails for now; everything else goes through.
    let (deliver, got) = recorder(move |id| {
        if id == "t1" && c.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(DeliverError::Temporary("database is down".into()))
        } else {
            Ok(Delivery::Stored)
        }
    });

    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.temporary_failures, 1);
    assert_eq!(stats.stored, 1);
    let inbox = dc.list("INBOX").await;
    assert!(!is_seen(&flags_of(&inbox, "t1")), "t1 must stay unseen");
    assert!(is_seen(&flags_of(&inbox, "t2")));

    let stats = poll_once(&cfg, &deliver).await.expect("second poll");
    assert_eq!(
        stats,
        PollStats {
            fetched: 1,
            stored: 1,
            ..PollStats::default()
        }
    );
    assert_eq!(*got.lock().unwrap(), ["t1", "t2", "t1"]);
    assert!(dc.list("INBOX").await.iter().all(|m| is_seen(&m.1)));
}

#[tokio::test]
async fn permanent_failure_moves_to_the_failed_mailbox() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("bad")).await;
    dc.append("INBOX", &message("good")).await;
    let mut cfg = dc.imap_config();
    cfg.failed_mailbox = Some("Failed".into());
    let (deliver, got) = recorder(|id| {
        if id == "bad" {
            Err(DeliverError::Permanent(
                "not a complaint we can parse".into(),
            ))
        } else {
            Ok(Delivery::Stored)
        }
    });

    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.permanent_failures, 1);
    assert_eq!(stats.stored, 1);
    let inbox = dc.list("INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert!(has_id(&inbox[0].2, "good"));
    let failed = dc.list("Failed").await;
    assert_eq!(failed.len(), 1);
    assert!(has_id(&failed[0].2, "bad"));
    assert!(
        !is_seen(&failed[0].1),
        "left unseen for a person to look at"
    );

    assert_eq!(
        poll_once(&cfg, &deliver).await.unwrap(),
        PollStats::default()
    );
    assert_eq!(got.lock().unwrap().len(), 2, "never retried");
}

#[tokio::test]
async fn permanent_failure_without_failed_mailbox_is_flagged_and_not_retried() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("bad")).await;
    let cfg = dc.imap_config();
    let (deliver, got) = recorder(|_| Err(DeliverError::Permanent("no".into())));
    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.permanent_failures, 1);
    let flags = flags_of(&dc.list("INBOX").await, "bad");
    assert!(
        is_seen(&flags) && flags.iter().any(|f| f == "\\Flagged"),
        "{flags:?}"
    );
    assert_eq!(
        poll_once(&cfg, &deliver).await.unwrap(),
        PollStats::default()
    );
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_panicking_deliver_leaves_the_message_unseen() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("ok")).await;
    dc.append("INBOX", &message("boom")).await;
    let cfg = dc.imap_config();
    let panicky = deliver_with(|raw: Vec<u8>| async move {
        if has_id(&raw, "boom") {
            panic!("deliver blew up (expected by the test)");
        }
        Ok(Delivery::Stored)
    });
    let stats = poll_once(&cfg, &panicky)
        .await
        .expect("poll survives the panic");
    assert_eq!(stats.stored, 1);
    assert_eq!(stats.temporary_failures, 1);
    let inbox = dc.list("INBOX").await;
    assert!(is_seen(&flags_of(&inbox, "ok")));
    assert!(!is_seen(&flags_of(&inbox, "boom")));

    let (deliver, got) = recorder(stored);
    poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(*got.lock().unwrap(), ["boom"]);
}

#[tokio::test]
async fn a_poll_cancelled_during_deliver_leaves_everything_unseen() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("c1")).await;
    dc.append("INBOX", &message("c2")).await;
    let cfg = dc.imap_config();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = entered.clone();
    // c1 is taken; c2's delivery hangs (a crash in the middle of the round).
    let slow = deliver_with(move |raw: Vec<u8>| {
        let e = e.clone();
        async move {
            e.fetch_add(1, Ordering::SeqCst);
            if has_id(&raw, "c2") {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok(Delivery::Stored)
        }
    });
    let cancelled = tokio::time::timeout(Duration::from_millis(700), poll_once(&cfg, &slow)).await;
    assert!(cancelled.is_err(), "the poll was cut short");
    assert_eq!(entered.load(Ordering::SeqCst), 2, "both deliveries started");
    // Nothing was marked: the chunk's flags are only stored once the chunk is done, so c1 comes
    // again too (the desk deduplicates it by Message-ID).
    let inbox = dc.list("INBOX").await;
    assert!(inbox.iter().all(|m| !is_seen(&m.1)), "{inbox:?}");

    let (deliver, got) = recorder(|id| {
        Ok(if id == "c1" {
            Delivery::Duplicate
        } else {
            Delivery::Stored
        })
    });
    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!((stats.stored, stats.duplicates), (1, 1));
    assert_eq!(*got.lock().unwrap(), ["c1", "c2"]);
    assert!(dc.list("INBOX").await.iter().all(|m| is_seen(&m.1)));
}

#[tokio::test]
async fn many_messages_go_through_in_chunks() {
    let Some(dc) = Dovecot::start() else { return };
    let n = 120;
    dc.append_many("INBOX", (0..n).map(|i| message(&format!("bulk{i}"))))
        .await;
    let mut cfg = dc.imap_config();
    cfg.after = AfterStore::Move("Processed".into());
    let (deliver, got) = recorder(stored);
    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(stats.fetched, n);
    assert_eq!(stats.stored, n);
    let got = got.lock().unwrap().clone();
    let expected: Vec<String> = (0..n).map(|i| format!("bulk{i}")).collect();
    assert_eq!(got, expected, "in UID order, each once");
    assert!(dc.list("INBOX").await.is_empty());
    assert_eq!(dc.list("Processed").await.len(), n);
}

#[tokio::test]
async fn an_oversized_message_is_refused_without_downloading_it() {
    let Some(dc) = Dovecot::start() else { return };
    let mut big = message("huge");
    big.extend(std::iter::repeat_n(b'x', 300_000));
    big.extend(b"\r\n");
    dc.append("INBOX", &big).await;
    dc.append("INBOX", &message("small")).await;
    let mut cfg = dc.imap_config();
    cfg.max_message_bytes = 50_000;
    cfg.failed_mailbox = Some("Failed".into());
    let (deliver, got) = recorder(stored);

    let stats = poll_once(&cfg, &deliver).await.expect("poll");
    assert_eq!(
        stats,
        PollStats {
            fetched: 2,
            stored: 1,
            permanent_failures: 1,
            ..PollStats::default()
        }
    );
    assert_eq!(*got.lock().unwrap(), ["small"]);

    // Dovecot's logout line for the poller's session: it fetched one body, the small one.
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = dc.log();
        if let Some(l) = log.lines().find(|l| l.contains("fetch_body_count=1")) {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no logout line in:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let bytes: usize = field(&line, "fetch_body_bytes=");
    let out: usize = field(&line, "out=");
    assert!(bytes < 1_000, "{line}");
    assert!(out < 50_000, "the big body was sent: {line}");

    let failed = dc.list("Failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].2, big);
    assert!(dc.list("INBOX").await.iter().all(|m| has_id(&m.2, "small")));
}

fn field(line: &str, name: &str) -> usize {
    let start = line
        .find(name)
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + name.len();
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn run_with_idle_delivers_new_mail_promptly_and_stops_on_shutdown() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("before")).await;
    let mut cfg = dc.imap_config();
    // Without IDLE nothing would arrive within the test.
    cfg.poll_interval = Duration::from_secs(3600);
    cfg.use_idle = true;
    let (deliver, got) = recorder(stored);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));

    wait_until(Duration::from_secs(5), || got.lock().unwrap().len() == 1).await;
    // Let it settle into IDLE, then deliver two more, one after the other.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in ["during1", "during2"] {
        let t = Instant::now();
        dc.append("INBOX", &message(id)).await;
        wait_until(Duration::from_secs(5), || {
            got.lock().unwrap().iter().any(|g| g == id)
        })
        .await;
        eprintln!("{id} delivered {:?} after the append", t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(*got.lock().unwrap(), ["before", "during1", "during2"]);

    let t = Instant::now();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("run stops promptly")
        .unwrap();
    eprintln!("run stopped {:?} after shutdown", t.elapsed());
    assert!(dc.list("INBOX").await.iter().all(|m| is_seen(&m.1)));
}

#[tokio::test]
async fn run_with_idle_retries_a_temporary_failure_after_the_poll_interval() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("r1")).await;
    let mut cfg = dc.imap_config();
    cfg.use_idle = true;
    cfg.poll_interval = Duration::from_millis(300);
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let (deliver, got) = recorder(move |_| {
        if a.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(DeliverError::Temporary("desk busy".into()))
        } else {
            Ok(Delivery::Stored)
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));
    // No new mail arrives: the retry must not wait for one.
    wait_until(Duration::from_secs(5), || got.lock().unwrap().len() >= 2).await;
    assert_eq!(*got.lock().unwrap(), ["r1", "r1"]);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("run stops")
        .unwrap();
    assert!(is_seen(&flags_of(&dc.list("INBOX").await, "r1")));
}

#[tokio::test]
async fn run_stops_within_the_grace_period_even_when_deliver_hangs() {
    let Some(dc) = Dovecot::start() else { return };
    dc.append("INBOX", &message("stuck")).await;
    let cfg = dc.imap_config();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = entered.clone();
    let hangs = deliver_with(move |_raw: Vec<u8>| {
        e.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Delivery::Stored)
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, hangs, stopped));
    wait_until(Duration::from_secs(5), || {
        entered.load(Ordering::SeqCst) == 1
    })
    .await;
    let t = Instant::now();
    stop.send(true).unwrap();
    tokio::time::timeout(
        ombuds_channels::imap::SHUTDOWN_GRACE + Duration::from_secs(2),
        task,
    )
    .await
    .expect("run gives up after the grace period")
    .unwrap();
    assert!(t.elapsed() >= ombuds_channels::imap::SHUTDOWN_GRACE - Duration::from_millis(100));
    assert!(!is_seen(&flags_of(&dc.list("INBOX").await, "stuck")));
}

#[tokio::test]
async fn run_without_idle_polls_and_reconnects_after_errors() {
    let Some(dc) = Dovecot::start() else { return };
    let mut cfg = dc.imap_config();
    cfg.use_idle = false;
    cfg.poll_interval = Duration::from_millis(100);
    let fail_first = Arc::new(AtomicUsize::new(0));
    let f = fail_first.clone();
    let (deliver, got) = recorder(move |_| {
        if f.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(DeliverError::Temporary("first try fails".into()))
        } else {
            Ok(Delivery::Stored)
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));
    dc.append("INBOX", &message("p1")).await;
    wait_until(Duration::from_secs(5), || got.lock().unwrap().len() >= 2).await;
    assert_eq!(*got.lock().unwrap(), ["p1", "p1"]);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("run stops")
        .unwrap();
    assert!(is_seen(&flags_of(&dc.list("INBOX").await, "p1")));
}

#[tokio::test]
async fn run_keeps_retrying_a_refused_login_until_shutdown() {
    let Some(dc) = Dovecot::start() else { return };
    let mut cfg = dc.imap_config();
    cfg.password = "wrong".into();
    let (deliver, got) = recorder(stored);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run stops during its back-off")
        .unwrap();
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_does_not_show_the_password() {
    let Some(dc) = Dovecot::start() else { return };
    let mut cfg = dc.imap_config();
    cfg.password = "Wr0ng-Passw0rd".into();
    let (deliver, got) = recorder(stored);
    let t = Instant::now();
    let err = poll_once(&cfg, &deliver)
        .await
        .expect_err("login must fail");
    eprintln!("refused login took {:?}", t.elapsed());
    assert!(matches!(err, ImapError::Auth { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("desk"), "{shown}");
    assert!(!shown.contains("Wr0ng"), "{shown}");
    assert!(!shown.contains(&dc.password), "{shown}");
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_mailbox_is_a_mailbox_error() {
    let Some(dc) = Dovecot::start() else { return };
    let mut cfg = dc.imap_config();
    cfg.mailbox = "NoSuchFolder".into();
    let (deliver, _) = recorder(stored);
    let err = poll_once(&cfg, &deliver)
        .await
        .expect_err("select must fail");
    assert!(matches!(err, ImapError::Mailbox { .. }), "{err:?}");
}

#[tokio::test]
async fn plain_text_to_a_remote_host_is_refused_before_connecting() {
    let mut cfg = ImapConfig::new("imap.example.org", "desk", "pw");
    cfg.port = 143;
    cfg.security = Security::Plain;
    let (deliver, _) = recorder(stored);
    let err = poll_once(&cfg, &deliver).await.expect_err("refused");
    assert!(matches!(err, ImapError::Config(_)), "{err:?}");
    assert!(err.is_config());
    assert!(err.to_string().contains("loopback"), "{err}");

    // `run` with such a configuration only waits for shutdown.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(cfg, deliver, stopped));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stops")
        .unwrap();

    // Loopback names are fine (nothing listens on port 1, so this fails to connect instead).
    for host in ["127.0.0.1", "localhost", "::1"] {
        let mut cfg = ImapConfig::new(host, "desk", "pw");
        cfg.security = Security::Plain;
        cfg.port = 1;
        assert!(cfg.validate().is_ok(), "{host}");
    }
}

#[tokio::test]
async fn config_mistakes_are_caught_by_validate() {
    let base = ImapConfig::new("imap.example.org", "desk", "pw");
    let mut c = base.clone();
    c.after = AfterStore::Move("INBOX".into());
    assert!(c.validate().unwrap_err().is_config());
    let mut c = base.clone();
    c.failed_mailbox = Some("INBOX".into());
    assert!(c.validate().unwrap_err().is_config());
    let mut c = base.clone();
    c.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(c.validate().unwrap_err().is_config());
    let mut c = base.clone();
    c.mailbox = "a\r\nb".into();
    assert!(c.validate().unwrap_err().is_config());
    assert!(base.validate().is_ok());
}

#[tokio::test]
async fn tls_and_starttls_with_a_private_ca() {
    let Some(dc) = Dovecot::start_tls() else {
        return;
    };
    dc.append("INBOX", &message("s1")).await;
    let (deliver, got) = recorder(stored);

    let mut tls = dc.imap_config();
    tls.security = Security::Tls;
    tls.port = dc.tls_port.unwrap();
    tls.ca_file = dc.ca_file.clone();
    assert_eq!(poll_once(&tls, &deliver).await.expect("tls poll").stored, 1);

    dc.append("INBOX", &message("s2")).await;
    let mut starttls = dc.imap_config();
    starttls.security = Security::StartTls;
    starttls.ca_file = dc.ca_file.clone();
    assert_eq!(
        poll_once(&starttls, &deliver)
            .await
            .expect("starttls poll")
            .stored,
        1
    );
    assert_eq!(*got.lock().unwrap(), ["s1", "s2"]);

    // The name must match the certificate ("localhost" does too), and the CA must be trusted.
    let mut by_name = tls.clone();
    by_name.host = "localhost".into();
    poll_once(&by_name, &deliver).await.expect("tls by name");
    let mut untrusted = tls.clone();
    untrusted.ca_file = None;
    let err = poll_once(&untrusted, &deliver)
        .await
        .expect_err("unknown CA");
    assert!(matches!(err, ImapError::Tls { .. }), "{err:?}");
    let mut untrusted = starttls.clone();
    untrusted.ca_file = None;
    let err = poll_once(&untrusted, &deliver)
        .await
        .expect_err("unknown CA");
    assert!(matches!(err, ImapError::Tls { .. }), "{err:?}");
}
