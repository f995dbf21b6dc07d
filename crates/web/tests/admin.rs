//! The settings screens over real HTTP, on SQLite and on PostgreSQL: who may use which (agents
//! 403, supervisors only what the desk lets them), each field's error next to it with nothing
//! stored, CSRF refused, and every change taking effect where it matters (an agent added here
//! signs in, a renamed department shows in the queue, a published article on /help, saved rules
//! route, a saved e-mail template is the one the sender composes with).

mod common;
use common::{Jar, TestApp, form, page, sign_in, try_sign_in};
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

ombuds_store::both_backends! {
    index_and_agents => index_and_agents,
    departments_and_calendars => departments_and_calendars,
    faq_articles => faq_articles,
    routing_and_sla => routing_and_sla,
    mail_templates => mail_templates,
}

async fn app(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { http: client, ..app }
}

/// The administrator's browser: the session the harness made, in Russian.
async fn admin(app: &TestApp) -> Jar {
    let mut jar = Jar(vec![("ombuds_session".into(), app.admin.clone()), ("ombuds_lang".into(), "ru".into())]);
    page(app, &mut jar, "/ui/queue").await;
    jar
}

fn csrf(jar: &Jar) -> String {
    jar.get("ombuds_csrf").unwrap()
}

fn location(h: &reqwest::header::HeaderMap) -> &str {
    h[LOCATION].to_str().unwrap()
}

