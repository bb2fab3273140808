//! The HTTP/1.1 connection, byte by byte: the server takes an idle
//! keep-alive connection back from hyper (it "parks" it) and hands it over
//! again when the client writes. Requests after a pause, a request split by
//! a pause, pipelined requests, and parked connections at shutdown.

use std::time::Duration;

use rand::Rng as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::helpers::*;

/// Longer than the server waits before it parks an idle connection.
const PAUSE: Duration = Duration::from_millis(600);

pub(super) const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// A login with an empty object: a 400 naming both fields.
pub(super) const EMPTY_LOGIN: &[u8] =
    b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

/// A POST to no route: answered 404 without its body being read.
pub(super) const NO_ROUTE: &[u8] =
    b"POST /api/v1/no-such-route/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

/// One response read off `stream` (what follows it stays in `buf`): its
/// status code and its body.
pub(super) async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String) {
    match try_read_response(stream, buf).await {
        Ok(response) => response,
        Err(e) => panic!("{e}; read so far: {:?}", String::from_utf8_lossy(buf)),
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

/// Found by fuzzing (fuzz/fuzz_targets/http_connection.rs): requests
/// followed by the end of the client's input (a half-close, as `nc -N` or
/// a shell pipe sends) were dropped unanswered.
#[tokio::test]
async fn requests_sent_before_the_client_closes_its_side_are_answered_then_the_connection_closes() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();

    // Act: two requests, then the client's side closed.
    stream.write_all(&[HEALTHZ, EMPTY_LOGIN].concat()).await.unwrap();
    stream.shutdown().await.unwrap();

    // Assert: both answered, in order, then the server closes.
    for expected in [200, 400] {
        assert_eq!(read_response(&mut stream, &mut buf).await.0, expected);
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "after the answers: {read:?}, {:?}", String::from_utf8_lossy(&rest));
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

/// Requests on each of several reused keep-alive connections, with pauses
/// on both sides of the server's parking delay, some split in two (a body
/// after its answer, for the POST to no route): not one may fail.
#[tokio::test]
async fn reused_keep_alive_connections_are_never_reset_between_requests() {
    // Arrange
    const CONNECTIONS: usize = 8;
    const REQUESTS: usize = 250;
    let app = spawn_app().await;

    // Act
    let clients = (0..CONNECTIONS).map(|client| {
        let addr = app.addr;
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
            let mut buf = Vec::new();
            for n in 0..REQUESTS {
                let (request, split, pause) = {
                    let mut rng = rand::rng();
                    let request = [HEALTHZ, HEALTHZ, EMPTY_LOGIN, NO_ROUTE][rng.random_range(0..4)];
                    (request, rng.random_bool(0.1).then(|| rng.random_range(1..request.len())), random_pause(&mut rng))
                };
                let sent = async {
                    match split {
                        Some(at) => {
                            stream.write_all(&request[..at]).await?;
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            stream.write_all(&request[at..]).await
                        }
                        None => stream.write_all(request).await,
                    }
                };
                sent.await.map_err(|e| format!("client {client}, request {n}: write: {e}"))?;
                let (status, body) = try_read_response(&mut stream, &mut buf)
                    .await
                    .map_err(|e| format!("client {client}, request {n} (after {pause:?}): {e}"))?;
                let expected = match request {
                    HEALTHZ => 200,
                    NO_ROUTE => 404,
                    _ => 400,
                };
                if status != expected {
                    return Err(format!("client {client}, request {n}: {status} {body}"));
                }
                tokio::time::sleep(pause).await;
            }
            Ok::<_, String>(())
        })
    });
    let outcomes = futures::future::join_all(clients).await;

    // Assert
    let failures: Vec<String> = outcomes.into_iter().filter_map(|o| o.unwrap().err()).collect();
    assert!(failures.is_empty(), "{} of {CONNECTIONS} connections failed: {failures:#?}", failures.len());
}

/// 0 to 500 ms, most often either none or close to the parking delay.
fn random_pause(rng: &mut impl rand::Rng) -> Duration {
    let ms = match rng.random_range(0..100) {
        0..40 => 0,
        40..60 => rng.random_range(1..20),
        60..85 => rng.random_range(150..260),
        _ => rng.random_range(260..=500),
    };
    Duration::from_millis(ms)
}

/// `read_response`, with a closed or reset connection as an error.
async fn try_read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, String), String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .ok_or("no Content-Length")?;
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                buf.drain(..end + 4 + length);
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status line")?;
                return Ok((status, body));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| "no answer within 5 s".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed by the server".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
