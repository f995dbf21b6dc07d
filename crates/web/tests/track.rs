//! The player's tracking pages over real HTTP, on SQLite and on PostgreSQL: a code is sent only
//! to the complaint's own address and works once; wrong codes run out; links and passes open
//! one complaint only; the player reads the thread without internal notes, replies with files
//! (bad files refused, nothing half-stored), and rates the resolution once.

mod common;
use common::{Jar, TestApp, form, multipart, page, track_code as code_for, tracking_app as app};
use ombuds_core::ComplaintRef;
use ombuds_store::testing::TestDb;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

ombuds_store::both_backends! {
    a_player_follows_replies_and_rates => follow_reply_rate,
    codes_links_and_passes => codes_links_and_passes,
    the_portal_gives_the_filer_a_pass => portal_pass,
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn file_complaint(app: &TestApp, email: &str, description: &str) -> String {
    let c = app
        .register_json(json!({"channel": "email", "player": {"email": email, "name": "Айгерим"}, "subject": "Вывод не пришёл", "description": description, "department": "payments", "language": "ru"}))
        .await;
    c["reference"].as_str().unwrap().to_string()
}

async fn open_with_code(app: &TestApp, jar: &mut Jar, reference: &str, email: &str) {
    page(app, jar, "/track?lang=ru").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (s, _, body) = form(app, jar, "/track", &[("csrf", &csrf), ("ref", reference), ("email", email)]).await;
    assert!(s == StatusCode::OK && body.contains("мы отправили на этот адрес код"), "{body}");
    let code = code_for(app, reference).await.expect("a code was issued");
    let (s, h, body) = form(app, jar, "/track/code", &[("csrf", &csrf), ("ref", reference), ("code", &code)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(h[LOCATION], format!("/track/{reference}").as_str());
}

async fn follow_reply_rate(db: &TestDb) {
    let app = app(db).await;
    let reference = file_complaint(&app, "aigerim@mail.kz", "<script>alert(1)</script> Деньги не пришли за 3 дня").await;
    let (s, _) = app.call(Method::POST, &format!("/api/v1/complaints/{reference}/messages"), Some(&app.token), Some(json!({"kind": "note", "body": "ВНУТРЕННЕЕ: проверить карту"}))).await;
    assert!(s.is_success(), "{s}");
    let (s, _) = app.call(Method::POST, &format!("/api/v1/complaints/{reference}/messages"), Some(&app.token), Some(json!({"kind": "outbound", "body": "Проверяем ваш платёж."}))).await;
    assert!(s.is_success(), "{s}");

    let mut jar = Jar::default();
    // Without a pass, the page asks for a code.
    let (s, h, _) = page(&app, &mut jar, &format!("/track/{reference}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track?ref={reference}").as_str()));
    open_with_code(&app, &mut jar, &reference, "Aigerim@Mail.kz").await;
    let set = jar.get("ombuds_track").expect("a pass");
    assert!(!set.is_empty());

    let (s, h, body) = page(&app, &mut jar, &format!("/track/{reference}?lang=ru")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(body.contains("Вывод не пришёл") && body.contains("Проверяем ваш платёж.") && body.contains("Поддержка"), "{body}");
    assert!(body.contains("&#60;script&#62;alert(1)") && !body.contains("<script>alert"), "player text is escaped");
    assert!(!body.contains("ВНУТРЕННЕЕ"), "internal notes never reach the player");
    assert!(!body.contains("Как мы справились?"), "no rating before the resolution");

    // A reply with a picture; then files that are refused, with nothing stored.
    let csrf = jar.get("ombuds_csrf").unwrap();
    let path = format!("/track/{reference}/reply");
    let (s, location, body) = multipart(&app, &mut jar, &path, &[("csrf", None, csrf.as_bytes()), ("text", None, "Вот скриншот из банка".as_bytes()), ("files", Some("C:\\fakepath\\bank.png"), PNG)]).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, format!("/track/{reference}?sent=1").as_str()), "{body}");
    let replies = app.events_of(&reference, "player_replied").await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["channel"], "web");
    for (parts, status, shown) in [
        (vec![("text", None, "программа".as_bytes()), ("files", Some("setup.exe"), &b"MZ\x90\0\x03\0\0\0"[..])], StatusCode::UNPROCESSABLE_ENTITY, "Принимаем только изображения"),
        (vec![("text", None, "пусто".as_bytes()), ("files", Some("empty.png"), &b""[..])], StatusCode::UNPROCESSABLE_ENTITY, "Файл пустой"),
        (vec![("text", None, "   ".as_bytes())], StatusCode::UNPROCESSABLE_ENTITY, "Сначала напишите сообщение"),
        (vec![("text", None, "много".as_bytes()), ("files", Some("1.png"), PNG), ("files", Some("2.png"), PNG), ("files", Some("3.png"), PNG), ("files", Some("4.png"), PNG), ("files", Some("5.png"), PNG), ("files", Some("6.png"), PNG)], StatusCode::UNPROCESSABLE_ENTITY, "Слишком много файлов"),
    ] {
        let mut all = vec![("csrf", None, csrf.as_bytes())];
        all.extend(parts);
        let (s, _, body) = multipart(&app, &mut jar, &path, &all).await;
        assert!(s == status && body.contains(shown), "{s}: {shown}: {body}");
    }
    // No CSRF token: refused, and the text the player wrote is kept in the form.
    let (s, _, body) = multipart(&app, &mut jar, &path, &[("text", None, "без токена".as_bytes())]).await;
    assert!(s == StatusCode::FORBIDDEN && body.contains("без токена"), "{s}");
    assert_eq!(app.events_of(&reference, "player_replied").await.len(), 1, "refused replies store nothing");

    let (_, _, body) = page(&app, &mut jar, &format!("/track/{reference}?sent=1")).await;
    assert!(body.contains("Сообщение добавлено") && body.contains("Вот скриншот из банка") && body.contains("bank.png"), "{body}");
    let file_link = body.split(&format!("/track/{reference}/files/")).nth(1).unwrap().split('"').next().unwrap().to_string();
    let res = app.http.get(format!("{}/track/{reference}/files/{file_link}", app.base)).header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    // Agents see the file too.
    let (_, files) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}/attachments"), Some(&app.token), None).await;
    assert_eq!(files[0]["filename"], "bank.png");

    // Rating: refused before the resolution, then once.
    let rate = format!("/track/{reference}/rate");
    let (s, _, body) = form(&app, &mut jar, &rate, &[("csrf", &csrf), ("score", "5")]).await;
    assert!(s == StatusCode::CONFLICT && body.contains("Обновите страницу"), "{s}: {body}");
    let (s, b) = app
        .call(Method::POST, &format!("/api/v1/complaints/{reference}/resolve"), Some(&app.token), Some(json!({"measures": "Платёж отправлен повторно", "result": "Деньги зачислены"})))
        .await;
    assert!(s.is_success(), "{b}");
    let (_, _, body) = page(&app, &mut jar, &format!("/track/{reference}")).await;
    assert!(body.contains("Платёж отправлен повторно") && body.contains("Деньги зачислены") && body.contains("Как мы справились?"), "{body}");
    assert!(body.contains("Не согласны с результатом?"), "a resolved complaint can be disputed");
    for bad in ["0", "6", "", "пять"] {
        let (s, _, body) = form(&app, &mut jar, &rate, &[("csrf", &csrf), ("score", bad)]).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Выберите оценку от 1 до 5"), "{bad}: {s}");
    }
    let (s, _, body) = form(&app, &mut jar, &rate, &[("csrf", "wrong"), ("score", "4")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _, body) = form(&app, &mut jar, &rate, &[("csrf", &csrf), ("score", "4"), ("comment", "Долго, но решили")]).await;
    assert!(s == StatusCode::OK && body.contains("Спасибо за оценку") && body.contains("4/5") && !body.contains("Как мы справились?"), "{body}");
    let (s, _, _) = form(&app, &mut jar, &rate, &[("csrf", &csrf), ("score", "1")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "once per resolution");
    let (_, c) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&app.token), None).await;
    assert_eq!((c["rating"]["score"].as_u64(), c["rating"]["comment"].as_str()), (Some(4), Some("Долго, но решили")));
    let rated = app.events_of(&reference, "rated").await;
    assert_eq!(rated.len(), 1);

    // The agent's page shows the player's file, the rating and the player's other complaints.
    let other = file_complaint(&app, "aigerim@mail.kz", "Ещё одно обращение").await;
    let mut staff = Jar(vec![("ombuds_session".into(), app.admin.clone())]);
    let (s, _, body) = page(&app, &mut staff, &format!("/ui/complaints/{reference}?lang=ru")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("bank.png") && body.contains("Оценка игрока") && body.contains("4/5"), "{body}");
    assert!(body.contains(&format!("href=\"/ui/complaints/{other}\"")), "earlier complaints of the player");
    let res = app.http.get(format!("{}/ui/complaints/{reference}/files/{file_link}", app.base)).header("cookie", staff.header()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Without a session, no file.
    let res = app.http.get(format!("{}/ui/complaints/{reference}/files/{file_link}", app.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn codes_links_and_passes(db: &TestDb) {
    let app = app(db).await;
    let a = file_complaint(&app, "aigerim@mail.kz", "Первое обращение").await;
    let b = file_complaint(&app, "other@mail.kz", "Чужое обращение").await;
    let mut jar = Jar::default();
    page(&app, &mut jar, "/track?lang=ru").await;
    let csrf = jar.get("ombuds_csrf").unwrap();

    // Another address, an unknown reference, a malformed one: the same answer, and no code.
    let unknown = ComplaintRef::from_bits(0x0123_4567).to_string();
    for (reference, email) in [(a.as_str(), "someone@mail.kz"), (unknown.as_str(), "aigerim@mail.kz")] {
        let (s, _, body) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", reference), ("email", email)]).await;
        assert!(s == StatusCode::OK && body.contains("Если номер и адрес совпадают"), "{reference}: {body}");
    }
    assert_eq!(code_for(&app, &a).await, None, "nothing was sent to a stranger");
    let (s, _, body) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", "not a reference"), ("email", "aigerim@mail.kz")]).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Введите номер так"), "{body}");
    let (s, _, body) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", &a), ("email", "not-an-address")]).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Введите правильный e-mail"), "{body}");
    let (s, _, _) = form(&app, &mut jar, "/track", &[("csrf", "forged"), ("ref", &a), ("email", "aigerim@mail.kz")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The right address: a code, and its e-mail queued in the outbox.
    let (s, _, _) = form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", &a), ("email", "aigerim@mail.kz")]).await;
    assert_eq!(s, StatusCode::OK);
    let code = code_for(&app, &a).await.unwrap();
    assert_eq!(app.desk.store().job_count("track_access", "pending").await.unwrap(), 1);
    // Five wrong tries spend it: the right code no longer works.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let (s, _, body) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &a), ("code", wrong)]).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY && body.contains("Код неверный или устарел"), "{body}");
    }
    let (s, _, _) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &a), ("code", &code)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "spent by wrong tries");
    // A new code works once, typed with a space.
    form(&app, &mut jar, "/track", &[("csrf", &csrf), ("ref", &a), ("email", "aigerim@mail.kz")]).await;
    let code = code_for(&app, &a).await.unwrap();
    assert_ne!(code_for(&app, &b).await.as_deref(), Some(code.as_str()));
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let (s, h, _) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &a), ("code", &spaced)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).find(|c| c.starts_with("ombuds_track=")).unwrap().to_string();
    assert!(cookie.contains(&format!("Path=/track/{a}")) && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let (s, _, _) = form(&app, &mut jar, "/track/code", &[("csrf", &csrf), ("ref", &a), ("code", &code)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a code is good once");

    // A's pass does not open B.
    let (s, h, _) = page(&app, &mut jar, &format!("/track/{b}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track?ref={b}").as_str()));
    let (s, _, body) = page(&app, &mut jar, &format!("/track/{a}")).await;
    assert!(s == StatusCode::OK && body.contains("Первое обращение"), "{body}");

    // The link in an e-mail opens B for a browser with nothing; a tampered key does not.
    let b_id = app.desk.store().complaint_by_ref(&ComplaintRef::parse(&b).unwrap()).await.unwrap().id;
    let key = app.desk.track_link_key(b_id).await.unwrap();
    let mut fresh = Jar::default();
    let (exp, mac) = key.split_once('.').unwrap();
    let tampered = format!("{exp}.{}{}", if mac.starts_with('A') { 'B' } else { 'A' }, &mac[1..]);
    for bad in [tampered.as_str(), "123.abc", "", "x"] {
        let (s, _, body) = page(&app, &mut fresh, &format!("/track/{b}?key={bad}&lang=ru")).await;
        assert!(s == StatusCode::UNAUTHORIZED && body.contains("Ссылка недействительна"), "{bad}: {s}");
    }
    let (s, h, _) = page(&app, &mut fresh, &format!("/track/{b}?key={key}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track/{b}").as_str()));
    let (s, _, body) = page(&app, &mut fresh, &format!("/track/{b}")).await;
    assert!(s == StatusCode::OK && body.contains("Чужое обращение"), "{body}");
    // B's key is not A's.
    let mut other = Jar::default();
    let (s, _, _) = page(&app, &mut other, &format!("/track/{a}?key={key}")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn portal_pass(db: &TestDb) {
    let app = app(db).await;
    let mut jar = Jar::default();
    page(&app, &mut jar, "/portal?lang=en").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let (s, h, _) = form(&app, &mut jar, "/portal", &[("csrf", &csrf), ("name", "Sam"), ("email", "sam@mail.kz"), ("subject", "Bonus missing"), ("description", "My welcome bonus never arrived.")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let reference = h[LOCATION].to_str().unwrap().split("ref=").nth(1).unwrap().to_string();
    let (_, _, body) = page(&app, &mut jar, &format!("/portal/done?ref={reference}")).await;
    assert!(body.contains(&format!("href=\"/track/{reference}\"")), "{body}");
    let (s, _, body) = page(&app, &mut jar, &format!("/track/{reference}?lang=en")).await;
    assert!(s == StatusCode::OK && body.contains("My welcome bonus never arrived.") && body.contains("Follow") || body.contains("Bonus missing"), "{s}: {body}");
}
