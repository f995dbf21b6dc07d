//! The command line: happy paths and every bad input answered with a message and an exit code.

mod common;
use common::*;
use ombuds_store::testing::TestDb;

ombuds_store::both_backends! { cli_commands => cli_commands }

async fn cli_commands(db: &TestDb) {
    let database = url(db);
    let o = run(&database, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&database, &["user", "add", "aigerim", "--name", "Айгерим", "--role", "supervisor", "--department", "payments", "--language", "kk"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("password: "), "a password is generated and shown once");
    let o = run(&database, &["user", "list"]);
    assert!(text(&o).contains("aigerim") && text(&o).contains("supervisor"), "{}", text(&o));
    let o = run(&database, &["user", "disable", "aigerim"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = token(&database);
    assert!(t.starts_with("omt_"));
    let o = run(&database, &["token", "list"]);
    assert!(text(&o).contains("complaints:write"));

    // Bad inputs: a clear message and a non-zero exit, nothing changed.
    for (args, says) in [
        (vec!["user", "add", "x", "--name", "X", "--role", "boss"], "--role"),
        (vec!["user", "add", "bob", "--name", "Bob", "--department", "casino"], "there is no department 'casino'"),
        (vec!["user", "add", "aigerim", "--name", "Twin"], "exists already"),
        (vec!["user", "add", "b ob", "--name", "Bob"], "login"),
        (vec!["user", "disable", "nobody"], "agent not found"),
        (vec!["token", "create", "--name", "x", "--scope", "everything"], "--scope"),
        (vec!["token", "revoke", "not-a-uuid"], "is not a token id"),
        (vec!["token", "revoke", "0190f1e2-0000-7000-8000-000000000000"], "not found"),
        (vec!["export", "--format", "csv"], "unknown export format"),
    ] {
        let o = run(&database, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?} should say '{says}': {}", text(&o));
    }
    let o = run(&database, &["user", "list"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1, "{}", text(&o));

    let o = run(&database, &["export", "--format", "jsonl"]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["type"] == "agent" && l["login"] == "aigerim"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("argon2"), "no password hashes in exports");

    if let Some(dir) = &db.dir {
        let dest = dir.path().join("copy.db");
        let o = run(&database, &["backup", dest.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let o = run(&database, &["backup", dest.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "never overwrites: {}", text(&o));
    } else {
        let o = run(&database, &["backup", "/tmp/never.db"]);
        assert!(text(&o).contains("pg_dump"), "{}", text(&o));
    }
    let o = run("mysql://nowhere", &["migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not a database location"), "{}", text(&o));
}

/// Someone edits an event in the database: `ombuds audit verify` names it and exits 1.
#[tokio::test]
async fn audit_finds_an_edited_event() {
    let db = TestDb::sqlite();
    let database = url(&db);
    let token = token(&database);
    let server = Server::start(&database).await;
    let http = reqwest::Client::new();
    for i in 0..3 {
        let r = http
            .post(format!("{}/api/v1/complaints", server.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"player": {"email": format!("p{i}@x.kz")}, "subject": "Бонус", "description": "Бонус не начислен", "department": "bonuses"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    drop(server);
    let o = run(&database, &["audit", "verify"]);
    assert!(o.status.success() && text(&o).contains("9 events verified"), "{}", text(&o));
    use sqlx::{Connection, Executor};
    let mut c = sqlx::SqliteConnection::connect(&database).await.unwrap();
    // The second complaint's routed event (registered, routed, sla_set per complaint).
    c.execute("UPDATE events SET data = replace(data, 'bonuses', 'payments') WHERE seq = 5").await.unwrap();
    c.close().await.unwrap();
    let o = run(&database, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("event #5 was altered"), "{}", text(&o));
    let mut c = sqlx::SqliteConnection::connect(&database).await.unwrap();
    c.execute("DELETE FROM events WHERE seq = 9").await.unwrap();
    c.execute("UPDATE events SET data = replace(data, 'payments', 'bonuses') WHERE seq = 5").await.unwrap();
    c.close().await.unwrap();
    let o = run(&database, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("events were removed"), "{}", text(&o));
}
