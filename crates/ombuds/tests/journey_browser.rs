//! The whole journey in real headless Chromium against the real binary, with e-mail going out
//! through a relay on loopback: a player files a complaint on the portal (a rule routes it to
//! payments), an agent signs in, takes it from the queue, replies and resolves it; the player
//! asks for a code on the tracking page, reads it from the e-mail, sees the result and rates it;
//! the link in the resolution e-mail opens the complaint in a browser with nothing; the help
//! pages find an article in each language.

mod common;

use common::browser::*;
use common::*;
use fantoccini::Locator;
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::time::Instant;

const PASSWORD: &str = "correct horse battery staple";

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
        if b.source().await.unwrap().contains(text) {
            return;
        }
        assert!(started.elapsed() < BROWSER_PATIENCE, "the page never showed {text:?}:\n{}", b.source().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn fill(b: &fantoccini::Client, id: &str, text: &str) {
    b.find(Locator::Id(id)).await.unwrap().send_keys(text).await.unwrap();
}

async fn click(b: &fantoccini::Client, xpath: &str) {
    b.find(Locator::XPath(xpath)).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_from_the_portal_to_the_rating() {
    if !browser_present("a_complaint_from_the_portal_to_the_rating") {
        return;
    }
    let _one = BROWSER.lock().await;
    let db = TestDb::sqlite();
    let database = url(&db);

    // An agent of payments, a rule that sends withdrawals there, and articles in three languages.
    add_user(&database, &["dana", "--name", "Dana", "--role", "agent", "--department", "payments"], PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rule]]\nname = \"withdrawals\"\nwhen.any_words = [\"вывод*\", \"withdrawal*\"]\nthen.department = \"payments\"\n").unwrap();
    let o = run(&database, &["rules", "import", rules.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&database, &["token", "create", "--name", "editor", "--scope", "admin"]);
    assert!(o.status.success(), "{}", text(&o));
    let admin = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string();

    let (mail, relay_port, _relay) = MailCatcher::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("ombuds.toml");
    std::fs::write(
        &config,
        format!(
            "[email]\naddresses = [\"support@desk.example\"]\nsmtp_listen = \"127.0.0.1:{}\"\nhostname = \"desk.example\"\noperator_name = \"Desk\"\n\
             tracking_url = \"{base}/track/{{ref}}\"\n\
             [email.relay]\nhost = \"127.0.0.1\"\nport = {relay_port}\nsecurity = \"none\"\n",
            free_port()
        ),
    )
    .unwrap();
    let server = Server::start_on(&database, &["--config", config.to_str().unwrap()], port).await;
    let http = reqwest::Client::new();
    for (lang, title, body) in [
        ("ru", "Сколько идёт вывод средств", "До трёх рабочих дней."),
        ("kk", "Ақша шығару қанша уақыт алады", "Картаға шығару үш жұмыс күніне дейін."),
        ("en", "How long do withdrawals take", "Up to three working days."),
    ] {
        let r = http
            .post(format!("{base}/api/v1/faq"))
            .bearer_auth(&admin)
            .json(&json!({"language": lang, "category": "payments", "title": title, "body": body}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }

    let (_driver, b) = browser().await;

    // 1. The player files the complaint on the portal, in Russian.
    b.goto(&format!("{base}/portal?lang=ru")).await.unwrap();
    fill(&b, "name", "Айгерим").await;
    fill(&b, "email", "aigerim@mail.kz").await;
    fill(&b, "subject", "Не пришёл вывод").await;
    fill(&b, "description", "Вывод 30 000 тенге не пришёл на карту за три дня.").await;
    click(&b, "//button[text()='Отправить']").await;
    wait_for_path(&b, "/portal/done").await;
    let reference = b.find(Locator::Css(".reference")).await.unwrap().text().await.unwrap();
    // The acknowledgment reaches the player's mailbox.
    let ack = mail.wait_for("Обращение зарегистрировано").await;
    assert!(ack.contains(&reference), "{ack}");
    // The browser that filed it can follow it at once.
    b.find(Locator::Id("follow")).await.unwrap().click().await.unwrap();
    wait_for_path(&b, &format!("/track/{reference}")).await;
    wait_for_text(&b, "Вывод 30 000 тенге не пришёл на карту за три дня.").await;

    // 2. The agent signs in, takes it from the queue, replies and resolves it.
    b.goto(&format!("{base}/ui/login?lang=en")).await.unwrap();
    fill(&b, "login", "dana").await;
    fill(&b, "password", PASSWORD).await;
    b.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&b, "/ui/queue").await;
    b.find(Locator::Css("a[data-view=unassigned]")).await.unwrap().click().await.unwrap();
    b.find(Locator::LinkText(&reference)).await.unwrap().click().await.unwrap();
    wait_for_path(&b, &format!("/ui/complaints/{reference}")).await;
    click(&b, "//button[text()='Take it']").await;
    wait_for_text(&b, "In progress").await;
    fill(&b, "text-reply", "Проверяем платёж, ответим сегодня.").await;
    click(&b, "//textarea[@id='text-reply']/following-sibling::button").await;
    wait_for_text(&b, "Проверяем платёж, ответим сегодня.").await;
    fill(&b, "measures", "Платёж отправлен повторно").await;
    fill(&b, "result", "Деньги зачислены на карту").await;
    click(&b, "//button[text()='Resolve']").await;
    wait_for_text(&b, "Resolved").await;
    click(&b, "//form[@class='signout']//button").await;
    wait_for_path(&b, "/ui/login").await;

    // 3. The player, in a browser with nothing, asks for a code and reads it from the e-mail.
    b.delete_all_cookies().await.unwrap();
    b.goto(&format!("{base}/track?lang=ru")).await.unwrap();
    fill(&b, "ref", &reference).await;
    fill(&b, "email", "aigerim@mail.kz").await;
    click(&b, "//button[text()='Прислать код']").await;
    wait_for_text(&b, "Введите код здесь").await;
    let access = mail.wait_for("Код для просмотра обращения").await;
    let code: String = access.split("Ваш код: ").nth(1).expect("the code is in the e-mail").chars().take_while(|c| c.is_ascii_digit()).collect();
    assert_eq!(code.len(), 6, "{access}");
    fill(&b, "code", &code).await;
    click(&b, "//button[text()='Открыть обращение']").await;
    wait_for_path(&b, &format!("/track/{reference}")).await;
    wait_for_text(&b, "Деньги зачислены на карту").await;
    wait_for_text(&b, "Проверяем платёж, ответим сегодня.").await;
    assert!(!b.source().await.unwrap().contains("Проверяем платёж, ответим сегодня.</textarea>"));

    // 4. The player rates the resolution.
    b.find(Locator::Css("input[name=score][value='5']")).await.unwrap().click().await.unwrap();
    fill(&b, "comment", "Быстро и вежливо").await;
    click(&b, "//button[text()='Отправить оценку']").await;
    wait_for_text(&b, "Спасибо за оценку.").await;
    wait_for_text(&b, "5/5").await;
    let got: Value = http.get(format!("{base}/api/v1/complaints/{reference}")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!((got["status"].as_str(), got["rating"]["score"].as_u64()), (Some("resolved"), Some(5)), "{got}");
    assert_eq!(got["department"], "payments");

    // 5. The link in the resolution e-mail opens the complaint in a browser with nothing.
    let resolved = mail.wait_for("Мы завершили рассмотрение").await;
    let link = resolved
        .split(&format!("{base}/track/"))
        .nth(1)
        .map(|rest| format!("{base}/track/{}", rest.split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap()))
        .expect("a tracking link");
    assert!(link.contains("?key="), "{link}");
    b.delete_all_cookies().await.unwrap();
    b.goto(&link.replace("&amp;", "&")).await.unwrap();
    wait_for_path(&b, &format!("/track/{reference}")).await;
    wait_for_text(&b, "Деньги зачислены на карту").await;
    assert!(!b.current_url().await.unwrap().as_str().contains("key="), "the key leaves the address bar");

    // 6. The help pages find an article in each language.
    for (lang, query, title) in [("ru", "вывода", "Сколько идёт вывод средств"), ("kk", "шығарғым", "Ақша шығару қанша уақыт алады"), ("en", "withdrawal", "How long do withdrawals take")] {
        b.goto(&format!("{base}/help?lang={lang}")).await.unwrap();
        fill(&b, "q", query).await;
        b.find(Locator::Css("form.search button")).await.unwrap().click().await.unwrap();
        let started = Instant::now();
        while !b.current_url().await.unwrap().as_str().contains(&format!("q={}", url_query(query))) {
            assert!(started.elapsed() < BROWSER_PATIENCE, "the search never ran");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(b.find_all(Locator::Css("ul.articles li")).await.unwrap().len(), 1, "{lang}: only the one article");
        b.find(Locator::LinkText(title)).await.unwrap().click().await.unwrap();
        wait_for_text(&b, title).await;
        assert_eq!(b.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap().as_deref(), Some(lang));
    }
    b.close().await.unwrap();
    drop(server);
}

/// How a browser writes a query in the URL of a GET form.
fn url_query(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
