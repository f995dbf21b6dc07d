//! Merging duplicates over real HTTP, on SQLite and on PostgreSQL: the API's answers and
//! refusals (nothing changes after a refusal), the workspace form with its error next to the
//! field, the merged thread, an e-mail reply to the duplicate landing on the target, and the
//! player's tracking link to the duplicate leading on to the target.

mod common;
use common::{Jar, TestApp, form, page, sign_in};
use ombuds_core::*;
use ombuds_desk::{DeskConfig, Inbound, Received};
use ombuds_store::testing::TestDb;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

ombuds_store::both_backends! {
    merge_over_the_api => merge_over_the_api,
    merge_in_the_workspace => merge_in_the_workspace,
    replies_and_tracking_follow_the_merge => replies_and_tracking_follow_the_merge,
}

async fn app(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { http: client, ..app }
}

async fn file(app: &TestApp, email: &str, department: &str, subject: &str, text: &str) -> String {
    let b = app
        .register_json(json!({
            "channel": "email", "player": {"email": email, "name": "Aigerim"}, "subject": subject,
            "description": text, "department": department, "language": "ru"
        }))
        .await;
    b["reference"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, reference: &str) -> Value {
    let (s, b) = app.call(Method::GET, &format!("/api/v1/complaints/{reference}"), Some(&app.token), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn merge(app: &TestApp, bearer: &str, source: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, &format!("/api/v1/complaints/{source}/merge"), Some(bearer), Some(body)).await
}

fn code(b: &Value) -> &str {
    b["errors"][0]["code"].as_str().or(b["code"].as_str()).unwrap_or_default()
}

async fn merge_over_the_api(db: &TestDb) {
    let app = app(db).await;
    let first = file(&app, "aigerim@mail.kz", "payments", "Вывод не пришёл", "Жду вывод 50 000 ₸ третий день.").await;
    let second = file(&app, "aigerim@mail.kz", "payments", "Где мои деньги?", "Пишу второй раз про тот же вывод.").await;
    let stranger = file(&app, "other@mail.kz", "payments", "Чужой вопрос", "Другой игрок.").await;
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{second}/messages"), Some(&app.token), Some(json!({"kind": "inbound", "body": "Скриншот приложу позже."}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let before = (get(&app, &first).await, get(&app, &second).await);
    let nowhere = ComplaintRef::from_bits(0x1234_5678).to_string();

    // Bad inputs: each a clear 4xx, and nothing changes.
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "required"),
        (json!({"target": "not a reference"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"),
        (json!({"target": second}), StatusCode::UNPROCESSABLE_ENTITY, "same_complaint"),
        (json!({"target": stranger}), StatusCode::UNPROCESSABLE_ENTITY, "different_player"),
        (json!({"target": nowhere}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_complaint"),
        (json!({"target": first, "note": ""}), StatusCode::UNPROCESSABLE_ENTITY, "required"),
        (json!({"target": first, "into": first}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ];
    for (body, status, want) in cases {
        let (s, b) = merge(&app, &app.token, &second, body.clone()).await;
        assert_eq!((s, code(&b)), (status, want), "{body}: {b}");
        assert_eq!(b["status"].as_u64(), Some(status.as_u16() as u64), "a problem body: {b}");
    }
    let (s, _) = merge(&app, &app.token, &nowhere, json!({"target": first})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An agent of another department sees neither: the target reads as unknown.
    let (_, bonus_agent) = app.agent("bek", "agent", &["bonuses"]).await;
    let (s, _) = merge(&app, &bonus_agent, &second, json!({"target": first})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the duplicate is out of reach");
    let (_, payments_agent) = app.agent("dana", "agent", &["payments"]).await;
    let hidden = file(&app, "aigerim@mail.kz", "security", "Взлом?", "Кто-то входил в аккаунт.").await;
    let (s, b) = merge(&app, &payments_agent, &second, json!({"target": hidden})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_complaint"), "no probing: {b}");
    assert_eq!((get(&app, &first).await, get(&app, &second).await), before, "refusals change nothing");

    // The merge: the duplicate closes and points at the target; the target's thread has both.
    let (s, b) = merge(&app, &payments_agent, &second, json!({"target": first, "note": "Отвечаем по первому обращению."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["duplicate"]["status"], "closed");
    assert_eq!(b["duplicate"]["merged_into"]["reference"], first.as_str());
    assert_eq!(b["target"]["reference"], first.as_str());
    assert_eq!(b["target"]["version"].as_i64(), before.0["version"].as_i64().map(|v| v + 1), "one change: the merged_from event");
    assert_eq!(b["target"]["status"], before.0["status"], "the target's work goes on as it was");
    let target = get(&app, &first).await;
    let bodies: Vec<&str> = target["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"Скриншот приложу позже.") && bodies.contains(&"Отвечаем по первому обращению."), "{bodies:?}");
    assert_eq!(target["duplicates"][0]["reference"], second.as_str());
    assert_eq!(target["duplicates"][0]["description"], "Пишу второй раз про тот же вывод.");
    assert_eq!(app.events_of(&first, "merged_from").await.len(), 1);
    assert_eq!(app.events_of(&second, "merged_into").await[0]["reference"], first.as_str());
    let (_, jobs) = app.call(Method::GET, &format!("/api/v1/complaints/{second}/jobs"), Some(&app.token), None).await;
    assert!(jobs.as_array().unwrap().iter().any(|j| j["kind"] == "deliver_message"), "the note goes to the player: {jobs}");
    // The duplicate leaves the open queues.
    let (_, list) = app.call(Method::GET, "/api/v1/complaints?status=routed,in_progress", Some(&app.token), None).await;
    assert!(!list.to_string().contains(&second), "{list}");

    // Once merged: not again, not reopened, and a closed target refuses.
    let (s, b) = merge(&app, &app.token, &second, json!({"target": first})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b["detail"].as_str().unwrap_or_default().contains("already merged"), "{b}");
    let (s, b) = app.call(Method::POST, &format!("/api/v1/complaints/{second}/reopen"), Some(&app.token), Some(json!({"reason": "ещё раз"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let third = file(&app, "aigerim@mail.kz", "payments", "Третье", "И ещё раз.").await;
    let (s, b) = merge(&app, &app.token, &first, json!({"target": second})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "target_not_open"), "{b}");
    // A chain: the target merged later carries its duplicates along.
    let (s, b) = merge(&app, &app.token, &first, json!({"target": third})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let end = get(&app, &third).await;
    let bodies: Vec<&str> = end["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"Скриншот приложу позже."), "the first duplicate's thread follows: {bodies:?}");
    let dups: Vec<&str> = end["duplicates"].as_array().unwrap().iter().map(|d| d["reference"].as_str().unwrap()).collect();
    assert_eq!(dups, [first.as_str(), second.as_str()]);
}

async fn merge_in_the_workspace(db: &TestDb) {
    let app = app(db).await;
    app.agent("dana", "agent", &["payments"]).await;
    let first = file(&app, "aigerim@mail.kz", "payments", "Вывод не пришёл", "Жду вывод третий день.").await;
    let second = file(&app, "aigerim@mail.kz", "payments", "Где мои деньги?", "Пишу второй раз.").await;
    let stranger = file(&app, "other@mail.kz", "payments", "Чужой вопрос", "Другой игрок.").await;
    let mut jar = sign_in(&app, "dana", "ru").await;
    let csrf = jar.get("ombuds_csrf").unwrap();
    let act = format!("/ui/complaints/{second}/act");

    // The form offers the player's other open complaint.
    let (s, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{second}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("id=\"merge\"") && body.contains(&format!("<option value=\"{first}\">")), "{body}");
    assert!(!body.contains(&format!("<option value=\"{stranger}\">")), "another player's complaint is not offered");

    // Refusals: the message next to the field, the value kept, nothing changed.
    for (target, status, text) in [
        ("", StatusCode::UNPROCESSABLE_ENTITY, "Укажите номер обращения"),
        ("чепуха", StatusCode::UNPROCESSABLE_ENTITY, "Это не номер обращения"),
        (second.as_str(), StatusCode::UNPROCESSABLE_ENTITY, "нельзя объединить с самим собой"),
        (stranger.as_str(), StatusCode::UNPROCESSABLE_ENTITY, "принадлежит другому игроку"),
    ] {
        let (s, _, body) = form(&app, &mut jar, &act, &[("csrf", &csrf), ("action", "merge"), ("target", target)]).await;
        assert_eq!(s, status, "{target}");
        let field = body.split("id=\"merge-target-error\"").nth(1).unwrap_or_else(|| panic!("{target}: no error by the field: {body}"));
        assert!(field.split("</p>").next().unwrap().contains(text), "{target}: {field}");
        assert!(body.contains(&format!("name=\"target\" value=\"{target}\"")), "{target}: the value is kept");
    }
    let (s, _, _) = form(&app, &mut jar, &act, &[("csrf", "forged"), ("action", "merge"), ("target", &first)]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "CSRF");
    assert_eq!(get(&app, &second).await["status"], "routed", "nothing merged");

    // The merge, telling the player in their language.
    let (s, h, _) = form(&app, &mut jar, &act, &[("csrf", &csrf), ("action", "merge"), ("target", &first), ("notify", "1")]).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/ui/complaints/{first}").as_str()));
    let (_, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{first}")).await;
    assert!(body.contains("id=\"duplicates\"") && body.contains("Пишу второй раз."), "the duplicate's text is in the thread");
    assert!(body.contains(&format!("class=\"from-duplicate\" href=\"/ui/complaints/{second}\"")), "marked with its origin");
    let (_, _, body) = page(&app, &mut jar, &format!("/ui/complaints/{second}")).await;
    assert!(body.contains("id=\"merged-into\"") && body.contains(&format!("href=\"/ui/complaints/{first}\"")), "the duplicate points on");
    assert!(!body.contains("id=\"merge\""), "a merged complaint offers no merge");
    assert!(body.contains(&format!("Мы объединили их и ответим вам по обращению {first}.")), "the note in Russian: {body}");
}

async fn replies_and_tracking_follow_the_merge(db: &TestDb) {
    let app = app(db).await;
    let first = file(&app, "aigerim@mail.kz", "payments", "Вывод не пришёл", "Жду вывод третий день.").await;
    let second = file(&app, "aigerim@mail.kz", "payments", "Где мои деньги?", "Пишу второй раз.").await;
    let (s, b) = merge(&app, &app.token, &second, json!({"target": first})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let store = app.desk.store();
    let dup = store.complaint_by_ref(&ComplaintRef::parse(&second).unwrap()).await.unwrap();
    let target = store.complaint_by_ref(&ComplaintRef::parse(&first).unwrap()).await.unwrap();

    // An e-mail answering the duplicate's thread joins the target.
    let inbound = Inbound {
        channel: Channel::Email,
        contact: PlayerContact { external_id: None, name: None, email: Some(EmailAddress::parse("aigerim@mail.kz").unwrap()), phone: None, language: None },
        kind: Kind::Complaint,
        subject: Subject::parse(&format!("Re: [{second}] Где мои деньги?")).unwrap(),
        text: Body::parse("Деньги так и не пришли.").unwrap(),
        language: Some(Language::Ru),
        thread: Some(dup.id),
        dedupe_key: Some("reply-1@mail.kz".into()),
        mail: None,
    };
    match app.desk.receive(inbound).await.unwrap() {
        Received::Replied(c) => assert_eq!(c.id, target.id, "the reply lands on the target"),
        other => panic!("expected a reply, got {other:?}"),
    }

    // The player's link to the duplicate leads on to the target, with a pass for it.
    let key = app.desk.track_link_key(dup.id).await.unwrap();
    let mut jar = Jar::default();
    let (s, _, _) = page(&app, &mut jar, &format!("/track/{second}?key={key}")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, h, _) = page(&app, &mut jar, &format!("/track/{second}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track/{first}").as_str()));
    let cookie = h.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).find(|c| c.starts_with("ombuds_track=")).unwrap().to_string();
    assert!(cookie.contains(&format!("Path=/track/{first}")), "{cookie}");
    let (s, _, body) = page(&app, &mut jar, &format!("/track/{first}?lang=ru")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("Деньги так и не пришли."), "the reply shows on the target's page");
    // Without a pass for the duplicate, nothing leads anywhere.
    let mut fresh = Jar::default();
    let (s, h, _) = page(&app, &mut fresh, &format!("/track/{second}")).await;
    assert_eq!((s, h[LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, format!("/track?ref={second}").as_str()));
}
