//! Hostile clients against the player's side, on SQLite and on PostgreSQL (issue 16): guessing
//! tracking codes, filing under someone else's address, following a merge with a pass that
//! proved nothing, uploads before any check, and anonymous intake as a mail cannon.

mod common;
use common::{BOUNDARY, Jar, TestApp, form, multipart, multipart_body, page, track_code as code_for, tracking_app as app};
use ombuds_core::ComplaintRef;
use ombuds_desk::DeskError;
use ombuds_store::testing::TestDb;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

ombuds_store::both_backends! {
    ten_thousand_guesses_get_nowhere => guesses,
    one_address_is_held_to_its_budget_over_http => per_address,
    a_typed_address_proves_nothing => typed_address,
    uploads_are_checked_before_they_are_read => uploads,
    anonymous_intake_is_not_a_mail_cannon => mail_cannon,
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn file_complaint(app: &TestApp, email: &str, name: &str, description: &str) -> String {
    let c = app
        .register_json(json!({"channel": "email", "player": {"email": email, "name": name, "language": "kk"}, "subject": "Ақша шықпады", "description": description, "department": "payments", "language": "kk"}))
        .await;
    c["reference"].as_str().unwrap().to_string()
}

fn botnet(i: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
}

/// Ten thousand guesses from ten thousand addresses, asking for a fresh code every ten guesses
/// (re-issuing used to reset the count): none opens the complaint, the player gets a handful of
/// e-mails, and at the end not even the right code opens it — the e-mailed link still does.
async fn guesses(db: &TestDb) {
    let app = app(db).await;
    let reference = file_complaint(&app, "victim@mail.kz", "Айгерим", "Шығару үш күннен бері жоқ").await;
    let r = ComplaintRef::parse(&reference).unwrap();
    let email = ombuds_core::EmailAddress::parse("victim@mail.kz").unwrap();
    let mut opened = 0;
    for i in 0..10_000u32 {
        if i % 10 == 0 {
            app.desk.request_track_code(&r, &email, botnet(i)).await.unwrap();
        }
        let guess = format!("{:06}", (i * 7919) % 1_000_000);
        match app.desk.open_with_code(&r, &guess, botnet(i)).await {
            Ok(_) => opened += 1,
            Err(DeskError::Unauthorized(_)) => {}
            Err(e) => panic!("guess {i}: {e}"),
        }
    }
    assert_eq!(opened, 0, "a guess opened the complaint");
    let mails = app.desk.store().job_count("track_access", "pending").await.unwrap() + app.desk.store().job_count("track_access", "done").await.unwrap();
    assert!((1..=6).contains(&mails), "the player got {mails} code e-mails");
    // The right code, typed by the attacker who somehow read it: refused for the day.
    if let Some(code) = code_for(&app, &reference).await {
        let e = app.desk.open_with_code(&r, &code, botnet(20_000)).await.unwrap_err();
        assert!(e.to_string().contains("link"), "{e}");
    }
    // The player's e-mailed link still opens it.
    let id = app.desk.store().complaint_by_ref(&r).await.unwrap().id;
    let key = app.desk.track_link_key(id).await.unwrap();
    app.desk.open_with_link(&r, &key).await.expect("the link opens it");
    // A reference that does not exist locks alike, so locking tells nothing.
    let unknown = ComplaintRef::from_bits(0x0bad_cafe);
    for i in 0..12 {
        let e = app.desk.open_with_code(&unknown, "123456", botnet(30_000 + i)).await.unwrap_err();
        assert!(matches!(e, DeskError::Unauthorized(_)), "{e}");
    }
    assert!(app.desk.open_with_code(&unknown, "123456", botnet(40_000)).await.unwrap_err().to_string().contains("link"));
}

/// One client over HTTP: code requests and wrong codes are cut at the address's hourly budget
/// with 429, whatever the reference.
async fn per_address(db: &TestDb) {
    let app = app(db).await;
    let a = file_complaint(&app, "a@mail.kz", "A", "Бірінші").await;
    let mut jar = Jar::default();
    page(&app, &mut jar, "/track?lang=en").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let cfg = app.desk.tracking_config().clone();
    for i in 0..cfg.wrong_codes_per_address_hour {
        // A new reference each time, so the per-reference lock is not what stops it.
        let r = ComplaintRef::from_bits(0x1000 + i as u64).to_string();
        let (s, _, body) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &r), ("code", "000000")]).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{i}: {body}");
    }
    let (s, _, body) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &a), ("code", "000000")]).await;
    assert!(s == StatusCode::TOO_MANY_REQUESTS && body.contains("Too many requests"), "{s}: {body}");
    for i in 0..cfg.asks_per_address_hour {
        let (s, _, _) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", &a), ("email", "a@mail.kz")]).await;
        assert_eq!(s, StatusCode::OK, "{i}");
    }
    let (s, _, _) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", &a), ("email", "a@mail.kz")]).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let mails = app.desk.store().job_count("track_access", "pending").await.unwrap();
    assert_eq!(mails, cfg.codes_per_hour, "{} asks mailed {mails} codes", cfg.asks_per_address_hour);
}

