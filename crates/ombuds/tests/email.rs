//! The real binary with an `[email]` section: mail in over its SMTP listener, the
//! acknowledgment out through a relay on loopback, both visible through the API.

mod common;

use common::*;
use ombuds_store::testing::TestDb;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One SMTP session: greeting, EHLO, MAIL, RCPT, DATA, the message, QUIT; every reply.
async fn smtp_send(port: u16, from: &str, to: &str, message: &[&str]) -> Vec<String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut io = BufReader::new(stream);
    async fn read(io: &mut BufReader<tokio::net::TcpStream>) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if io.read_line(&mut l).await.unwrap() == 0 {
                return all;
            }
            let last = l.as_bytes().get(3) != Some(&b'-');
            all.push_str(&l);
            if last {
                return all.trim_end().to_string();
            }
        }
    }
    let mut replies = vec![read(&mut io).await];
    for cmd in ["EHLO player.example".to_string(), format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>"), "DATA".into()] {
        io.get_mut().write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        replies.push(read(&mut io).await);
    }
    io.get_mut().write_all(format!("{}\r\n.\r\nQUIT\r\n", message.join("\r\n")).as_bytes()).await.unwrap();
    replies.push(read(&mut io).await);
    replies.push(read(&mut io).await);
    replies
}

async fn mail_through_the_binary(db: &TestDb) {
    let database = url(db);
    let (relay, relay_port, _stop) = MailCatcher::start().await;

    let smtp_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ombuds.toml");
    std::fs::write(
        &config,
        format!(
            "[email]\naddresses = [\"support@desk.example\"]\nsmtp_listen = \"127.0.0.1:{smtp_port}\"\nhostname = \"desk.example\"\noperator_name = \"Desk\"\n\
             [email.relay]\nhost = \"127.0.0.1\"\nport = {relay_port}\nsecurity = \"none\"\n"
        ),
    )
    .unwrap();
    let token = token(&database);
    let server = Server::start_with(&database, &["--config", config.to_str().unwrap()]).await;
    let replies = smtp_send(
        smtp_port,
        "timur@mail.kz",
        "support@desk.example",
        &[
            "From: Timur <timur@mail.kz>",
            "To: support@desk.example",
            "Subject: =?utf-8?B?0J3QtSDQv9GA0LjRiNC70LAg0LLRi9C/0LvQsNGC0LA=?=",
            "Message-ID: <t1@mail.kz>",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Мой вывод 30 000 тенге не пришёл.",
        ],
    )
    .await;
    assert!(replies[0].starts_with("220 desk.example"), "{replies:?}");
    let registered = &replies[5];
    assert!(registered.starts_with("250 2.0.0 Registered as "), "{replies:?}");
    let reference = registered.rsplit(' ').next().unwrap().to_string();

    // The acknowledgment reaches the relay without anyone asking.
    let started = Instant::now();
    while relay.0.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "no acknowledgment was sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ack = String::from_utf8_lossy(&relay.0.lock().unwrap()[0]).to_string();
    assert!(ack.contains(&format!("X-Ombuds-Ref: {reference}")), "{ack}");
    assert!(ack.contains("In-Reply-To: <t1@mail.kz>"), "{ack}");

    let http = reqwest::Client::new();
    let c: serde_json::Value = http.get(format!("{}/api/v1/complaints/{reference}", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(c["channel"], "email");
    assert_eq!(c["subject"], "Не пришла выплата");
    let mails: serde_json::Value = http.get(format!("{}/api/v1/complaints/{reference}/mails", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let directions: Vec<&str> = mails.as_array().unwrap().iter().map(|m| m["direction"].as_str().unwrap()).collect();
    assert_eq!(directions, ["in", "out"]);
}

ombuds_store::both_backends! {
    email => mail_through_the_binary,
}

/// `ombuds bench mail` against a listener with the default per-sender rate limit: the 450s
/// are counted as deferred, never as errors, and the run ends with its report.
#[tokio::test]
async fn bench_mail_reports_under_the_rate_limit() {
    let db = TestDb::sqlite();
    let database = url(&db);
    let smtp_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ombuds.toml");
    // Sender checks off, as in scripts/bench-mail.sh: the corpus's domains are made up, and
    // this test is about the rate limit, not about this machine's DNS.
    std::fs::write(&config, format!("[email]\naddresses = [\"support@desk.example\"]\nsmtp_listen = \"127.0.0.1:{smtp_port}\"\nverify_senders = false\n")).unwrap();
    let _server = Server::start_with(&database, &["--config", config.to_str().unwrap()]).await;
    let smtp = format!("127.0.0.1:{smtp_port}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ombuds"))
            .args(["bench", "mail", "--smtp", &smtp, "--to", "support@desk.example", "--clients", "4", "--seconds", "3", "--pool", "200", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(report["deferred"].as_u64().unwrap() > 0, "the rate limit was reached: {report}");
    assert_eq!(report["refused"], 0, "{report}");
    assert!(report["sent"].as_u64().unwrap() > 0, "{report}");
    db.cleanup().await;
}

#[test]
fn bad_email_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ombuds.toml");
    let database = format!("sqlite://{}", dir.path().join("o.db").display());
    for (toml, expected) in [
        ("[email]\naddresses = []\n", "addresses must name at least one address"),
        ("[email]\naddresses = [\"not an address\"]\n", "is neither an address"),
        ("[email]\naddresses = [\"a@b.kz\"]\ntracking_url = \"javascript:alert(1)\"\n", "tracking_url must be an http(s) link"),
        ("[email]\naddresses = [\"a@b.kz\"]\n[email.relay]\nhost = \"smtp.example.com\"\nsecurity = \"none\"\n", "plain SMTP is allowed only to a relay on this machine"),
        ("[email]\naddresses = [\"a@b.kz\"]\n[email.imap]\nhost = \"imap.example.com\"\nusername = \"u\"\npassword = \"p\"\nafter = \"archive\"\n", "after 'archive' is not one of"),
        ("[email]\naddresses = [\"a@b.kz\"]\nsmpt_listen = \"x\"\n", "smpt_listen"),
        ("[email]\naddresses = [\"a@b.kz\"]\ndkim_domain = \"b.kz\"\n", "dkim_domain, dkim_selector and dkim_key go together"),
        ("[email]\naddresses = [\"a@b.kz\"]\ndkim_domain = \"b.kz\"\ndkim_selector = \"s1\"\ndkim_key = \"/nonexistent/dkim.pem\"\n", "cannot read the DKIM key"),
    ] {
        std::fs::write(&config, toml).unwrap();
        let o = ombuds(&database).args(["--config", config.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{toml}: {}", text(&o));
        assert!(text(&o).contains(expected), "{toml}: {}", text(&o));
    }
}
