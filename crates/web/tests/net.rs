//! The HTTP server under slow and greedy clients (issue 16, item 6): a thousand connections that
//! never finish their headers neither starve the server nor stay open, one address cannot take
//! every slot, an idle kept-alive connection is closed, and a body that stops mid-way is cut.

use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;
use ombuds_web::NetConfig;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn server(db: &TestDb, net: NetConfig) -> (SocketAddr, Desk) {
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();
    let app = ombuds_web::router(desk.clone(), &ombuds_web::WebConfig { net: net.clone(), ..Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { ombuds_web::net::serve(listener, app, &net, std::future::pending()).await });
    (addr, desk)
}

/// A connection from another loopback address (Linux routes all of 127.0.0.0/8 to lo).
async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Reads until the server closes the connection (or `wait` passes): whether it closed.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn health(addr: SocketAddr) -> bool {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    matches!(client.get(format!("http://{addr}/healthz")).send().await, Ok(r) if r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_connections_do_not_starve_the_server() {
    let db = TestDb::sqlite();
    let net = NetConfig { header_timeout: Duration::from_secs(2), max_connections_per_address: 64, ..NetConfig::default() };
    let (addr, desk) = server(&db, net).await;

    // A thousand connections from one address, each sending half a request line and stopping.
    let mut slow = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut s = connect_from("127.0.0.2", addr).await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(s);
    }
    // The health check answers all the while, from another address.
    for _ in 0..5 {
        assert!(health(addr).await, "/healthz did not answer while slow connections were held");
    }
    // Past the address's cap, connections were closed at once; the others after the header
    // timeout. None is left open.
    let mut closed = 0;
    for s in slow.iter_mut() {
        if closed_within(s, Duration::from_secs(6)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 1000, "slow connections left open");
    assert!(health(addr).await);
    desk.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_stalled_connections_are_closed() {
    let db = TestDb::sqlite();
    let net = NetConfig { header_timeout: Duration::from_secs(1), body_timeout: Duration::from_secs(1), ..NetConfig::default() };
    let (addr, desk) = server(&db, net).await;

    // A connection that says nothing.
    let mut mute = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut mute, Duration::from_secs(5)).await, "a silent connection stayed open");

    // A kept-alive connection: one request answered, then idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle kept-alive connection stayed open");

    // A body that stops half-way: the request is cut, the connection closed.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"login\":")
        .await
        .unwrap();
    assert!(closed_within(&mut stalled, Duration::from_secs(5)).await, "a stalled body kept its connection");
    assert!(health(addr).await);
    desk.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_slot() {
    let db = TestDb::sqlite();
    let net = NetConfig { max_connections_per_address: 8, ..NetConfig::default() };
    let (addr, desk) = server(&db, net).await;
    let mut held = vec![];
    for _ in 0..8 {
        held.push(connect_from("127.0.0.3", addr).await.unwrap());
    }
    // The ninth is closed before anything is read.
    let mut ninth = connect_from("127.0.0.3", addr).await.unwrap();
    let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(closed_within(&mut ninth, Duration::from_secs(3)).await);
    // Another address is served.
    assert!(health(addr).await);
    // A slot freed is usable again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from("127.0.0.3", addr).await.unwrap();
    again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    again.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    desk.close().await;
    db.cleanup().await;
}