async fn index_and_agents(db: &TestDb) {
    let app = app(db).await;
    app.agent("olga", "supervisor", &["payments"]).await;
    app.agent("dana", "agent", &["payments"]).await;
    let mut root = admin(&app).await;
    let mut olga = sign_in(&app, "olga", "ru").await;
    let mut dana = sign_in(&app, "dana", "ru").await;

    // The index: the nav's Settings link for staff, each screen the person may use.
    let (_, _, body) = page(&app, &mut root, "/ui/queue").await;
    assert!(body.contains(r#"<a href="/ui/admin">Настройки</a>"#), "{body}");
    let (s, _, body) = page(&app, &mut root, "/ui/admin").await;
    assert_eq!(s, StatusCode::OK);
    for screen in ["agents", "departments", "macros", "faq", "routing", "sla", "templates"] {
        assert!(body.contains(&format!(r#"href="/ui/admin/{screen}""#)), "{screen}: {body}");
    }
    let (s, _, body) = page(&app, &mut olga, "/ui/admin").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(r#"href="/ui/admin/faq""#) && body.contains(r#"href="/ui/admin/routing""#), "{body}");
    assert!(!body.contains(r#"href="/ui/admin/agents""#) && !body.contains(r#"href="/ui/admin/templates""#), "{body}");
    let (_, _, body) = page(&app, &mut dana, "/ui/queue").await;
    assert!(!body.contains("/ui/admin"), "no settings link for agents");
    for path in ["/ui/admin", "/ui/admin/agents", "/ui/admin/departments", "/ui/admin/faq", "/ui/admin/routing", "/ui/admin/sla", "/ui/admin/templates"] {
        let (s, _, _) = page(&app, &mut dana, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "agents: {path}");
    }
    for path in ["/ui/admin/agents", "/ui/admin/departments", "/ui/admin/templates"] {
        let (s, _, body) = page(&app, &mut olga, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "supervisors: {path}");
        assert!(body.contains("только администраторам"), "{body}");
    }
    let dana_csrf = csrf(&dana);
    let (s, _, _) = form(&app, &mut dana, "/ui/admin/agents", &[("csrf", &dana_csrf), ("login", "evil"), ("name", "Evil"), ("role", "admin")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The list.
    let (s, _, body) = page(&app, &mut root, "/ui/admin/agents").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(r#"data-login="olga""#) && body.contains("Супервизор") && body.contains("Платежи"), "{body}");
    let before = app.desk.agents().await.unwrap().len();
    let token = csrf(&root);

    // No CSRF token: refused, nothing added.
    let (s, _, _) = form(&app, &mut root, "/ui/admin/agents", &[("login", "aliya"), ("name", "Алия"), ("role", "agent")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Every field wrong at once: each error next to its field, what was typed kept (escaped).
    let bad = [
        ("csrf", token.as_str()),
        ("login", "a b"),
        ("name", " "),
        ("email", "<b>not-an-address"),
        ("role", "boss"),
        ("departments", "casino"),
        ("languages", "de"),
        ("password", "short"),
    ];
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents", &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for (field, text) in [
        ("login", "Используйте от 2 до 64 латинских букв"),
        ("name", "Заполните это поле."),
        ("email", "Введите правильный e-mail."),
        ("role", "Недопустимое значение."),
        ("languages", "Недопустимое значение."),
        ("password", "В пароле должно быть не меньше 10 символов."),
    ] {
        assert!(body.contains(&format!(r#"id="{field}-error">{text}"#)), "{field}: {body}");
    }
    assert!(body.contains(r#"value="&#60;b&#62;not-an-address""#) || body.contains(r#"value="&lt;b&gt;not-an-address""#), "kept, escaped: {body}");
    // A department that does not exist is the desk's to refuse.
    let unknown = [("csrf", token.as_str()), ("login", "aliya"), ("name", "Алия"), ("role", "agent"), ("departments", "casino")];
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents", &unknown).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="departments-error">Выберите отделы из списка."#), "{body}");
    assert_eq!(app.desk.agents().await.unwrap().len(), before, "nothing stored");

    // A good one without a password: the desk makes one, shown once; it signs in.
    let good = [
        ("csrf", token.as_str()),
        ("login", "Aliya"),
        ("name", "Алия Серикова"),
        ("email", "aliya@operator.kz"),
        ("role", "agent"),
        ("departments", "payments"),
        ("departments", "bonuses"),
        ("languages", "ru"),
        ("languages", "kk"),
        ("password", ""),
    ];
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents", &good).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("Сотрудник aliya добавлен."), "{body}");
    let password = body.split(r#"id="new-password">"#).nth(1).unwrap().split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_string();
    assert_eq!(password.len(), 16, "{password}");
    let mut aliya = try_sign_in(&app, "aliya", &password, "ru").await.expect("the new agent signs in");
    let (s, _, _) = page(&app, &mut aliya, "/ui/queue").await;
    assert_eq!(s, StatusCode::OK);
    let a = app.desk.agents().await.unwrap().into_iter().find(|a| a.login == "aliya").unwrap();
    assert_eq!((a.role, a.departments.len(), a.languages.len()), (ombuds_core::Role::Agent, 2, 2));
    let (_, _, body) = page(&app, &mut root, "/ui/admin/agents").await;
    assert!(!body.contains(&password), "the password is shown once");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents", &good).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="login-error">Этот логин уже занят."#), "{body}");

    // Changing her: name, e-mail, role, departments, languages.
    let (s, _, body) = page(&app, &mut root, "/ui/admin/agents?edit=aliya").await;
    assert!(s == StatusCode::OK && body.contains(r#"name="original" value="aliya""#) && body.contains("Изменить сотрудника"), "{body}");
    let (s, _, _) = page(&app, &mut root, "/ui/admin/agents?edit=nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let change = [
        ("csrf", token.as_str()),
        ("original", "aliya"),
        ("name", "Алия С."),
        ("email", ""),
        ("role", "supervisor"),
        ("departments", "bonuses"),
        ("languages", "en"),
    ];
    let (s, h, _) = form(&app, &mut root, "/ui/admin/agents", &change).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/agents?saved=1"));
    let a = app.desk.agents().await.unwrap().into_iter().find(|a| a.login == "aliya").unwrap();
    assert_eq!(a.name.as_str(), "Алия С.");
    assert!(a.email.is_none() && a.role == ombuds_core::Role::Supervisor);
    assert_eq!(a.departments.iter().map(|d| d.as_str()).collect::<Vec<_>>(), ["bonuses"]);
    assert_eq!(a.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["en"]);
    let (_, _, body) = page(&app, &mut aliya, "/ui/admin").await;
    assert!(body.contains(r#"href="/ui/admin/faq""#), "her new role is in force at once: {body}");

    // Disabling ends her sessions and sign-ins; enabling lets her in again.
    let (s, h, _) = form(&app, &mut root, "/ui/admin/agents/aliya/active", &[("csrf", &token), ("active", "0")]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/agents?saved=1"));
    let (s, h, _) = page(&app, &mut aliya, "/ui/queue").await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/login"));
    assert_eq!(try_sign_in(&app, "aliya", &password, "ru").await.err(), Some(StatusCode::UNAUTHORIZED));
    let (_, _, body) = page(&app, &mut root, "/ui/admin/agents").await;
    assert!(body.contains("отключён") && body.contains("Включить"), "{body}");
    form(&app, &mut root, "/ui/admin/agents/aliya/active", &[("csrf", &token), ("active", "1")]).await;
    assert!(try_sign_in(&app, "aliya", &password, "ru").await.is_ok());
    let (s, _, _) = form(&app, &mut root, "/ui/admin/agents/nobody/active", &[("csrf", &token), ("active", "0")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = form(&app, &mut root, "/ui/admin/agents/aliya/active", &[("active", "0")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    assert!(app.desk.agents().await.unwrap().iter().any(|a| a.login == "aliya" && a.active));

    // The only administrator can neither be disabled nor lose the role.
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents/admin/active", &[("csrf", &token), ("active", "0")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Должен остаться хотя бы один активный администратор."), "{body}");
    let demote = [("csrf", token.as_str()), ("original", "admin"), ("name", "Administrator"), ("role", "agent"), ("languages", "ru")];
    let (s, _, body) = form(&app, &mut root, "/ui/admin/agents", &demote).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="role-error">Должен остаться"#), "{body}");
    assert!(app.desk.agents().await.unwrap().iter().any(|a| a.login == "admin" && a.active && a.role == ombuds_core::Role::Admin));
}

async fn departments_and_calendars(db: &TestDb) {
    let app = app(db).await;
    let mut root = admin(&app).await;
    let token = csrf(&root);
    let (s, _, body) = page(&app, &mut root, "/ui/admin/departments").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(r#"data-code="payments""#) && body.contains("Общий календарь"), "{body}");
    let before = app.desk.departments().await.unwrap().len();

    // A bad department: the code and every name refused at once; nothing stored.
    let (s, _, body) = form(&app, &mut root, "/ui/admin/departments", &[("csrf", &token), ("code", "Casino!"), ("name_ru", ""), ("name_kk", "Казино"), ("name_en", &"x".repeat(101))]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#"id="code-error">Используйте строчные латинские буквы"#), "{body}");
    assert!(body.contains(r#"id="name_ru-error">Заполните это поле."#) && body.contains(r#"id="name_en-error">Слишком длинно."#), "{body}");
    assert!(body.contains(r#"value="Казино""#), "kept: {body}");
    let (s, _, _) = form(&app, &mut root, "/ui/admin/departments", &[("code", "casino"), ("name_ru", "Казино"), ("name_kk", "Казино"), ("name_en", "Casino")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(app.desk.departments().await.unwrap().len(), before);

    // A good one; its code cannot be taken twice.
    let casino = [("csrf", token.as_str()), ("code", "casino"), ("name_ru", "Казино"), ("name_kk", "Казино"), ("name_en", "Casino")];
    let (s, h, _) = form(&app, &mut root, "/ui/admin/departments", &casino).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/departments?saved=1"));
    assert!(app.desk.departments().await.unwrap().iter().any(|d| d.code.as_str() == "casino" && d.active));
    let (s, _, body) = form(&app, &mut root, "/ui/admin/departments", &casino).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="code-error">Отдел с таким кодом уже есть."#), "{body}");

    // Renaming payments shows in the queue; deactivating casino.
    let c = app.register_json(json!({"player": {"email": "p@mail.kz"}, "subject": "Вывод", "description": "Вывод не пришёл", "department": "payments"})).await;
    let rename = [("csrf", token.as_str()), ("original", "payments"), ("name_ru", "Выплаты игрокам"), ("name_kk", "Ойыншыларға төлем"), ("name_en", "Player payouts")];
    let (s, h, _) = form(&app, &mut root, "/ui/admin/departments", &rename).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/departments?saved=1"));
    let (_, _, body) = page(&app, &mut root, "/ui/queue?view=all").await;
    assert!(body.contains(c["reference"].as_str().unwrap()) && body.contains("<td>Выплаты игрокам</td>"), "{body}");
    let (_, _, body) = page(&app, &mut root, "/ui/queue?view=all&lang=en").await;
    assert!(body.contains("<td>Player payouts</td>"), "{body}");
    page(&app, &mut root, "/ui/queue?lang=ru").await;
    let (s, _, _) = form(&app, &mut root, "/ui/admin/departments/casino/active", &[("csrf", &token), ("active", "0")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(app.desk.departments().await.unwrap().iter().any(|d| d.code.as_str() == "casino" && !d.active));
    let (s, _, _) = form(&app, &mut root, "/ui/admin/departments/nothing/active", &[("csrf", &token), ("active", "0")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The calendar of payments: every mistake at once, then a good one, then a stale edit.
    let (s, _, body) = page(&app, &mut root, "/ui/admin/departments?edit=payments").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(r#"action="/ui/admin/departments/payments/calendar""#) && body.contains(r#"name="version" value="0""#), "{body}");
    let path = "/ui/admin/departments/payments/calendar";
    let bad = [("csrf", token.as_str()), ("version", "0"), ("own", "1"), ("timezone", "Mars/Olympus"), ("hours_mon", "18:00-09:00"), ("holidays", "2026-13-01")];
    let (s, _, body) = form(&app, &mut root, path, &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#"id="timezone-error">Укажите часовой пояс"#), "{body}");
    assert!(body.contains(r#"id="hours_mon-error">Пишите интервалы"#), "{body}");
    assert!(body.contains(r#"id="holidays-error">Пишите каждую дату"#), "{body}");
    assert!(body.contains(r#"value="Mars/Olympus""#), "kept: {body}");
    let (s, _, body) = form(&app, &mut root, path, &[("csrf", &token), ("version", "0"), ("own", "1"), ("timezone", "UTC")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="hours-error">Укажите рабочие часы"#), "{body}");
    let (s, _, _) = form(&app, &mut root, path, &[("version", "0"), ("own", "1"), ("timezone", "UTC"), ("always_open", "1")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(app.desk.sla_view(&admin_principal(&app).await).unwrap().version, 0, "nothing saved");

    let mut good = vec![("csrf", token.as_str()), ("version", "0"), ("own", "1"), ("timezone", "Asia/Almaty"), ("holidays", "2026-03-08\n2026-03-21")];
    for d in ["hours_mon", "hours_tue", "hours_wed", "hours_thu", "hours_fri"] {
        good.push((d, "09:00-13:00, 14:00-18:00"));
    }
    let (s, h, _) = form(&app, &mut root, path, &good).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/departments?edit=payments&saved=1"));
    let view = app.desk.sla_view(&admin_principal(&app).await).unwrap();
    assert_eq!(view.version, 1);
    let cal = &view.spec.calendars["payments"];
    assert_eq!((cal.timezone.as_str(), cal.always_open, cal.holidays.len()), ("Asia/Almaty", false, 2));
    assert_eq!(cal.hours["mon"], ["09:00-13:00", "14:00-18:00"]);
    let (_, _, body) = page(&app, &mut root, "/ui/admin/departments?edit=payments").await;
    assert!(body.contains("Asia/Almaty; mon 09:00-13:00, 14:00-18:00") && body.contains(r#"name="version" value="1""#), "{body}");
    // Someone else's page still says version 0.
    let (s, _, body) = form(&app, &mut root, path, &[("csrf", &token), ("version", "0"), ("own", "1"), ("timezone", "UTC"), ("always_open", "1")]).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("сохранил кто-то другой"), "{body}");
    assert_eq!(app.desk.sla_view(&admin_principal(&app).await).unwrap().spec.calendars["payments"].timezone, "Asia/Almaty");
    // Back to the common calendar.
    let (s, _, _) = form(&app, &mut root, path, &[("csrf", &token), ("version", "1"), ("timezone", "UTC")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(app.desk.sla_view(&admin_principal(&app).await).unwrap().spec.calendars.is_empty());
}

/// The harness's administrator, as the desk knows them.
async fn admin_principal(app: &TestApp) -> ombuds_core::Principal {
    app.desk.authenticate(&app.admin).await.unwrap()
}

async fn faq_articles(db: &TestDb) {
    let app = app(db).await;
    app.agent("olga", "supervisor", &["payments"]).await;
    let mut olga = sign_in(&app, "olga", "ru").await;
    let token = csrf(&olga);
    let who = admin_principal(&app).await;
    let (s, _, body) = page(&app, &mut olga, "/ui/admin/faq").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Статей пока нет."), "{body}");

    // Bad: each field's error; nothing stored. No CSRF: refused.
    let (s, _, body) = form(&app, &mut olga, "/ui/admin/faq", &[("csrf", &token), ("language", "de"), ("category", "Bad Cat"), ("title", " "), ("body", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#"id="category-error">Используйте строчные латинские буквы"#), "{body}");
    assert!(body.contains(r#"id="title-error">Заполните это поле."#) && body.contains(r#"id="body-error">Заполните это поле."#), "{body}");
    assert!(body.contains(r#"id="language-error">"#) && body.contains(r#"value="Bad Cat""#), "{body}");
    let article = [("csrf", token.as_str()), ("language", "ru"), ("category", "withdrawals"), ("title", "Как вывести деньги"), ("body", "Откройте кассу <script>x</script>."), ("published", "1")];
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/faq", &article[1..]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(app.desk.faq_all(&who).await.unwrap().is_empty());

    // A published article shows on /help.
    let (s, h, _) = form(&app, &mut olga, "/ui/admin/faq", &article).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/faq?saved=1"));
    let a = app.desk.faq_all(&who).await.unwrap().remove(0);
    let id = a.id.to_string();
    let mut public = Jar::default();
    let (_, _, body) = page(&app, &mut public, "/help?lang=ru").await;
    assert!(body.contains("Как вывести деньги"), "{body}");
    app.desk.faq_vote(a.id, true, None).await.unwrap();
    app.desk.faq_vote(a.id, false, None).await.unwrap();
    app.desk.record_deflection(ombuds_core::Language::Ru, None).await.unwrap();
    let (_, _, body) = page(&app, &mut olga, "/ui/admin/faq").await;
    assert!(body.contains(&format!(r#"data-id="{id}""#)) && body.contains("опубликована") && body.contains("<td>1</td><td>1</td>"), "{body}");
    assert!(body.contains("ru 1, kk 0, en 0"), "deflections: {body}");

    // Unpublished: gone from /help; published again: back. Changing it keeps the votes.
    let (s, _, _) = form(&app, &mut olga, &format!("/ui/admin/faq/{id}/publish"), &[("csrf", &token), ("published", "0")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut public, "/help?lang=ru").await;
    assert!(!body.contains("Как вывести деньги"), "{body}");
    let (_, _, body) = page(&app, &mut olga, "/ui/admin/faq").await;
    assert!(body.contains("черновик"), "{body}");
    form(&app, &mut olga, &format!("/ui/admin/faq/{id}/publish"), &[("csrf", &token), ("published", "1")]).await;
    let (s, _, body) = page(&app, &mut olga, &format!("/ui/admin/faq?edit={id}")).await;
    assert!(s == StatusCode::OK && body.contains("Изменить статью"), "{body}");
    assert!(body.contains("&lt;script&gt;x") || body.contains("&#60;script&#62;x"), "escaped: {body}");
    let changed = [("csrf", token.as_str()), ("id", id.as_str()), ("language", "ru"), ("category", "withdrawals"), ("title", "Вывод денег"), ("body", "Откройте кассу."), ("published", "1")];
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/faq", &changed).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, _, body) = page(&app, &mut public, "/help?lang=ru").await;
    assert!(body.contains("Вывод денег"), "{body}");
    let a = app.desk.faq_all(&who).await.unwrap().remove(0);
    assert_eq!((a.title.as_str(), a.helpful_yes, a.helpful_no), ("Вывод денег", 1, 1));
    let (s, _, _) = page(&app, &mut olga, "/ui/admin/faq?edit=0190aaaa-0000-7000-8000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

const RULES: &str = r#"[[rule]]
name = "withdrawals"
when.any_words = ["вывод*", "withdrawal*"]
then.department = "payments"
then.category = "withdrawal_delay"
then.priority = "high"
"#;

async fn routing_and_sla(db: &TestDb) {
    let app = app(db).await;
    app.agent("olga", "supervisor", &["payments"]).await;
    let mut olga = sign_in(&app, "olga", "ru").await;
    let mut root = admin(&app).await;
    let token = csrf(&root);
    let who = admin_principal(&app).await;

    // Supervisors read and try, without a save button; their saves are refused.
    let (s, _, body) = page(&app, &mut olga, "/ui/admin/routing").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("readonly") && !body.contains(r#"value="save""#) && body.contains("Версия 0"), "{body}");
    let olga_csrf = csrf(&olga);
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/routing", &[("csrf", &olga_csrf), ("version", "0"), ("text", RULES), ("action", "save")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = form(&app, &mut olga, "/ui/admin/routing/try", &[("csrf", &olga_csrf), ("subject", " "), ("body", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="body-error">Укажите тему или текст."#), "{body}");
    let (s, _, body) = form(&app, &mut olga, "/ui/admin/routing/try", &[("csrf", &olga_csrf), ("subject", "Вывод"), ("body", "Не могу вывести деньги"), ("channel", "email")]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains(r#"id="try-department">никуда: в очередь разбора"#) && body.contains(r#"id="try-by">triage"#), "{body}");

    // The administrator: unreadable text names its line; a rule naming no department names
    // the rule; nothing is saved; CSRF refused.
    let (s, _, body) = page(&app, &mut root, "/ui/admin/routing").await;
    assert!(s == StatusCode::OK && body.contains(r#"value="save""#) && !body.contains("readonly"), "{body}");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/routing", &[("csrf", &token), ("version", "0"), ("text", "[[rule]]\nname = \"x\"\nthen.department = \n"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="text-error"><li>Текст не читается:"#) && body.contains("line 3"), "{body}");
    let unknown = RULES.replace("\"payments\"", "\"casino\"");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/routing", &[("csrf", &token), ("version", "0"), ("text", &unknown), ("action", "save")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Не сохранено. Исправьте ошибки:"), "{body}");
    assert!(body.contains("<li>rule[1] &#39;withdrawals&#39; ") || body.contains("<li>rule[1] &#x27;withdrawals&#x27; "), "{body}");
    assert!(body.contains("casino"), "the text is kept: {body}");
    let (s, _, _) = form(&app, &mut root, "/ui/admin/routing", &[("version", "0"), ("text", RULES), ("action", "save")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.desk.routing_rules(&who).await.unwrap().version, 0);

    // Checked, saved, in force: the dry run now names the rule; a stale save is refused.
    let (s, _, body) = form(&app, &mut root, "/ui/admin/routing", &[("csrf", &token), ("version", "0"), ("text", RULES), ("action", "check")]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Ошибок нет: будет действовать правил — 1."), "{body}");
    assert_eq!(app.desk.routing_rules(&who).await.unwrap().version, 0, "a check saves nothing");
    let (s, h, _) = form(&app, &mut root, "/ui/admin/routing", &[("csrf", &token), ("version", "0"), ("text", RULES), ("action", "save")]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/routing?saved=1"));
    let view = app.desk.routing_rules(&who).await.unwrap();
    assert_eq!((view.version, view.rules, view.saved_by.as_deref()), (1, 1, Some("admin")));
    let (_, _, body) = page(&app, &mut olga, "/ui/admin/routing").await;
    assert!(body.contains("Версия 1") && body.contains("withdrawals"), "{body}");
    let (_, _, body) = form(&app, &mut olga, "/ui/admin/routing/try", &[("csrf", &olga_csrf), ("subject", "Вывод"), ("body", "Не могу вывести деньги")]).await;
    assert!(body.contains(r#"id="try-department">Платежи"#) && body.contains(r#"id="try-by">rule:withdrawals"#), "{body}");
    assert!(body.contains(r#"id="try-category">withdrawal_delay"#) && body.contains(r#"id="try-priority">Высокий"#), "{body}");
    let c = app.register_json(json!({"player": {"email": "p@mail.kz"}, "subject": "Вывод", "description": "Не могу вывести деньги"})).await;
    assert_eq!(c["department"], "payments", "saved rules route new complaints");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/routing", &[("csrf", &token), ("version", "0"), ("text", ""), ("action", "save")]).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains(r#"id="settings-error">Пока вы редактировали"#), "{body}");
    assert_eq!(app.desk.routing_rules(&who).await.unwrap().version, 1);

    // SLA settings the same way.
    let (s, _, body) = page(&app, &mut olga, "/ui/admin/sla").await;
    assert!(s == StatusCode::OK && body.contains("warn_at") && body.contains("readonly"), "{body}");
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/sla", &[("csrf", &olga_csrf), ("version", "0"), ("text", "warn_at = 0.5\n"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = form(&app, &mut root, "/ui/admin/sla", &[("csrf", &token), ("version", "0"), ("text", "warn_at = 2.0\n[[policy]]\ndepartment = \"casino\"\nresolution_hours = 8\n"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("<li>warn_at:") && body.contains("<li>policy[1].department:"), "{body}");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/sla", &[("csrf", &token), ("version", "0"), ("text", "warn_at = 0.5\nbogus = 1\n"), ("action", "check")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Текст не читается:") && body.contains("line 2"), "{body}");
    assert_eq!(app.desk.sla_view(&who).unwrap().version, 0);
    let sla = "warn_at = 0.5\n\n[[policy]]\ndepartment = \"payments\"\nresolution_hours = 8\n";
    let (s, _, body) = form(&app, &mut root, "/ui/admin/sla", &[("csrf", &token), ("version", "0"), ("text", sla), ("action", "check")]).await;
    assert!(s == StatusCode::OK && body.contains("Ошибок нет."), "{body}");
    let (s, h, _) = form(&app, &mut root, "/ui/admin/sla", &[("csrf", &token), ("version", "0"), ("text", sla), ("action", "save")]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/sla?saved=1"));
    let view = app.desk.sla_view(&who).unwrap();
    assert_eq!((view.version, view.spec.warn_at, view.spec.policies.len()), (1, 0.5, 1));
    let (s, _, _) = form(&app, &mut root, "/ui/admin/sla", &[("csrf", &token), ("version", "0"), ("text", sla), ("action", "save")]).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

async fn mail_templates(db: &TestDb) {
    let app = app(db).await;
    app.agent("olga", "supervisor", &["payments"]).await;
    let mut root = admin(&app).await;
    let token = csrf(&root);
    let who = admin_principal(&app).await;
    let name = "ru/acknowledgment.txt";
    let preview = |app: &TestApp| {
        let desk = app.desk.clone();
        async move { desk.mail_composer().await.unwrap().preview(name).unwrap().text }
    };
    assert!(!preview(&app).await.contains("Проверочный текст"));

    let (s, _, body) = page(&app, &mut root, "/ui/admin/templates").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(&format!(r#"data-name="{name}""#)) && body.contains("встроенный"), "{body}");
    let (s, _, body) = page(&app, &mut root, &format!("/ui/admin/templates?edit={name}")).await;
    assert!(s == StatusCode::OK && body.contains(r#"id="source""#) && body.contains("reference"), "{body}");
    let (s, _, _) = page(&app, &mut root, "/ui/admin/templates?edit=ru/nothing.txt").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Refused: a template that does not parse, one that drops the reference; nothing stored.
    let (s, _, body) = form(&app, &mut root, "/ui/admin/templates", &[("csrf", &token), ("name", name), ("source", "{{ reference "), ("action", "save")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="source-error">Шаблон не принят:"#) && body.contains(r#">{{ reference </textarea>"#), "{body}");
    let (s, _, body) = form(&app, &mut root, "/ui/admin/templates", &[("csrf", &token), ("name", name), ("source", "Здравствуйте!"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="source-error">Шаблон не принят:"#) && body.contains("reference"), "{body}");
    let (s, _, _) = form(&app, &mut root, "/ui/admin/templates", &[("name", name), ("source", "{{ reference }}"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    let mut olga = sign_in(&app, "olga", "ru").await;
    let olga_csrf = csrf(&olga);
    let (s, _, _) = form(&app, &mut olga, "/ui/admin/templates", &[("csrf", &olga_csrf), ("name", name), ("source", "{{ reference }}"), ("action", "save")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "supervisors may not");
    assert!(app.desk.mail_templates(&who).await.unwrap().iter().all(|t| t.replaced.is_none()));

    // Preview, then save: the desk's composer (the sender's) uses it; reset brings back the
    // built-in one.
    let source = "Проверочный текст: обращение {{ reference }} <зарегистрировано>.";
    let (s, _, body) = form(&app, &mut root, "/ui/admin/templates", &[("csrf", &token), ("name", name), ("source", source), ("action", "preview")]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains(r#"<pre id="preview-text">Проверочный текст: обращение "#), "{body}");
    assert!(body.contains("&lt;зарегистрировано&gt;") || body.contains("&#60;зарегистрировано&#62;"), "escaped: {body}");
    assert!(!preview(&app).await.contains("Проверочный текст"), "a preview saves nothing");
    let (s, h, _) = form(&app, &mut root, "/ui/admin/templates", &[("csrf", &token), ("name", name), ("source", source), ("action", "save")]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/templates?edit=ru/acknowledgment.txt&saved=1"));
    assert!(preview(&app).await.contains("Проверочный текст"), "the composer the sender uses has it");
    let (_, _, body) = page(&app, &mut root, "/ui/admin/templates").await;
    assert!(body.contains("изменил(а) admin"), "{body}");
    let (s, h, _) = form(&app, &mut root, "/ui/admin/templates/reset", &[("csrf", &token), ("name", name)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/ui/admin/templates?edit=ru/acknowledgment.txt&reset=1"));
    assert!(!preview(&app).await.contains("Проверочный текст"));
    let (s, _, _) = form(&app, &mut root, "/ui/admin/templates/reset", &[("csrf", &token), ("name", name)]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