async fn portal_file(app: &TestApp, jar: &mut Jar, name: &str, email: &str, subject: &str) -> (StatusCode, String) {
    page(app, jar, "/portal?lang=en").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (s, h, body) = form(app, jar, "/portal", &[("csrf", &csrf), ("name", name), ("email", email), ("subject", subject), ("description", "Please close my account and pay out the balance.")]).await;
    let reference = h.get(LOCATION).and_then(|l| l.to_str().unwrap().split("ref=").nth(1).map(str::to_string));
    (s, reference.unwrap_or(body))
}

/// An outsider files on the portal with a known player's address: the player's record keeps
/// its name and language, the outsider's pass opens only the outsider's own complaint, and
/// after an agent merges the two it reaches neither the victim's complaint nor its messages.
async fn typed_address(db: &TestDb) {
    let app = app(db).await;
    let victim = file_complaint(&app, "victim@mail.kz", "Айгерим Нұрланова", "Менің шотым бұғатталды").await;
    let (s, _) = app.call(Method::POST, &format!("/api/v1/complaints/{victim}/messages"), Some(&app.token), Some(json!({"kind": "outbound", "body": "ҚҰПИЯ: карта 4400 **** 1234 тексерілді"}))).await;
    assert!(s.is_success());
    let player_before = app.call(Method::GET, &format!("/api/v1/complaints/{victim}"), Some(&app.token), None).await.1["player_id"].clone();

    let mut attacker = Jar::default();
    let (s, forged) = portal_file(&app, &mut attacker, "FRAUDSTER - DO NOT PAY", "victim@mail.kz", "Close my account").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{forged}");
    let (_, c) = app.call(Method::GET, &format!("/api/v1/complaints/{forged}"), Some(&app.token), None).await;
    assert_eq!(c["player_id"], player_before, "the complaint is found under the address's player");
    let player = app.desk.store().player(uuid::Uuid::parse_str(player_before.as_str().unwrap()).unwrap()).await.unwrap();
    assert_eq!(player.name.as_ref().map(|n| n.as_str()), Some("Айгерим Нұрланова"), "the name was not overwritten");
    assert_eq!(player.language, ombuds_core::Language::Kk, "nor the language");

    // The attacker's pass opens the attacker's complaint only.
    let (s, _, _) = page(&app, &mut attacker, &format!("/track/{forged}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, h, _) = page(&app, &mut attacker, &format!("/track/{victim}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track?ref={victim}").as_str()));

    // An agent merges the forged complaint into the victim's: the pass leads to the code page.
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{forged}/merge"), Some(&app.token), Some(json!({"target": victim}))).await;
    assert!(s.is_success(), "{b}");
    let (s, h, body) = page(&app, &mut attacker, &format!("/track/{forged}")).await;
    assert_eq!((s, h.get(LOCATION).map(|l| l.to_str().unwrap().to_string())), (StatusCode::SEE_OTHER, Some(format!("/track?ref={victim}"))), "{body}");
    assert!(!attacker.get("ombuds_track").unwrap_or_default().is_empty());
    let (s, _, _) = page(&app, &mut attacker, &format!("/track/{victim}")).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "no pass for the victim's complaint");

    // The other way round: the victim's complaint merged into one the attacker filed. The
    // attacker's page shows the attacker's own text only.
    let victim2 = file_complaint(&app, "victim@mail.kz", "Айгерим Нұрланова", "Екінші өтініш").await;
    let (s, _) = app.call(Method::POST, &format!("/api/v1/complaints/{victim2}/messages"), Some(&app.token), Some(json!({"kind": "outbound", "body": "ҚҰПИЯ-2: құжаттарыңыз расталды"}))).await;
    assert!(s.is_success());
    let mut attacker2 = Jar::default();
    let (_, forged2) = portal_file(&app, &mut attacker2, "Someone", "victim@mail.kz", "Another").await;
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{victim2}/merge"), Some(&app.token), Some(json!({"target": forged2}))).await;
    assert!(s.is_success(), "{b}");
    let (s, _, body) = page(&app, &mut attacker2, &format!("/track/{forged2}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Please close my account") && !body.contains("ҚҰПИЯ-2") && !body.contains("Екінші өтініш"), "{body}");
    // The owner of the mailbox, with the e-mailed link, sees the whole merged thread.
    let id = app.desk.store().complaint_by_ref(&ComplaintRef::parse(&forged2).unwrap()).await.unwrap().id;
    let key = app.desk.track_link_key(id).await.unwrap();
    let mut owner = Jar::default();
    page(&app, &mut owner, &format!("/track/{forged2}?key={key}")).await;
    let (_, _, body) = page(&app, &mut owner, &format!("/track/{forged2}")).await;
    assert!(body.contains("ҚҰПИЯ-2"), "{body}");
}

/// Without a pass nothing of a reply is read; a file before the CSRF field is refused; files are
/// kept under names that agree with their bytes and served as downloads.
async fn uploads(db: &TestDb) {
    let app = app(db).await;
    let (_, reference) = {
        let mut j = Jar::default();
        portal_file(&app, &mut j, "Sam", "sam@mail.kz", "Bonus").await
    };
    let path = format!("/track/{reference}/reply");
    // No pass: asked for a code before the body is read.
    let mut stranger = Jar::default();
    page(&app, &mut stranger, "/track").await;
    let csrf = stranger.get("ombuds_csrf").unwrap();
    let small = vec![b'a'; 16 * 1024];
    let (s, location, _) = multipart(&app, &mut stranger, &path, &[("csrf", None, csrf.as_bytes()), ("text", None, b"hi"), ("files", Some("small.txt"), &small)]).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, format!("/track?ref={reference}").as_str()));
    // 8 MB without a pass: answered (or the connection closed) without the server taking them in.
    let big = vec![b'a'; 8 * 1024 * 1024];
    let body = multipart_body(&[("csrf", None, csrf.as_bytes()), ("text", None, b"hi"), ("files", Some("big.txt"), &big)]);
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .header("cookie", stranger.header())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }

    // With the filer's pass: a file sent before the CSRF field is refused before it is read.
    let mut filer = Jar::default();
    let (_, reference) = portal_file(&app, &mut filer, "Sam", "sam2@mail.kz", "Bonus").await;
    let path = format!("/track/{reference}/reply");
    let csrf = filer.get("ombuds_csrf").unwrap();
    let (s, _, _) = multipart(&app, &mut filer, &path, &[("files", Some("a.png"), PNG), ("csrf", None, csrf.as_bytes()), ("text", None, b"first the file")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = multipart(&app, &mut filer, &path, &[("csrf", None, b"forged"), ("text", None, b"x"), ("files", Some("a.png"), PNG)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(app.events_of(&reference, "player_replied").await.is_empty(), "nothing stored");

    // Hostile names: kept under names that cannot run or render.
    let hostile: &[(&str, Option<&str>, &[u8])] = &[
        ("csrf", None, csrf.as_bytes()),
        ("text", None, "Screenshots attached".as_bytes()),
        ("files", Some("pic.png.exe"), PNG),
        ("files", Some("receipt.html"), b"<html><script>alert(1)</script></html>"),
        ("files", Some("invoice\u{202E}gpj.svg"), b"<svg onload=alert(1)></svg>"),
    ];
    let (s, location, body) = multipart(&app, &mut filer, &path, hostile).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, format!("/track/{reference}?sent=1").as_str()), "{body}");
    let (_, files) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}/attachments"), Some(&app.token), None).await;
    let names: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["pic_png_exe.png", "receipt_html.txt", "invoicegpj_svg.txt"]);
    for f in files.as_array().unwrap() {
        let res = app.http.get(format!("{}/api/v1/complaints/{reference}/attachments/{}", app.base, f["id"].as_str().unwrap())).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment;") && !disposition.contains('\u{202E}'), "{disposition}");
        assert!(["image/png", "text/plain"].contains(&res.headers()["content-type"].to_str().unwrap()));
    }
    // A file over the desk's limit is cut while it arrives (413), nothing stored.
    let over = vec![b'b'; app.desk.tracking_config().max_file_bytes + 1];
    let (s, _, _) = multipart(&app, &mut filer, &path, &[("csrf", None, csrf.as_bytes()), ("text", None, b"too big"), ("files", Some("big.txt"), &over)]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.events_of(&reference, "player_replied").await.len(), 1);
}

