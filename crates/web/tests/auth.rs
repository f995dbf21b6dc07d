//! Sign-in lock-out over HTTP, on SQLite and on PostgreSQL: wrong passwords in a row lock the
//! login for a while (429 with Retry-After, even with the right password), other logins are
//! untouched, the lock lifts by itself, and a successful sign-in starts the count again.

mod common;
use common::TestApp;
use ombuds_desk::DeskConfig;
use ombuds_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

ombuds_store::both_backends! { repeated_failures_lock_a_login => lockout }

async fn lockout(db: &TestDb) {
    let config = DeskConfig { login_max_failures: 3, login_lockout: Duration::from_secs(2), ..Default::default() };
    let app = TestApp::spawn(db, config).await;
    app.agent("dana", "agent", &["payments"]).await;
    app.agent("aliya", "agent", &["payments"]).await;
    let sign_in = async |login: &str, password: &str| {
        let res = app
            .http
            .post(format!("{}/api/v1/auth/login", app.base))
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let (s, b) = common::read(res).await;
        (s, b, retry)
    };
    for _ in 0..2 {
        let (s, b, _) = sign_in("dana", "wrong password!").await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{b}");
    }
    // The third wrong password locks the login.
    let (s, b, retry) = sign_in("dana", "wrong password!").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")), "{b}");
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() >= 1), "Retry-After is set");
    // Even the right password is refused while locked; another login is untouched.
    let (s, _, _) = sign_in("dana", "correct horse battery").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let (s, _, _) = sign_in("aliya", "correct horse battery").await;
    assert_eq!(s, StatusCode::OK);
    // An unknown login is never "locked": the answer does not tell which logins exist.
    for _ in 0..4 {
        let (s, _, _) = sign_in("nobody", "whatever password").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The lock lifts by itself; success starts the count again.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (s, b, _) = sign_in("dana", "correct horse battery").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for _ in 0..2 {
        assert_eq!(sign_in("dana", "wrong password!").await.0, StatusCode::UNAUTHORIZED);
    }
    let (s, b, _) = sign_in("dana", "correct horse battery").await;
    assert_eq!(s, StatusCode::OK, "two failures after a success do not lock: {b}");
    let token = b["token"].as_str().unwrap().to_string();
    let (s, _) = app.call(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK);
}

ombuds_store::both_backends! { a_second_factor_guards_the_sign_in => second_factor }

fn code(secret_base32: &str, at: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    totp_rs::Builder::new().with_secret(secret).with_account_name("test").build().unwrap().generate(at).to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn second_factor(db: &TestDb) {
    // The codes below are of the steps around `t0`: start early in a 30 s step so the test
    // does not cross into the next one.
    if now_secs() % 30 > 22 {
        tokio::time::sleep(Duration::from_secs(30 - now_secs() % 30)).await;
    }
    let t0 = now_secs();
    let app = TestApp::spawn(db, DeskConfig::default()).await;
    let (_, session) = app.agent("dana", "agent", &["payments"]).await;
    let login = async |code: Option<String>| {
        let mut body = json!({"login": "dana", "password": "correct horse battery"});
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await
    };
    // Nothing to confirm yet; then set up, refuse a wrong code, confirm a right one.
    let (s, b) = app.call(Method::POST, "/api/v1/me/totp/confirm", Some(&session), Some(json!({"code": "123456"}))).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("nothing_to_confirm")), "{b}");
    let (s, e) = app.call(Method::POST, "/api/v1/me/totp", Some(&session), None).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(e["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/ombuds:dana?"), "{e}");
    // Until confirmed, sign-in needs no code.
    assert_eq!(login(None).await.0, StatusCode::OK);
    let (s, b) = app.call(Method::POST, "/api/v1/me/totp/confirm", Some(&session), Some(json!({"code": "000000"}))).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_code")), "{b}");
    let (s, _) = app.call(Method::POST, "/api/v1/me/totp/confirm", Some(&session), Some(json!({"code": code(&secret, t0 - 30)}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Now the code is required, checked, and good once.
    let (s, b) = login(None).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("code_required")), "{b}");
    assert_eq!(login(Some("999999".into())).await.0, StatusCode::UNAUTHORIZED);
    let current = code(&secret, t0);
    let (s, b) = login(Some(current.clone())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = login(Some(current.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a code is good once: {b}");
    // Turning it off needs a right code, never one already used (to sign in, here).
    let (s, _) = app.call(Method::DELETE, "/api/v1/me/totp", Some(&session), Some(json!({"code": "000000"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/totp", Some(&session), Some(json!({"code": current}))).await;
    assert_eq!((s, b["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_code")), "a used code is refused: {b}");
    assert_eq!(login(None).await.0, StatusCode::UNAUTHORIZED, "the second factor is still on");
    let (s, _) = app.call(Method::DELETE, "/api/v1/me/totp", Some(&session), Some(json!({"code": code(&secret, t0 + 30)}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(login(None).await.0, StatusCode::OK);
    let (s, _) = app.call(Method::POST, "/api/v1/me/totp", Some(&app.token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "tokens have no second factor");
}
