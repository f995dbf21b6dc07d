//! The FAQ over real HTTP, on SQLite and on PostgreSQL: supervisors write articles in three
//! languages, anyone searches them (inflected words find their articles), the public pages
//! list, search and show them with "was this helpful?", and bad input is refused.

mod common;
use common::TestApp;
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

ombuds_store::both_backends! {
    articles_search_and_help_pages => faq,
    the_complaint_form_registers_and_counts_deflections => portal,
}

async fn portal(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(format!("{}/portal?lang=ru", app.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csrf = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ombuds_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ombuds_csrf=")
        .to_string();
    let body = res.text().await.unwrap();
    assert!(body.contains("Напишите нам") && body.contains(r#"src="/ui/assets/portal.js""#) && body.contains(r#"data-lang="ru""#), "{body}");
    let cookie = format!("ombuds_csrf={csrf}; ombuds_lang=ru");
    let post = async |path: &str, fields: &str, cookie: &str| {
        let res = client
            .post(format!("{}{path}", app.base))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(fields.to_string())
            .send()
            .await
            .unwrap();
        let (s, l) = (res.status(), res.headers().get("location").map(|v| v.to_str().unwrap().to_string()));
        (s, l, res.text().await.unwrap())
    };
    let good = format!("csrf={csrf}&name=%D0%90%D0%B9%D0%B3%D0%B5%D1%80%D0%B8%D0%BC&email=aigerim%40mail.kz&subject=%D0%92%D1%8B%D0%B2%D0%BE%D0%B4&description=%D0%94%D0%B5%D0%BD%D1%8C%D0%B3%D0%B8+%D0%BD%D0%B5+%D0%BF%D1%80%D0%B8%D1%88%D0%BB%D0%B8");
    let (s, _, _) = post("/portal", &good, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF cookie");
    let (s, _, body) = post("/portal", &format!("csrf={csrf}&name=&email=not-an-address&subject=x&description="), &cookie).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="email-error">Введите правильный e-mail."#) && body.contains(r#"id="name-error">Заполните это поле."#), "{body}");
    assert!(body.contains(r#"id="description-error""#) && !body.contains(r#"id="subject-error""#), "{body}");
    assert!(body.contains(r#"value="not-an-address""#), "what the player wrote stays in the form");
    let (s, location, _) = post("/portal", &good, &cookie).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let reference = location.trim_start_matches("/portal/done?ref=").to_string();
    let res = client.get(format!("{}{location}", app.base)).header("cookie", &cookie).send().await.unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains(&format!("зарегистрировано под номером {reference}")), "{body}");
    let (_, c) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&app.token), None).await;
    assert_eq!((c["channel"].as_str(), c["language"].as_str(), c["player"]["email"].as_str()), (Some("web"), Some("ru"), Some("aigerim@mail.kz")), "{c}");
    let (_, jobs) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}/jobs"), Some(&app.token), None).await;
    assert!(jobs.as_array().unwrap().iter().any(|j| j["kind"] == "acknowledge"), "the player is acknowledged: {jobs}");
    // "This answered my question": counted, nothing registered.
    let (s, location, _) = post("/portal/answered", &format!("csrf={csrf}&subject=x"), &cookie).await;
    assert_eq!((s, location.as_deref()), (StatusCode::SEE_OTHER, Some("/portal?deflected=1")));
    assert_eq!(post("/portal/answered", "csrf=forged", &cookie).await.0, StatusCode::FORBIDDEN);
    let admin = ombuds_core::Principal::Token { id: uuid::Uuid::nil(), name: "t".into(), scopes: [ombuds_core::Scope::Admin].into() };
    let counted = app.desk.deflections(&admin, 7).await.unwrap();
    assert_eq!(counted.iter().map(|(_, l, n)| (l.as_str(), *n)).collect::<Vec<_>>(), [("ru", 1)]);
    let res = client.get(format!("{}/portal/done?ref=garbage", app.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn faq(db: &TestDb) {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, supervisor) = app.agent("sup", "supervisor", &["payments"]).await;
    let (_, agent) = app.agent("dana", "agent", &["payments"]).await;
    let write = async |bearer: Option<&str>, body: Value| app.call(Method::POST, "/api/v1/faq", bearer, Some(body)).await;
    let article = |language: &str, category: &str, title: &str, body: &str| json!({"language": language, "category": category, "title": title, "body": body});
    let (s, ru) = write(Some(&supervisor), article("ru", "payments", "Сколько идёт вывод средств", "Вывод на карту занимает до трёх рабочих дней.\n<script>alert(1)</script>")).await;
    assert_eq!(s, StatusCode::CREATED, "{ru}");
    let (_, kk) = write(Some(&supervisor), article("kk", "payments", "Ақша шығару қанша уақыт алады", "Картаға шығару үш жұмыс күніне дейін.")).await;
    let (_, en) = write(Some(&app.admin), article("en", "verification", "How to pass verification", "Upload your documents in your account.")).await;
    let (_, draft) = write(Some(&supervisor), json!({"language": "ru", "category": "bonuses", "title": "Черновик про бонусы", "body": "Скоро.", "published": false})).await;

    // Bad writes.
    for (bearer, body, status, field) in [
        (Some(supervisor.as_str()), json!({"language": "ru", "category": "payments", "body": "x"}), StatusCode::UNPROCESSABLE_ENTITY, Some("title")),
        (Some(supervisor.as_str()), article("de", "payments", "T", "B"), StatusCode::UNPROCESSABLE_ENTITY, Some("language")),
        (Some(supervisor.as_str()), article("ru", "Not A Category!", "T", "B"), StatusCode::UNPROCESSABLE_ENTITY, Some("category")),
        (Some(supervisor.as_str()), json!({"language": "ru", "category": "payments", "title": "T", "body": "B", "colour": 1}), StatusCode::UNPROCESSABLE_ENTITY, None),
        (Some(agent.as_str()), article("ru", "payments", "T", "B"), StatusCode::FORBIDDEN, None),
        (None, article("ru", "payments", "T", "B"), StatusCode::UNAUTHORIZED, None),
    ] {
        let (s, b) = write(bearer, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        if let Some(f) = field {
            assert_eq!(b["errors"][0]["field"], f, "{b}");
        }
    }
    let (s, _) = app.call(Method::PUT, "/api/v1/faq/not-an-id", Some(&supervisor), Some(article("ru", "payments", "T", "B"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call(Method::PUT, &format!("/api/v1/faq/{}", uuid::Uuid::now_v7()), Some(&supervisor), Some(article("ru", "payments", "T", "B"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Search without signing in; inflected words find their articles; drafts stay hidden.
    let search = async |query: &str| app.call(Method::GET, query, None, None).await;
    let (s, found) = search("/api/v1/faq?lang=ru&q=%D0%B2%D1%8B%D0%B2%D0%BE%D0%B4%D0%B0").await; // "вывода"
    assert_eq!((s, found[0]["id"].clone()), (StatusCode::OK, ru["id"].clone()), "{found}");
    let (_, found) = search("/api/v1/faq?lang=kk&q=%D1%88%D1%8B%D2%93%D0%B0%D1%80%D2%93%D1%8B%D0%BC").await; // "шығарғым"
    assert_eq!(found[0]["id"], kk["id"], "{found}");
    let (_, found) = search("/api/v1/faq?lang=en&q=documents").await;
    assert_eq!(found[0]["id"], en["id"]);
    let (_, all_ru) = search("/api/v1/faq?lang=ru").await;
    assert!(all_ru.as_array().unwrap().iter().all(|a| a["id"] != draft["id"]), "drafts are not public");
    let (_, all) = app.call(Method::GET, "/api/v1/faq/all", Some(&supervisor), None).await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    for bad in ["/api/v1/faq?lang=de", "/api/v1/faq?limit=0", "/api/v1/faq?colour=red"] {
        let (s, _) = search(bad).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST, "{bad}: {s}");
    }

    // The public pages.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = async |path: &str, cookie: &str| {
        let res = client.get(format!("{}{path}", app.base)).header("cookie", cookie).send().await.unwrap();
        let (s, h) = (res.status(), res.headers().clone());
        (s, h, res.text().await.unwrap())
    };
    let (s, h, body) = get("/help?lang=kk", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Ақша шығару қанша уақыт алады") && body.contains("Көмек") && !body.contains("Сколько идёт"), "{body}");
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let csrf = h.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).find(|c| c.starts_with("ombuds_csrf=")).unwrap();
    let csrf = csrf.split(';').next().unwrap().trim_start_matches("ombuds_csrf=").to_string();
    let (_, _, body) = get("/help?lang=ru&q=%D0%B2%D1%8B%D0%B2%D0%BE%D0%B4%D0%BE%D0%BC", "").await; // "выводом"
    assert!(body.contains("Сколько идёт вывод средств"), "{body}");
    let (_, _, body) = get("/help?lang=ru&q=%D0%BF%D0%BE%D0%BA%D0%B5%D1%80", "").await; // "покер"
    assert!(body.contains("Ничего не нашлось"), "{body}");
    let id = ru["id"].as_str().unwrap();
    let (s, _, body) = get(&format!("/help/{id}?lang=ru"), "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("до трёх рабочих дней") && !body.contains("<script>alert(1)"), "escaped: {body}");
    let (s, _, _) = get(&format!("/help/{}", draft["id"].as_str().unwrap()), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a draft is not public");
    let (s, _, _) = get("/help/not-an-id", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // "Was this helpful?": with the CSRF token only.
    let vote = async |fields: &str, cookie: &str| {
        let res = client
            .post(format!("{}/help/{id}/helpful", app.base))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(fields.to_string())
            .send()
            .await
            .unwrap();
        (res.status(), res.headers().get("location").map(|v| v.to_str().unwrap().to_string()))
    };
    assert_eq!(vote(&format!("csrf={csrf}&helpful=yes"), "").await.0, StatusCode::FORBIDDEN);
    let cookie = format!("ombuds_csrf={csrf}");
    assert_eq!(vote(&format!("csrf={csrf}&helpful=maybe"), &cookie).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, location) = vote(&format!("csrf={csrf}&helpful=yes"), &cookie).await;
    assert_eq!((s, location.as_deref()), (StatusCode::SEE_OTHER, Some(format!("/help/{id}?thanks=1").as_str())));
    let (_, _, body) = get(&format!("/help/{id}?lang=ru&thanks=1"), &cookie).await;
    assert!(body.contains("Спасибо, что сообщили."), "{body}");
    let (s, _) = app.call(Method::POST, &format!("/api/v1/faq/{id}/feedback"), None, Some(json!({"helpful": false}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call(Method::POST, &format!("/api/v1/faq/{}/feedback", draft["id"].as_str().unwrap()), None, Some(json!({"helpful": true}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "drafts take no votes");
    let (s, _) = app.call(Method::POST, &format!("/api/v1/faq/{id}/feedback"), None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, all) = app.call(Method::GET, "/api/v1/faq/all", Some(&supervisor), None).await;
    let counted = all.as_array().unwrap().iter().find(|a| a["id"] == ru["id"]).unwrap();
    assert_eq!((counted["helpful_yes"].as_i64(), counted["helpful_no"].as_i64()), (Some(1), Some(1)));
    // Editing keeps the votes.
    let (s, edited) = app
        .call(Method::PUT, &format!("/api/v1/faq/{id}"), Some(&supervisor), Some(article("ru", "payments", "Сроки вывода средств", "До трёх рабочих дней.")))
        .await;
    assert_eq!((s, edited["helpful_yes"].as_i64(), edited["title"].as_str()), (StatusCode::OK, Some(1), Some("Сроки вывода средств")), "{edited}");
}
