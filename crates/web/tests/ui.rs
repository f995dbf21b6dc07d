//! The workspace pages over real HTTP, on SQLite and on PostgreSQL: sign-in in each language
//! with errors next to their fields, CSRF on every form, secure headers and cookies, queues that
//! show only what the agent may see with player text escaped, sign-out.

mod common;
use common::{Jar, TestApp, encode, form, page};
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

ombuds_store::both_backends! {
    sign_in_and_queues => sign_in_and_queues,
    second_factor_from_the_account_page => second_factor,
}

fn totp_code(secret: &str, at: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret.replace(' ', "")).unwrap();
    totp_rs::Builder::new().with_secret(secret).with_account_name("t").build().unwrap().generate(at).to_string()
}

async fn second_factor(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    app.agent("dana", "agent", &["payments"]).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let app = TestApp { http: client, ..app };
    let mut jar = Jar::default();
    page(&app, &mut jar, "/ui/login?lang=ru").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (s, _, _) = form(&app, &mut jar, "/ui/login", &[("login", "dana"), ("password", "correct horse battery"), ("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut jar, "/ui/me").await;
    assert!(body.contains("Второй фактор выключен"), "{body}");
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (s, _, body) = form(&app, &mut jar, "/ui/me/totp/start", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let secret = body.split(r#"id="totp-secret">"#).nth(1).unwrap().split('<').next().unwrap().to_string();
    assert!(body.contains("otpauth://totp/"), "{body}");
    // The QR code is drawn on the page (a data: image the CSP allows) and carries the link.
    let link = body.split("href=\"otpauth://").nth(1).unwrap().split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&");
    let qr = body.split(r#"id="totp-qr" src="data:image/svg+xml;base64,"#).nth(1).expect("a QR code").split('"').next().unwrap();
    use base64::Engine;
    let svg = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(qr).unwrap()).unwrap();
    let expected = qrcode::QrCode::with_error_correction_level(format!("otpauth://{link}").as_bytes(), qrcode::EcLevel::M).unwrap();
    let same = svg == expected.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    assert!(same, "the QR code is the link's ({link})");
    assert!(svg.contains("<svg") && svg.matches("<path").count() + svg.matches("<rect").count() > 0);
    let (s, _, body) = form(&app, &mut jar, "/ui/me/totp/confirm", &[("csrf", &csrf), ("code", "000000")]).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Код неверный или устарел."), "{body}");
    // Each code is good once, so confirming, signing in and turning it off take three steps
    // around `now` (started early in a step, so the test stays within it).
    let secs = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if secs() % 30 > 22 {
        tokio::time::sleep(std::time::Duration::from_secs(30 - secs() % 30)).await;
    }
    let now = secs();
    let (s, _, body) = form(&app, &mut jar, "/ui/me/totp/confirm", &[("csrf", &csrf), ("code", &totp_code(&secret, now - 30))]).await;
    assert!(s == StatusCode::OK && body.contains("Второй фактор включён."), "{body}");
    // Signed out, the sign-in page now needs the code.
    let (s, _, _) = form(&app, &mut jar, "/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, body) = form(&app, &mut jar, "/ui/login", &[("login", "dana"), ("password", "correct horse battery"), ("csrf", &csrf)]).await;
    assert!(s == StatusCode::UNAUTHORIZED && body.contains(r#"id="code-error">Введите код из приложения-аутентификатора."#), "{body}");
    let (s, h, _) = form(&app, &mut jar, "/ui/login", &[("login", "dana"), ("password", "correct horse battery"), ("code", &totp_code(&secret, now)), ("csrf", &csrf)]).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/queue"));
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (_, _, body) = form(&app, &mut jar, "/ui/me/totp/off", &[("csrf", &csrf), ("code", &totp_code(&secret, now))]).await;
    assert!(!body.contains("Второй фактор выключен."), "the code used to sign in does not turn it off: {body}");
    let (_, _, body) = form(&app, &mut jar, "/ui/me/totp/off", &[("csrf", &csrf), ("code", &totp_code(&secret, now + 30))]).await;
    assert!(body.contains("Второй фактор выключен."), "{body}");
}

async fn sign_in_and_queues(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    app.agent("dana", "agent", &["payments"]).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let app = TestApp { http: client, ..app };
    let mut jar = Jar::default();

    // Not signed in: the queue sends to the sign-in page.
    let (s, h, _) = page(&app, &mut jar, "/ui/queue").await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/login"));

    // The sign-in page in Kazakh, with secure headers, a CSRF cookie and the language remembered.
    let (s, h, body) = page(&app, &mut jar, "/ui/login?lang=kk").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(r#"<html lang="kk">"#) && body.contains("Құпиясөз") && body.contains("Русский"), "{body}");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!((h["x-frame-options"].to_str().unwrap(), h["x-content-type-options"].to_str().unwrap()), ("DENY", "nosniff"));
    let csrf = jar.get("ombuds_csrf").expect("a CSRF cookie");
    assert!(body.contains(&format!(r#"name="csrf" value="{csrf}""#)));
    assert_eq!(jar.get("ombuds_lang").as_deref(), Some("kk"));

    // Bad forms: no CSRF token; empty fields (errors next to each); a wrong password.
    let (s, _, body) = form(&app, &mut jar, "/ui/login", &[("login", "dana"), ("password", "correct horse battery")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("Форманың мерзімі өтті"), "{body}");
    let (s, _, body) = form(&app, &mut jar, "/ui/login", &[("login", " "), ("password", ""), ("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="login-error">Логинді енгізіңіз."#) && body.contains(r#"id="password-error">Құпиясөзді енгізіңіз."#), "{body}");
    let (s, _, body) = form(&app, &mut jar, "/ui/login", &[("login", "dana"), ("password", "wrong password"), ("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Логин немесе құпиясөз қате.") && body.contains(r#"value="dana""#), "{body}");
    assert!(jar.get("ombuds_session").is_none());

    // Signed in: an HttpOnly, SameSite=Strict, Secure session cookie and a fresh CSRF token.
    let res = app
        .http
        .post(format!("{}/ui/login", app.base))
        .header("cookie", jar.header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("login", "dana"), ("password", "correct horse battery"), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), res.headers()[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/queue"));
    let set = jar.take(res.headers());
    let session = set.iter().find(|c| c.starts_with("ombuds_session=")).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert_ne!(jar.get("ombuds_csrf").unwrap(), csrf, "a new CSRF token with the new session");

    // Complaints: one of Dana's department with a script in its subject, one elsewhere.
    let mine = app
        .register_json(json!({"player": {"email": "p@mail.kz"}, "subject": "<script>alert(1)</script> вывод", "description": "Вывод не пришёл", "department": "payments"}))
        .await;
    app.register_json(json!({"player": {"email": "q@mail.kz"}, "subject": "Бонус", "description": "Бонус не начислен", "department": "bonuses"})).await;
    let (s, _, body) = page(&app, &mut jar, "/ui/queue?view=unassigned&lang=ru").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(mine["reference"].as_str().unwrap()), "{body}");
    assert!(!body.contains("<script>alert(1)"), "player text is escaped: {body}");
    assert!(body.contains("&lt;script&gt;alert(1)") || body.contains("&#60;script&#62;alert(1)"), "shown as text: {body}");
    assert!(!body.contains("Бонус"), "another department's complaint is not shown");
    assert!(body.contains("1 обращение") && body.contains("Без исполнителя") && body.contains("Направлено"), "{body}");
    let (_, _, body) = page(&app, &mut jar, "/ui/queue?view=breached").await;
    assert!(body.contains("Здесь пусто.") && body.contains("0 обращений"), "{body}");
    let (s, _, body) = page(&app, &mut jar, "/ui/queue?view=nonsense&after=not-an-id").await;
    assert_eq!(s, StatusCode::OK, "an unknown view shows the agent's own queue: {body}");

    // The complaint's page: the player's text as text, the deadlines, the actions.
    let r = mine["reference"].as_str().unwrap();
    let (s, h, body) = page(&app, &mut jar, &format!("/ui/complaints/{r}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(!body.contains("<script>alert(1)") && body.contains("Вывод не пришёл") && body.contains("Первый ответ"), "{body}");
    let csrf = jar.get("ombuds_csrf").unwrap();
    let act = async |jar: &mut Jar, fields: &[(&str, &str)]| form(&app, jar, &format!("/ui/complaints/{r}/act"), fields).await;
    let (s, h, _) = act(&mut jar, &[("csrf", &csrf), ("action", "take")]).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/ui/complaints/{r}").as_str()));
    act(&mut jar, &[("csrf", &csrf), ("action", "reply"), ("text", "Проверяем <b>платёж</b>")]).await;
    act(&mut jar, &[("csrf", &csrf), ("action", "note"), ("text", "банк: тикет 991")]).await;
    let (_, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{r}")).await;
    assert!(body.contains("В работе") && body.contains("Ответ") && body.contains("Внутренняя заметка") && body.contains("тикет 991"), "{body}");
    assert!(!body.contains("<b>платёж</b>"), "agents' text is escaped too");
    // Bad actions: an empty reply, a forged token, resolving twice.
    let (s, _, body) = act(&mut jar, &[("csrf", &csrf), ("action", "reply"), ("text", "  ")]).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Сначала напишите текст."), "{body}");
    let (s, _, _) = act(&mut jar, &[("csrf", "forged"), ("action", "take")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "resolve"), ("measures", "Платёж отправлен повторно"), ("result", "Деньги зачислены")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, body) = act(&mut jar, &[("csrf", &csrf), ("action", "resolve"), ("measures", "ещё раз"), ("result", "ещё раз")]).await;
    assert!(s == StatusCode::CONFLICT && body.contains("Не удалось"), "{s}: {body}");
    // Reopen with a reason, then escalate: the escalated queue lists it.
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "reopen"), ("text", "Игрок не согласен")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "escalate"), ("text", "Крупная сумма, нужен руководитель")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut jar, "/ui/queue?view=escalated").await;
    assert!(body.contains(r) && body.contains("1 обращение"), "{body}");
    // Tags: set as a list; a bad one is refused. A department that does not exist is refused.
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "tag"), ("tags", "vip large_amount")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{r}")).await;
    assert!(body.contains(r#"value="large_amount vip""#), "{body}");
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "tag"), ("tags", "vip")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{r}")).await;
    assert!(body.contains(r#"id="tags" name="tags" value="vip""#), "a tag left out is removed: {body}");
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "tag"), ("tags", "Not A Tag!")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = act(&mut jar, &[("csrf", &csrf), ("action", "route"), ("department", "Casino Floor")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"<option value="payments" selected>Платежи</option>"#), "{body}");
    // Search within a queue: by a word of the subject, and nothing for a word that is not there.
    let (_, _, body) = page(&app, &mut jar, "/ui/queue?view=mine&q=%D0%B2%D1%8B%D0%B2%D0%BE%D0%B4").await; // "вывод"
    assert!(body.contains(r) && body.contains(r#"value="вывод""#), "{body}");
    let (_, _, body) = page(&app, &mut jar, "/ui/queue?view=mine&q=casino").await;
    assert!(!body.contains(r) && body.contains("Здесь пусто."), "{body}");
    // Guessing another department's complaint, or one that does not exist: not found.
    let (_, list) = app.call(reqwest::Method::GET, "/api/v1/complaints?department=bonuses", Some(&app.token), None).await;
    let other = list["items"][0]["reference"].as_str().unwrap().to_string();
    let (s, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{other}")).await;
    assert!(s == StatusCode::NOT_FOUND && !body.contains("Бонус"), "{body}");
    let (s, _, _) = page(&app, &mut jar, "/ui/complaints/not-a-reference").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = form(&app, &mut jar, &format!("/ui/complaints/{other}/act"), &[("csrf", &csrf), ("action", "take")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nor can it be acted on");

    // Sign-out needs the CSRF token; afterwards the old session is gone.
    let session_before = jar.get("ombuds_session").unwrap();
    let (s, _, _) = form(&app, &mut jar, "/ui/logout", &[("csrf", "forged")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let token = jar.get("ombuds_csrf").unwrap();
    let (s, h, _) = form(&app, &mut jar, "/ui/logout", &[("csrf", &token)]).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/login"));
    assert!(jar.get("ombuds_session").is_none());
    jar.0.push(("ombuds_session".into(), session_before));
    let (s, _, _) = page(&app, &mut jar, "/ui/queue").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the ended session opens nothing");
    let (s, h, _) = page(&app, &mut jar, "/ui/assets/ui.css").await;
    assert_eq!((s, h["content-type"].to_str().unwrap()), (StatusCode::OK, "text/css; charset=utf-8"));
}
