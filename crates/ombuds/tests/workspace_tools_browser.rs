//! The workspace's script in real headless Chromium against the binary: a supervisor writes a
//! macro on the settings screen, moves through the queue with the keyboard, inserts the macro
//! (filled in, in the player's Kazakh) into a reply and sends it with Ctrl+Enter; a colleague
//! writing on the same complaint is announced on the page; the queues' counts appear.

mod common;

use common::browser::*;
use common::*;
use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < BROWSER_PATIENCE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A key pressed on the page (not in a field).
async fn press(b: &fantoccini::Client, key: char) {
    let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    b.perform_actions(keys).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macros_shortcuts_counts_and_the_collision_warning() {
    if !browser_present("macros_shortcuts_counts_and_the_collision_warning") {
        return;
    }
    let _one = BROWSER.lock().await;
    let db = TestDb::sqlite();
    let database = url(&db);
    for (login, role) in [("olga", "supervisor"), ("dana", "agent")] {
        add_user(&database, &[login, "--name", login, "--role", role, "--department", "payments"], PASSWORD);
    }
    let o = run(&database, &["token", "create", "--name", "backend", "--scope", "admin"]);
    assert!(o.status.success(), "{}", text(&o));
    let admin = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server::start_on(&database, &[], port).await;
    let http = reqwest::Client::new();
    let filed: Value = http
        .post(format!("{base}/api/v1/complaints"))
        .bearer_auth(&admin)
        .json(&json!({"player": {"email": "a@mail.kz", "name": "Айгерим", "language": "kk"}, "language": "kk", "subject": "Ақша түспеді", "description": "Картаға ақша түспеді", "department": "payments"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = filed["reference"].as_str().expect("registered").to_string();

    let (_driver, b) = browser().await;
    b.goto(&format!("{base}/ui/login?lang=ru")).await.unwrap();
    b.find(Locator::Id("login")).await.unwrap().send_keys("olga").await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    b.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_until("signed in", || async { b.current_url().await.unwrap().path() == "/ui/queue" }).await;

    // The live counts fill the queue badges.
    wait_until("the counts", || async {
        match b.find(Locator::Css("[data-count-for=unassigned]")).await {
            Ok(e) => e.text().await.unwrap() == "1",
            Err(_) => false,
        }
    })
    .await;

    // 1. A macro for payments, in Russian and Kazakh, on the settings screen.
    b.find(Locator::LinkText("Настройки")).await.unwrap().click().await.unwrap();
    wait_until("the settings", || async { b.current_url().await.unwrap().path() == "/ui/admin" }).await;
    b.find(Locator::LinkText("Шаблоны ответов")).await.unwrap().click().await.unwrap();
    wait_until("the macros screen", || async { b.current_url().await.unwrap().path() == "/ui/admin/macros" }).await;
    b.find(Locator::Id("title")).await.unwrap().send_keys("Уточнить карту").await.unwrap();
    b.find(Locator::Id("department")).await.unwrap().select_by_value("payments").await.unwrap();
    b.find(Locator::Id("text_ru")).await.unwrap().send_keys("{player}, пришлите последние 4 цифры карты ({reference}).").await.unwrap();
    b.find(Locator::Id("text_kk")).await.unwrap().send_keys("{player}, картаның соңғы 4 санын жіберіңіз ({reference}).").await.unwrap();
    b.find(Locator::Css("#macro-form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_until("saved", || async { b.source().await.unwrap().contains("Шаблон сохранён.") }).await;

    // 2. The keyboard: "2" opens the second queue (my departments), "j" chooses the first row,
    // "o" opens it, "r" goes to the reply.
    b.goto(&format!("{base}/ui/queue")).await.unwrap();
    press(&b, '2').await;
    wait_until("my departments", || async { b.current_url().await.unwrap().query() == Some("view=departments") }).await;
    press(&b, 'j').await;
    press(&b, 'o').await;
    wait_until("the complaint", || async { b.current_url().await.unwrap().path() == format!("/ui/complaints/{reference}") }).await;
    press(&b, 'r').await;
    assert_eq!(b.active_element().await.unwrap().attr("id").await.unwrap().as_deref(), Some("text-reply"));

    // 3. A colleague starts writing on the same complaint: the page says so.
    let login: Value = http.post(format!("{base}/api/v1/auth/login")).json(&json!({"login": "dana", "password": PASSWORD})).send().await.unwrap().json().await.unwrap();
    let session = login["token"].as_str().unwrap();
    let res = http
        .post(format!("{base}/ui/complaints/{reference}/presence"))
        .header("cookie", format!("ombuds_session={session}; ombuds_csrf=dana-csrf"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=dana-csrf&state=replying")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    wait_until("the collision warning", || async {
        let p = b.find(Locator::Id("presence")).await.unwrap();
        p.is_displayed().await.unwrap() && p.text().await.unwrap() == "dana пишет ответ"
    })
    .await;

    // 4. The macro goes into the reply, filled in and in the player's Kazakh; Ctrl+Enter sends it.
    let pick = b.find(Locator::Css("select.macro-pick[data-target=text-reply]")).await.unwrap();
    pick.select_by_label("Уточнить карту").await.unwrap();
    let reply = b.find(Locator::Id("text-reply")).await.unwrap();
    let expected = format!("Айгерим, картаның соңғы 4 санын жіберіңіз ({reference}).");
    assert_eq!(reply.prop("value").await.unwrap().as_deref(), Some(expected.as_str()));
    reply.send_keys("\u{E009}\u{E007}\u{E000}").await.unwrap();
    wait_until("the reply in the thread", || async { b.find_all(Locator::Css(".message.outbound .body")).await.unwrap().len() == 1 }).await;
    let sent = b.find(Locator::Css(".message.outbound .body")).await.unwrap().text().await.unwrap();
    assert_eq!(sent, expected);
    b.close().await.unwrap();
    drop(server);
}