/// A thousand offline-chat complaints to addresses of the sender's choosing used to send a
/// thousand acknowledgments: now one client address files ten an hour per form, and an address
/// typed into a form is mailed three acknowledgments a day at most; votes are limited too.
async fn mail_cannon(db: &TestDb) {
    let app = app(db).await;
    let limits = ombuds_desk::AnonymousLimits::default();
    let mut jar = Jar::default();
    for i in 0..limits.complaints_per_address_hour {
        let (s, r) = portal_file(&app, &mut jar, "Spam", "target@victim.kz", &format!("WIN A PRIZE {i} http://phish.example")).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{i}: {r}");
    }
    let (s, body) = portal_file(&app, &mut jar, "Spam", "target@victim.kz", "one more").await;
    assert!(s == StatusCode::TOO_MANY_REQUESTS && body.contains("Too many requests"), "{s}: {body}");
    let acks = app.desk.store().job_count("acknowledge", "pending").await.unwrap();
    assert_eq!(acks, limits.mails_per_typed_address_day, "acknowledgments to the typed address");

    // The chat's offline form, from the same address: its own budget, then 429 as a problem.
    let offline = |n: i64| json!({"name": "Spam", "email": format!("other{n}@victim.kz"), "text": "Call me", "language": "en"});
    for i in 0..limits.complaints_per_address_hour {
        let res = app.http.post(format!("{}/chat/v1/offline", app.base)).json(&offline(i)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{i}: {}", res.text().await.unwrap());
    }
    let res = app.http.post(format!("{}/chat/v1/offline", app.base)).json(&offline(99)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");

    // FAQ votes.
    let (s, a) = app
        .call(Method::POST, "/api/v1/faq", Some(&app.admin), Some(json!({"language": "en", "category": "payments", "title": "Withdrawals", "body": "How long a withdrawal takes.", "published": true})))
        .await;
    assert!(s.is_success(), "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    for i in 0..limits.votes_per_address_hour {
        let (s, b) = app.call(Method::POST, &format!("/api/v1/faq/{id}/feedback"), None, Some(json!({"helpful": true}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{i}: {b}");
    }
    let (s, b) = app.call(Method::POST, &format!("/api/v1/faq/{id}/feedback"), None, Some(json!({"helpful": true}))).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
}
