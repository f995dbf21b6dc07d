//! The workspace's helpers over real HTTP, on SQLite and on PostgreSQL: macros written by a
//! supervisor (errors next to their fields, agents refused) and offered on complaint pages in
//! the player's language; the queues' live counts; the collision warning.

mod common;
use common::{Jar, TestApp, encode, form, page, sign_in};
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

ombuds_store::both_backends! {
    macros_are_written_and_offered => macros_are_written_and_offered,
    counts_and_presence => counts_and_presence,
    faq_articles_are_suggested => faq_articles_are_suggested,
    queue_filters_and_assignment => queue_filters_and_assignment,
    bouncing_address_is_shown => bouncing_address_is_shown,
    sender_check_is_shown => sender_check_is_shown,
}

async fn app(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { http: client, ..app }
}

async fn json_of(res: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = res.status();
    let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (status, kind, serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null))
}

async fn macros_are_written_and_offered(db: &TestDb) {
    let app = app(db).await;
    app.agent("olga", "supervisor", &["payments", "bonuses"]).await;
    app.agent("dana", "agent", &["payments"]).await;
    let mut olga = sign_in(&app, "olga", "ru").await;
    let mut dana = sign_in(&app, "dana", "ru").await;

    // Agents do not see the settings.
    let (s, _, body) = page(&app, &mut dana, "/ui/admin/macros").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (_, _, body) = page(&app, &mut dana, "/ui/queue").await;
    assert!(!body.contains("/ui/admin/macros"), "no link for agents");

    let (s, _, body) = page(&app, &mut olga, "/ui/admin/macros").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Шаблонов пока нет.") && body.contains("{reference}"), "{body}");
    let csrf = olga.get("ombuds_csrf").unwrap();

    // Bad forms: no CSRF; nothing written; a placeholder the desk cannot fill and an unknown
    // department. Each error stands next to its field, what was typed is kept, nothing is saved.
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/macros", &[("title", "x"), ("text_ru", "y")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = form(&app, &mut olga, "/ui/admin/macros", &[("csrf", &csrf), ("title", " "), ("text_ru", " ")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="title-error">Заполните это поле."#) && body.contains(r#"id="text_ru-error">"#), "{body}");
    let fields = [("csrf", csrf.as_str()), ("title", "Уточнить карту"), ("department", "casino"), ("text_en", "Dear {name}, <b>hi</b>")];
    let (s, _, body) = form(&app, &mut olga, "/ui/admin/macros", &fields).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="text_en-error">Неизвестная подстановка"#) && body.contains(r#"id="department-error">Выберите отдел"#), "{body}");
    assert!(body.contains("Dear {name}, &lt;b&gt;hi&lt;/b&gt;") || body.contains("Dear {name}, &#60;b&#62;hi&#60;/b&#62;"), "kept, escaped: {body}");
    assert!(app.desk.macros().await.unwrap().is_empty());

    // Two good ones: one for payments in Russian and Kazakh, one for bonuses.
    let card = [
        ("csrf", csrf.as_str()),
        ("title", "Уточнить карту"),
        ("department", "payments"),
        ("text_ru", "{player}, по обращению {reference} пришлите последние 4 цифры карты. {agent}"),
        ("text_kk", "{player}, {reference} өтініші бойынша картаның соңғы 4 санын жіберіңіз."),
    ];
    let (s, h, _) = form(&app, &mut olga, "/ui/admin/macros", &card).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/admin/macros?saved=1"));
    let bonus = [("csrf", csrf.as_str()), ("title", "Бонус начислен"), ("department", "bonuses"), ("text_ru", "Бонус начислен.")];
    form(&app, &mut olga, "/ui/admin/macros", &bonus).await;
    let (_, _, body) = page(&app, &mut olga, "/ui/admin/macros?saved=1").await;
    assert!(body.contains("Шаблон сохранён.") && body.contains("Уточнить карту") && body.contains("ru, kk"), "{body}");

    // Dana's complaint from a Kazakh-speaking player: the payments macro, in Kazakh, filled in.
    let c = app
        .register_json(json!({"player": {"email": "a@mail.kz", "name": "Айгерим", "language": "kk"}, "language": "kk", "subject": "Ақша", "description": "Ақша түскен жоқ", "department": "payments"}))
        .await;
    let r = c["reference"].as_str().unwrap();
    let (s, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{r}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(&format!("data-text=\"Айгерим, {r} өтініші бойынша картаның соңғы 4 санын жіберіңіз.\"")), "{body}");
    assert!(!body.contains("Бонус начислен"), "another department's macro is not offered");
    assert!(body.contains("Игрок пишет на языке: <strong>Қазақша</strong>"), "{body}");

    // Changing and deleting; unknown ones are not found.
    let id = app.desk.macros().await.unwrap().into_iter().find(|m| m.title.as_str() == "Бонус начислен").unwrap().id.to_string();
    let (s, _, body) = page(&app, &mut olga, &format!("/ui/admin/macros?edit={id}")).await;
    assert!(s == StatusCode::OK && body.contains(&format!(r#"name="id" value="{id}""#)) && body.contains("Изменить шаблон"), "{body}");
    let changed = [("csrf", csrf.as_str()), ("id", id.as_str()), ("title", "Бонус начислен"), ("department", ""), ("text_ru", "Бонус уже на счёте.")];
    form(&app, &mut olga, "/ui/admin/macros", &changed).await;
    let all = app.desk.macros().await.unwrap();
    assert_eq!(all.len(), 2);
    let m = all.iter().find(|m| m.id.to_string() == id).unwrap();
    assert!(m.department.is_none() && m.texts.values().any(|t| t.as_str() == "Бонус уже на счёте."));
    let (s, _, _) = page(&app, &mut olga, "/ui/admin/macros?edit=0190aaaa-0000-7000-8000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, h, _) = form(&app, &mut olga, &format!("/ui/admin/macros/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/admin/macros?deleted=1"));
    let (s, _, _) = form(&app, &mut olga, &format!("/ui/admin/macros/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let dana_csrf = dana.get("ombuds_csrf").unwrap();
    let (s, _, _) = form(&app, &mut dana, "/ui/admin/macros/not-an-id/delete", &[("csrf", &dana_csrf)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents may not delete");
    assert_eq!(app.desk.macros().await.unwrap().len(), 1);
}

async fn counts_and_presence(db: &TestDb) {
    let app = app(db).await;
    app.agent("dana", "agent", &["payments"]).await;
    app.agent("erlan", "agent", &["payments"]).await;
    app.agent("bolat", "agent", &["bonuses"]).await;
    for i in 0..3 {
        app.register_json(json!({"player": {"email": format!("p{i}@mail.kz")}, "subject": "Вывод", "description": "Вывод не пришёл", "department": "payments"}))
            .await;
    }
    let other = app.register_json(json!({"player": {"email": "q@mail.kz"}, "subject": "Бонус", "description": "Нет бонуса", "department": "bonuses"})).await;
    let mut dana = sign_in(&app, "dana", "ru").await;
    let mut erlan = sign_in(&app, "erlan", "en").await;
    let mut bolat = sign_in(&app, "bolat", "ru").await;

    // Counts: what Dana may see, per view.
    let get = |jar: &Jar, path: &str| app.http.get(format!("{}{path}", app.base)).header("cookie", jar.header()).send();
    let (s, _, counts) = json_of(get(&dana, "/ui/queue/counts").await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{counts}");
    assert_eq!((counts["unassigned"].as_str(), counts["departments"].as_str(), counts["mine"].as_str()), (Some("3"), Some("3"), Some("0")), "{counts}");
    assert_eq!((counts["breached"].as_str(), counts["at_risk"].as_str()), (Some("0"), Some("0")));
    assert!(counts.get("all").is_none());
    let (s, kind, problem) = json_of(app.http.get(format!("{}/ui/queue/counts", app.base)).send().await.unwrap()).await;
    assert_eq!((s, kind.as_deref(), problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("application/problem+json"), Some("unauthorized")));

    // Presence: Dana views, Erlan writes; each sees the other, in their own language.
    let list = app.desk.list(&ombuds_core::Principal::Token { id: uuid::Uuid::nil(), name: "t".into(), scopes: [ombuds_core::Scope::Admin].into() }, &Default::default(), ombuds_desk::PageRequest { after: None, limit: 10 }).await.unwrap();
    let r = list.items.iter().find(|c| c.department.as_ref().is_some_and(|d| d.as_str() == "payments")).unwrap().reference.to_string();
    let beat = |jar: &Jar, reference: &str, state: &str, csrf: Option<String>| {
        let csrf = csrf.unwrap_or_else(|| jar.get("ombuds_csrf").unwrap());
        app.http
            .post(format!("{}/ui/complaints/{reference}/presence", app.base))
            .header("cookie", jar.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[("csrf", &csrf), ("state", state)]))
            .send()
    };
    let (s, _, b) = json_of(beat(&dana, &r, "viewing", None).await.unwrap()).await;
    assert_eq!((s, b["others"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{b}");
    let (_, _, b) = json_of(beat(&erlan, &r, "replying", None).await.unwrap()).await;
    assert_eq!(b["others"][0]["text"].as_str(), Some("dana is viewing this complaint"), "{b}");
    let (_, _, b) = json_of(beat(&dana, &r, "viewing", None).await.unwrap()).await;
    assert_eq!((b["others"][0]["state"].as_str(), b["others"][0]["text"].as_str()), (Some("replying"), Some("erlan пишет ответ")), "{b}");
    let (_, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{r}")).await;
    assert!(body.contains(&format!(r#"data-url="/ui/complaints/{r}/presence""#)) && body.contains("/ui/assets/workspace.js"), "{body}");
    assert!(body.contains(&format!("<title>Обращение {r} · ombuds</title>")), "the title is text only: {body}");
    assert!(body.find(r#"<script src="/ui/assets/workspace.js">"#) > body.find("</main>"), "the script stands outside the page's content");
    let (_, _, body) = page(&app, &mut dana, "/ui/queue").await;
    assert!(body.contains("<title>Очереди · ombuds</title>") && body.contains(r#"id="shortcuts""#), "{body}");

    // Bad beats: an unknown state, a wrong CSRF token, someone else's department, no complaint.
    let (s, _, b) = json_of(beat(&dana, &r, "typing", None).await.unwrap()).await;
    assert_eq!((s, b["code"].as_str(), b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"), Some("state")));
    let (s, _, _) = json_of(beat(&dana, &r, "viewing", Some("forged".into())).await.unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, b) = json_of(beat(&bolat, &r, "viewing", None).await.unwrap()).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "outside the agent's departments");
    let (s, _, _) = json_of(beat(&dana, "not-a-ref", "viewing", None).await.unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, b) = json_of(beat(&bolat, other["reference"].as_str().unwrap(), "viewing", None).await.unwrap()).await;
    assert_eq!((s, b["others"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let _ = (&mut erlan, &mut bolat);
}

/// The complaint page suggests published articles of the player's language whose title shares
/// a word with the complaint, and offers them in the reply's macro list.
async fn faq_articles_are_suggested(db: &TestDb) {
    let app = app(db).await;
    app.agent("dana", "agent", &["payments"]).await;
    let article = |language: &str, title: &str, body: &str, published: bool| {
        json!({"language": language, "category": "payments", "title": title, "body": body, "published": published})
    };
    for a in [
        article("ru", "Сколько идёт вывод средств", "Вывод на карту занимает до трёх рабочих дней.", true),
        article("ru", "Как получить бонус", "Бонус начисляется после депозита; вывод бонуса возможен после отыгрыша.", true),
        article("ru", "Вывод в криптовалюте", "Черновик.", false),
        article("en", "How long does a withdrawal take", "Up to three working days.", true),
    ] {
        let (s, b) = app.call(reqwest::Method::POST, "/api/v1/faq", Some(&app.admin), Some(a)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let c = app
        .register_json(json!({"channel": "email", "player": {"email": "a@mail.kz"}, "subject": "Вывод не пришёл",
            "description": "Жду вывод третий день.", "department": "payments", "language": "ru"}))
        .await;
    let mut dana = sign_in(&app, "dana", "ru").await;
    let (s, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{}", c["reference"].as_str().unwrap())).await;
    assert_eq!(s, StatusCode::OK);
    let faq = body.split("id=\"faq-suggestions\"").nth(1).expect("suggestions").split("</div>").next().unwrap();
    assert!(faq.contains("Сколько идёт вывод средств"), "{faq}");
    assert!(!faq.contains("бонус") && !faq.contains("криптовалюте") && !faq.contains("withdrawal"), "only titled matches, published, in Russian: {faq}");
    assert!(body.contains("data-text=\"Вывод на карту занимает до трёх рабочих дней.\""), "offered as a macro");
}

/// The queue's filters (department, channel, priority) narrow every view and follow the pages;
/// a supervisor hands a complaint to an agent of its department, an agent cannot.
async fn queue_filters_and_assignment(db: &TestDb) {
    let app = app(db).await;
    let (olga_id, _) = app.agent("olga", "supervisor", &["payments", "bonuses"]).await;
    let (dana_id, _) = app.agent("dana", "agent", &["payments"]).await;
    let (bek_id, _) = app.agent("bek", "agent", &["bonuses"]).await;
    let file = async |subject: &str, department: &str, channel: &str, priority: &str| {
        let mut player = json!({"email": "a@mail.kz"});
        if channel == "phone" {
            player = json!({"phone": "+77011234567"});
        }
        let c = app
            .register_json(json!({"channel": channel, "player": player, "subject": subject, "description": "Текст обращения.",
                "department": department, "priority": priority, "language": "ru"}))
            .await;
        c["reference"].as_str().unwrap().to_string()
    };
    let urgent = file("Срочный вывод", "payments", "email", "urgent").await;
    let call = file("Звонок про вывод", "payments", "phone", "normal").await;
    let bonus = file("Бонус не начислен", "bonuses", "email", "urgent").await;
    let mut olga = sign_in(&app, "olga", "ru").await;

    let listed = async |jar: &mut Jar, query: &str| {
        let (s, _, body) = page(&app, jar, &format!("/ui/queue?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{query}");
        [&urgent, &call, &bonus].iter().filter(|r| body.contains(&format!("/ui/complaints/{r}\""))).map(|r| r.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(listed(&mut olga, "view=departments").await.len(), 3);
    assert_eq!(listed(&mut olga, "view=departments&priority=urgent").await, [urgent.as_str(), bonus.as_str()]);
    assert_eq!(listed(&mut olga, "view=departments&channel=phone").await, [call.as_str()]);
    assert_eq!(listed(&mut olga, "view=all&department=bonuses").await, [bonus.as_str()]);
    assert_eq!(listed(&mut olga, "view=departments&department=payments&priority=urgent").await, [urgent.as_str()]);
    // A value that is not one is ignored: the queue still shows.
    assert_eq!(listed(&mut olga, "view=departments&priority=whenever&channel=<x>").await.len(), 3);
    let (_, _, body) = page(&app, &mut olga, "/ui/queue?view=departments&priority=urgent").await;
    assert!(body.contains("<option value=\"urgent\" selected>"), "the chosen filter is shown");

    // Assignment: the supervisor's select offers the department's agents only.
    let (_, _, body) = page(&app, &mut olga, &format!("/ui/complaints/{urgent}")).await;
    let select = body.split("id=\"assign-agent\"").nth(1).expect("an assign select").split("</select>").next().unwrap();
    assert!(select.contains(&dana_id) && !select.contains(&bek_id), "{select}");
    let csrf = olga.get("ombuds_csrf").unwrap();
    let act = format!("/ui/complaints/{urgent}/act");
    let (s, _, _) = form(&app, &mut olga, &act, &[("csrf", &csrf), ("action", "assign"), ("agent", "nobody")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, body) = form(&app, &mut olga, &act, &[("csrf", &csrf), ("action", "assign"), ("agent", &bek_id)]).await;
    assert_eq!(s, StatusCode::CONFLICT, "bek does not work in payments: {body}");
    let (s, _, _) = form(&app, &mut olga, &act, &[("csrf", &csrf), ("action", "assign"), ("agent", &dana_id)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, c) = app.call(reqwest::Method::GET, &format!("/api/v1/complaints/{urgent}"), Some(&app.token), None).await;
    assert_eq!(c["assignee"].as_str(), Some(dana_id.as_str()));

    // An agent gets no select, and a forged hand-over is refused.
    let mut dana = sign_in(&app, "dana", "ru").await;
    let (_, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{call}")).await;
    assert!(!body.contains("id=\"assign-agent\""));
    let csrf = dana.get("ombuds_csrf").unwrap();
    let (s, _, _) = form(&app, &mut dana, &format!("/ui/complaints/{call}/act"), &[("csrf", &csrf), ("action", "assign"), ("agent", &olga_id)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// When mail to the player's address bounces, the complaint page says so under the player, in
/// the reader's language; once cleared, the line is gone.
async fn bouncing_address_is_shown(db: &TestDb) {
    let app = app(db).await;
    app.agent("dana", "agent", &["payments"]).await;
    let c = app
        .register_json(json!({"channel": "email", "player": {"email": "gone@mail.kz"}, "subject": "Вывод не пришёл",
            "description": "Жду вывод третий день.", "department": "payments", "language": "ru"}))
        .await;
    let r = c["reference"].as_str().unwrap().to_string();
    let mut dana = sign_in(&app, "dana", "ru").await;
    let (_, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{r}")).await;
    assert!(!body.contains("id=\"bouncing\""), "no line while mail gets through");
    app.desk.store().mark_bouncing("gone@mail.kz", None, "5.1.1: 550 5.1.1 User unknown").await.unwrap();
    let (_, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{r}")).await;
    let line = body.split("id=\"bouncing\">").nth(1).expect("the bouncing line").split("</p>").next().unwrap();
    assert!(line.contains("возвращаются недоставленными") && line.contains("gone@mail.kz") && line.contains("User unknown"), "{line}");
    app.desk.clear_bouncing("gone@mail.kz").await.unwrap();
    let (_, _, body) = page(&app, &mut dana, &format!("/ui/complaints/{r}")).await;
    assert!(!body.contains("id=\"bouncing\""));
}

/// The complaint page says whether the player's latest e-mail proved its sender (DMARC), in the
/// reader's language: verified, or a warning that it may be forged.
async fn sender_check_is_shown(db: &TestDb) {
    use ombuds_core::*;
    use ombuds_desk::{AuthResult, DmarcPolicy, Inbound, NewMail, Received, SenderAuth};
    let app = app(db).await;
    app.agent("sue", "supervisor", &[]).await;
    let inbound = |id: &str, dmarc: AuthResult| Inbound {
        channel: Channel::Email,
        contact: PlayerContact { external_id: None, name: None, email: Some(EmailAddress::parse("ana@mail.kz").unwrap()), phone: None, language: None },
        kind: Kind::Complaint,
        subject: Subject::parse("Вывод не пришёл").unwrap(),
        text: Body::parse("Жду вывод третий день.").unwrap(),
        language: Some(Language::Ru),
        thread: None,
        dedupe_key: Some(id.to_string()),
        mail: Some(NewMail {
            header_id: id.to_string(),
            sender: "ana@mail.kz".into(),
            recipient: "support@desk.example".into(),
            subject: "Вывод не пришёл".into(),
            size: 42,
            raw: Some(b"From: ana@mail.kz\r\n\r\nx".to_vec()),
            auth: Some(SenderAuth { spf: AuthResult::None, dkim: dmarc, dmarc, domain: "mail.kz".into(), policy: Some(DmarcPolicy::Quarantine) }),
            attachments: vec![],
        }),
    };
    let mut sue = sign_in(&app, "sue", "ru").await;
    let Received::Registered(good) = app.desk.receive(inbound("s1@mail.kz", AuthResult::Pass)).await.unwrap() else { panic!("registered") };
    let (status, _, body) = page(&app, &mut sue, &format!("/ui/complaints/{}", good.reference)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let line = body.split("id=\"sender-check\">").nth(1).expect("the sender line").split("</p>").next().unwrap();
    assert!(line.contains("Отправитель подтверждён") && line.contains("mail.kz"), "{line}");
    let Received::Registered(bad) = app.desk.receive(inbound("s2@mail.kz", AuthResult::Fail)).await.unwrap() else { panic!("registered") };
    let mut en = sign_in(&app, "sue", "en").await;
    let (_, _, body) = page(&app, &mut en, &format!("/ui/complaints/{}", bad.reference)).await;
    assert!(body.contains("class=\"error\" id=\"sender-check\""), "a failure is a warning");
    assert!(body.contains("DMARC fail for mail.kz") && body.contains("may be forged"), "{}", body.split("sender-check").nth(1).unwrap_or(""));
}
