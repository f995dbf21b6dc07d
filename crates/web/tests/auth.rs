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
