//! The IMAP poller feeding the e-mail intake, against a real Dovecot, on both stores: mail in
//! the mailbox becomes complaints, is marked only once stored, a re-fetch after a crash stores
//! nothing twice, and what can never be taken goes to the failed mailbox.

mod support;

use ombuds_channels::email::{EmailIntake, IntakeConfig, imap_deliver};
use ombuds_channels::imap::{AfterStore, poll_once};
use ombuds_core::*;
use ombuds_desk::*;
use ombuds_store::testing::TestDb;
use support::dovecot::Dovecot;

fn admin() -> Principal {
    Principal::Token { id: uuid::Uuid::nil(), name: "test".into(), scopes: [Scope::Admin].into() }
}

fn mail(from: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@desk.example\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn imap_into_the_desk(db: &TestDb) {
    let Some(dovecot) = Dovecot::start() else { return };
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();
    let intake = EmailIntake::new(desk.clone(), IntakeConfig { addresses: vec!["support@desk.example".into()], ..IntakeConfig::default() });
    let deliver = imap_deliver(intake);
    let mut cfg = dovecot.imap_config();
    cfg.after = AfterStore::Move("Processed".into());
    cfg.failed_mailbox = Some("Failed".into());

    dovecot.append("INBOX", &mail("dana@mail.kz", "i1@mail.kz", "Верификация", "Документы отправила неделю назад.")).await;
    dovecot.append("INBOX", &mail("dana@mail.kz", "i2@mail.kz", "Автоответ", "Я в отпуске")).await;
    dovecot.append("INBOX", b"no headers at all, just junk\r\n").await;
    // The same message twice in the mailbox (a forwarding loop, a client that saved a copy).
    dovecot.append("INBOX", &mail("erlan@mail.kz", "i3@mail.kz", "Бонус", "Фрибет не начислен")).await;
    dovecot.append("INBOX", &mail("erlan@mail.kz", "i3@mail.kz", "Бонус", "Фрибет не начислен")).await;

    let stats = poll_once(&cfg, &deliver).await.unwrap();
    assert_eq!((stats.fetched, stats.stored, stats.duplicates, stats.ignored, stats.permanent_failures), (5, 2, 1, 1, 1), "{stats:?}");
    let list = desk.list(&admin(), &ComplaintFilter::default(), PageRequest { after: None, limit: 50 }).await.unwrap().items;
    assert_eq!(list.len(), 2, "the vacation notice ('Автоответ') registers nothing");
    assert!(dovecot.list("INBOX").await.is_empty(), "everything handled left the inbox");
    assert_eq!(dovecot.list("Processed").await.len(), 4);
    assert_eq!(dovecot.list("Failed").await.len(), 1, "the junk waits for a person");

    // A crash after storing but before flagging: the same bytes come again, nothing new is stored.
    dovecot.append("INBOX", &mail("dana@mail.kz", "i1@mail.kz", "Верификация", "Документы отправила неделю назад.")).await;
    let stats = poll_once(&cfg, &deliver).await.unwrap();
    assert_eq!((stats.fetched, stats.duplicates), (1, 1));
    let again = desk.list(&admin(), &ComplaintFilter::default(), PageRequest { after: None, limit: 50 }).await.unwrap().items;
    assert_eq!(again.len(), 2);
    assert!(desk.verify_chain().await.unwrap().broken.is_none());
}

ombuds_store::both_backends! {
    imap_intake => imap_into_the_desk,
}
