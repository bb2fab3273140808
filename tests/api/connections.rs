//! The HTTP/1.1 connection, byte by byte: the server takes an idle
//! keep-alive connection back from hyper (it "parks" it) and hands it over
//! again when the client writes. Requests after a pause, a request split by
//! a pause, pipelined requests, and parked connections at shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::helpers::*;

/// Longer than the server waits before it parks an idle connection.
const PAUSE: Duration = Duration::from_millis(600);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// A login with an empty object: a 400 naming both fields.
const EMPTY_LOGIN: &[u8] =
    b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

/// One response read off `stream` (what follows it stays in `buf`): its
/// status code and its body.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .expect("a Content-Length");
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                buf.drain(..end + 4 + length);
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
                return (status, body);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("an answer within 5 s")
            .expect("the connection reads");
        assert!(n > 0, "the server closed the connection; read so far: {:?}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_keep_alive_connection_idle_past_parking_answers_each_next_request() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();

    // Act and assert: the same connection throughout.
    for request in [HEALTHZ, EMPTY_LOGIN, HEALTHZ] {
        stream.write_all(request).await.unwrap();
        let (status, body) = read_response(&mut stream, &mut buf).await;
        let expected = if request == HEALTHZ { 200 } else { 400 };
        assert_eq!(status, expected, "{body}");
        tokio::time::sleep(PAUSE).await;
    }
}

#[tokio::test]
async fn a_request_split_by_a_pause_is_read_whole() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream, &mut buf).await.0, 200);
    tokio::time::sleep(PAUSE).await;

    // Act: half a head, a pause (the connection parks holding it), the rest;
    // then a head, a pause in the body, and the rest of the body.
    let (first, second) = EMPTY_LOGIN.split_at(60);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(PAUSE).await;
    stream.write_all(second).await.unwrap();
    let split_head = read_response(&mut stream, &mut buf).await;
    let (first, second) = EMPTY_LOGIN.split_at(EMPTY_LOGIN.len() - 1);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(PAUSE).await;
    stream.write_all(second).await.unwrap();
    let split_body = read_response(&mut stream, &mut buf).await;

    // Assert
    for (status, body) in [split_head, split_body] {
        assert_eq!(status, 400, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["errors"]["email_or_phone"].is_array(), "{body}");
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();

    // Act
    stream.write_all(&[HEALTHZ, EMPTY_LOGIN, HEALTHZ].concat()).await.unwrap();

    // Assert
    for expected in [200, 400, 200] {
        assert_eq!(read_response(&mut stream, &mut buf).await.0, expected);
    }
    assert!(buf.is_empty(), "more than three answers: {:?}", String::from_utf8_lossy(&buf));
}

#[tokio::test]
async fn at_shutdown_a_parked_connection_is_closed_and_serve_returns() {
    // Arrange
    let s = spawn_stoppable_app(|_| {}).await;
    let mut stream = TcpStream::connect(s.app.addr).await.unwrap();
    let mut buf = Vec::new();
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream, &mut buf).await.0, 200);
    tokio::time::sleep(PAUSE).await;

    // Act
    s.stop.send(()).unwrap();

    // Assert
    let mut rest = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut rest)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the parked connection got {read:?}");
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.served).await.expect("serve returns");
    stopped.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn at_shutdown_a_connection_holding_half_a_request_is_closed_and_serve_returns() {
    // Arrange: half a head, sent before the shutdown and never finished.
    let s = spawn_stoppable_app(|_| {}).await;
    let mut stream = TcpStream::connect(s.app.addr).await.unwrap();
    stream.write_all(&EMPTY_LOGIN[..40]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Act
    s.stop.send(()).unwrap();

    // Assert
    let stopped = tokio::time::timeout(Duration::from_secs(10), s.served).await.expect("serve returns");
    stopped.unwrap().expect("a clean stop");
    let mut rest = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut rest)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the half-sent request got {read:?}");
}
