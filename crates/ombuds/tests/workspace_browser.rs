//! The agent workspace in real headless Chromium, against the real binary: an agent signs in,
//! finds a complaint whose text carries a script and an image with an `onerror` (they show as
//! text and never run), takes it, replies and resolves it.

mod common;

use common::browser::*;
use common::*;
use fantoccini::Locator;
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::time::Instant;

const PASSWORD: &str = "correct horse battery staple";
const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script> Деньги так и не пришли";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_works_a_complaint_in_the_browser() {
    if !browser_present("an_agent_works_a_complaint_in_the_browser") {
        return;
    }
    let _one = BROWSER.lock().await;
    let db = TestDb::sqlite();
    let database = url(&db);
    add_user(&database, &["dana", "--name", "Дана", "--role", "agent", "--department", "payments"], PASSWORD);
    let token = token(&database);
    let server = Server::start(&database).await;
    let http = reqwest::Client::new();
    let c: Value = http
        .post(format!("{}/api/v1/complaints", server.base))
        .bearer_auth(&token)
        .json(&json!({"channel": "email", "player": {"email": "player@mail.kz"}, "subject": "<b>Вывод</b>", "description": HOSTILE, "department": "payments"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = c["reference"].as_str().unwrap().to_string();

    let (_driver, b) = browser().await;
    b.goto(&format!("{}/ui/queue?lang=en", server.base)).await.unwrap();
    // Not signed in: the sign-in page, in English as asked.
    assert!(b.current_url().await.unwrap().path().ends_with("/ui/login"));
    b.find(Locator::Id("login")).await.unwrap().send_keys("dana").await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    b.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&b, "/ui/queue").await;
    b.find(Locator::Css("a[data-view=unassigned]")).await.unwrap().click().await.unwrap();
    b.find(Locator::LinkText(&reference)).await.unwrap().click().await.unwrap();
    wait_for_path(&b, &format!("/ui/complaints/{reference}")).await;

    // The hostile text is shown as text; nothing in it ran.
    let body = b.find(Locator::Css(".message.inbound .body")).await.unwrap().text().await.unwrap();
    assert!(body.contains("<script>document.title='pwned'</script>") && body.contains("onerror"), "{body}");
    assert_eq!(b.find_all(Locator::Css("main img, main script")).await.unwrap().len(), 0, "no element came from the player's text");
    assert!(!b.title().await.unwrap().contains("pwned"));
    assert_eq!(b.find(Locator::Css("h2.subject")).await.unwrap().text().await.unwrap(), "<b>Вывод</b>");

    // Take it, reply, resolve.
    b.find(Locator::XPath("//button[text()='Take it']")).await.unwrap().click().await.unwrap();
    wait_for_text(&b, "In progress").await;
    b.find(Locator::Id("text-reply")).await.unwrap().send_keys("Проверяем платёж, ответим сегодня.").await.unwrap();
    b.find(Locator::XPath("//textarea[@id='text-reply']/following-sibling::button")).await.unwrap().click().await.unwrap();
    wait_for_text(&b, "Проверяем платёж, ответим сегодня.").await;
    b.find(Locator::Id("measures")).await.unwrap().send_keys("Платёж отправлен повторно").await.unwrap();
    b.find(Locator::Id("result")).await.unwrap().send_keys("Деньги зачислены на карту").await.unwrap();
    b.find(Locator::XPath("//button[text()='Resolve']")).await.unwrap().click().await.unwrap();
    wait_for_text(&b, "Resolved").await;
    assert!(!b.title().await.unwrap().contains("pwned"));

    // The API agrees.
    let got: Value = http.get(format!("{}/api/v1/complaints/{reference}", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["status"], "resolved", "{got}");
    assert_eq!(got["resolution"]["result"], "Деньги зачислены на карту");
    assert!(got["messages"].as_array().unwrap().iter().any(|m| m["kind"] == "outbound"));
    b.close().await.unwrap();
}

async fn wait_for_path(b: &fantoccini::Client, path: &str) {
    let started = Instant::now();
    while b.current_url().await.unwrap().path() != path {
        assert!(started.elapsed() < BROWSER_PATIENCE, "never reached {path}: at {}", b.current_url().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn wait_for_text(b: &fantoccini::Client, text: &str) {
    let started = Instant::now();
    loop {
        let source = b.source().await.unwrap();
        if source.contains(text) {
            return;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "the page never showed {text:?}:\n{source}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The player's complaint form suggests FAQ answers while the player types (the desk's own
/// script, allowed by the page's CSP), then registers the complaint and shows its reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complaint_form_suggests_answers_while_typing() {
    if !browser_present("the_complaint_form_suggests_answers_while_typing") {
        return;
    }
    let _one = BROWSER.lock().await;
    let db = TestDb::sqlite();
    let database = url(&db);
    let o = run(&database, &["token", "create", "--name", "editor", "--scope", "admin"]);
    assert!(o.status.success(), "{}", text(&o));
    let admin = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string();
    let server = Server::start(&database).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/faq", server.base))
        .bearer_auth(&admin)
        .json(&json!({"language": "ru", "category": "payments", "title": "Сколько идёт вывод средств", "body": "До трёх рабочих дней."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let (_driver, b) = browser().await;
    b.goto(&format!("{}/portal?lang=ru", server.base)).await.unwrap();
    b.find(Locator::Id("description")).await.unwrap().send_keys("Где мой вывод? Жду третий день").await.unwrap();
    let started = Instant::now();
    loop {
        let shown = b.find(Locator::Id("suggestions")).await.unwrap().is_displayed().await.unwrap();
        let text = b.find(Locator::Id("suggestions")).await.unwrap().text().await.unwrap();
        if shown && text.contains("Сколько идёт вывод средств") {
            break;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "no suggestion appeared: {text:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.find(Locator::Id("name")).await.unwrap().send_keys("Айгерим").await.unwrap();
    b.find(Locator::Id("email")).await.unwrap().send_keys("aigerim@mail.kz").await.unwrap();
    b.find(Locator::Id("subject")).await.unwrap().send_keys("Вывод").await.unwrap();
    b.find(Locator::XPath("//button[text()='Отправить']")).await.unwrap().click().await.unwrap();
    wait_for_path(&b, "/portal/done").await;
    let reference = b.find(Locator::Css(".reference")).await.unwrap().text().await.unwrap();
    let got: Value = http.get(format!("{}/api/v1/complaints/{reference}", server.base)).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!((got["channel"].as_str(), got["subject"].as_str()), (Some("web"), Some("Вывод")), "{got}");
    b.close().await.unwrap();
}
