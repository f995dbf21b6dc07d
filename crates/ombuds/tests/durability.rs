//! A complaint whose registration was answered 2xx is never lost: clients register
//! concurrently, the server is killed with SIGKILL mid-load and restarted, and every
//! acknowledged complaint is there with its event and its acknowledgment job, and the event
//! chain verifies. On SQLite and on PostgreSQL.

mod common;
use common::*;
use ombuds_store::testing::TestDb;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

ombuds_store::both_backends! { acknowledged_complaints_survive_sigkill => survive_sigkill }

async fn survive_sigkill(db: &TestDb) {
    let database = url(db);
    let token = token(&database);
    let mut server = Server::start(&database).await;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut clients = vec![];
    for c in 0..16 {
        let (http, base, token, acked) = (http.clone(), server.base.clone(), token.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({
                    "player": {"external_id": format!("D-{c}-{i}"), "email": format!("d{c}.{i}@example.kz")},
                    "subject": format!("Выплата {i} не пришла"),
                    "description": "Жду третий день",
                });
                match http.post(format!("{base}/api/v1/complaints")).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return, // the answer was cut off: not acknowledged
                        };
                        acked.lock().unwrap().push(v["reference"].as_str().unwrap().to_string());
                    }
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load did not get going: {} acknowledged", acked.len());

    let server = Server::start(&database).await;
    for r in &acked {
        let get = |p: String| {
            let (http, token) = (http.clone(), token.clone());
            async move { http.get(p).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let c = get(format!("{}/api/v1/complaints/{r}", server.base)).await;
        assert_eq!(c["reference"].as_str(), Some(r.as_str()), "acknowledged complaint {r} was lost: {c}");
        let events = get(format!("{}/api/v1/complaints/{r}/events", server.base)).await;
        assert_eq!(events[0]["data"]["type"], "registered", "{r}");
        let jobs = get(format!("{}/api/v1/complaints/{r}/jobs", server.base)).await;
        assert_eq!(jobs[0]["kind"], "acknowledge", "{r}");
    }
    drop(server);
    let o = run(&database, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("event chain intact"), "{}", text(&o));
}
