//! `serve` on a real listener: answers, and shuts down even with an event stream open.

use std::time::Duration;

use horae_server::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::scheduler;

async fn request(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn read_some(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(&seen)));
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn serve_answers_and_stops_with_an_event_stream_open() {
    let scheduler = scheduler().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(horae_server::serve(
        listener,
        AppState::new(scheduler.clone()),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut health = request(addr, "/healthz").await;
    let reply = read_some(&mut health, "\"ok\"").await;
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");

    let mut events = request(addr, "/api/v1/events").await;
    let head = read_some(&mut events, "\r\n\r\n").await;
    assert!(head.contains("text/event-stream"), "{head}");

    stop.send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns although an event stream was open");
    finished.unwrap().unwrap();
    scheduler.stop().await;
}
