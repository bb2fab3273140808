//! The connection limits of contract §14.3, on the wire: a request head cut
//! `header_timeout` after its first byte, a body `body_timeout` after its
//! head (408), an idle connection closed after `idle_timeout`, and new
//! connections closed at `max_connections` while the open ones are served.
//! Each test sets short limits; the clocks here are the server's real ones.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::connections::{EMPTY_LOGIN, HEALTHZ, NO_ROUTE, read_response};
use super::helpers::*;

const SHORT: Duration = Duration::from_millis(300);

/// Long enough that the server would have parked an idle connection.
const PAST_PARKING: Duration = Duration::from_millis(600);

/// Writes `head` to `stream` a byte every 50 ms until the server closes the
/// connection, and returns how long after the first byte it did.
async fn trickle_until_closed(stream: TcpStream, head: &'static [u8]) -> Duration {
    let (mut reader, mut writer) = stream.into_split();
    let first_byte = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in head.iter().cycle().take(200) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf)).await.expect("closed within 5 s");
    trickle.abort();
    assert!(matches!(read, Ok(0) | Err(_)), "the server answered a head never finished: {read:?}");
    first_byte.elapsed()
}

/// Reads until the server closes `stream`; returns what it sent and how
/// long that took.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("closed within 5 s");
        match read {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&all).into_owned(), start.elapsed()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn cut_between(elapsed: Duration, low: Duration, high: Duration) {
    assert!(elapsed >= low && elapsed <= high, "closed after {elapsed:?}, expected {low:?} to {high:?}");
}

#[tokio::test]
async fn a_head_trickled_past_the_header_timeout_is_cut_counting_from_its_first_byte() {
    // Arrange: a silent connection for longer than the header timeout
    // first, so a clock started at connect would already have run out.
    let app = spawn_app_with(|c| c.header_timeout = SHORT).await;
    let stream = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(PAST_PARKING).await;

    // Act
    let elapsed = trickle_until_closed(stream, HEALTHZ).await;

    // Assert
    cut_between(elapsed, SHORT - Duration::from_millis(20), SHORT * 4);
}

#[tokio::test]
async fn a_head_trickled_after_an_answer_and_a_pause_is_cut_at_the_header_timeout() {
    // Arrange: one request answered, then idle long enough to be parked.
    let app = spawn_app_with(|c| c.header_timeout = SHORT).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream, &mut Vec::new()).await.0, 200);
    tokio::time::sleep(PAST_PARKING).await;

    // Act
    let elapsed = trickle_until_closed(stream, EMPTY_LOGIN).await;

    // Assert
    cut_between(elapsed, SHORT - Duration::from_millis(20), SHORT * 4);
}

#[tokio::test]
async fn a_head_longer_than_64_kib_is_refused_with_431() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: {}\r\n\r\n", "a".repeat(70 * 1024));

    // Act
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;

    // Assert
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[tokio::test]
async fn a_keep_alive_connection_idle_past_the_idle_timeout_is_closed() {
    // Arrange: the idle clock restarts with each answer.
    let idle = Duration::from_millis(500);
    let app = spawn_app_with(|c| c.idle_timeout = idle).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..2 {
        stream.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut stream, &mut buf).await.0, 200);
        tokio::time::sleep(idle * 3 / 5).await;
    }

    // Act
    let (sent, elapsed) = read_until_closed(&mut stream).await;

    // Assert: closed about `idle` after the last answer, without a word.
    assert_eq!(sent, "");
    cut_between(elapsed + idle * 3 / 5, idle - Duration::from_millis(20), idle * 4);
}

#[tokio::test]
async fn a_connection_that_never_sends_is_closed_after_the_idle_timeout() {
    // Arrange
    let app = spawn_app_with(|c| c.idle_timeout = SHORT).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();

    // Act
    let (sent, elapsed) = read_until_closed(&mut stream).await;

    // Assert
    assert_eq!(sent, "");
    cut_between(elapsed, SHORT - Duration::from_millis(20), SHORT * 4);
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_is_answered_408_and_the_connection_closed() {
    // Arrange: a head announcing 60 bytes of body, and 16 of them.
    let app = spawn_app_with(|c| c.body_timeout = SHORT).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = "POST /api/v1/auth/login/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                   Content-Length: 60\r\n\r\n{\"email_or_phone\"";

    // Act
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, elapsed) = read_until_closed(&mut stream).await;

    // Assert
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an answer: {answer:?}"));
    assert!(head.starts_with("HTTP/1.1 408 "), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(head.contains("\r\ncontent-type: application/json"), "{head}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_envelope(&body, false);
    assert!(body["errors"]["non_field_errors"].is_array(), "{body}");
    cut_between(elapsed, SHORT - Duration::from_millis(20), SHORT * 4);
}

#[tokio::test]
async fn a_body_paused_within_the_body_timeout_is_read_and_the_connection_kept() {
    // Arrange
    let app = spawn_app_with(|c| c.body_timeout = Duration::from_secs(2)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();
    let (first, second) = EMPTY_LOGIN.split_at(EMPTY_LOGIN.len() - 1);

    // Act
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(PAST_PARKING).await;
    stream.write_all(second).await.unwrap();
    let (status, body) = read_response(&mut stream, &mut buf).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let next = read_response(&mut stream, &mut buf).await.0;

    // Assert
    assert_eq!(status, 400, "{body}");
    assert_eq!(next, 200);
}

/// The head of `NO_ROUTE`, whose body is `{}`.
const NO_ROUTE_HEAD: &[u8] = NO_ROUTE.split_at(NO_ROUTE.len() - 2).0;

#[tokio::test]
async fn an_answer_given_without_reading_a_late_body_keeps_the_connection() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();

    // Act: the body comes after the head, and after the handler answered.
    stream.write_all(NO_ROUTE_HEAD).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"{}").await.unwrap();
    let (status, body) = read_response(&mut stream, &mut buf).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let next = read_response(&mut stream, &mut buf).await.0;

    // Assert
    assert_eq!(status, 404, "{body}");
    assert_eq!(next, 200);
}

#[tokio::test]
async fn requests_written_as_head_then_body_and_answered_early_keep_their_connection() {
    // Arrange: as Python's http.client sends them (two writes), to a route
    // that answers 401 before reading the body.
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.set_nodelay(true).unwrap(); // as http.client does: no pause between the two writes
    let mut buf = Vec::new();
    let head =
        format!("POST {LOGOUT} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");

    // Act and assert: the same connection throughout.
    for n in 0..100 {
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{}").await.unwrap();
        let (status, body) = read_response(&mut stream, &mut buf).await;
        assert_eq!(status, 401, "request {n}: {body}");
    }
}

#[tokio::test]
async fn an_answer_given_without_reading_a_body_that_never_comes_closes_the_connection() {
    // Arrange
    let app = spawn_app_with(|c| c.body_timeout = SHORT).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();

    // Act
    stream.write_all(NO_ROUTE_HEAD).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;

    // Assert: the client is told not to send another request on it.
    let head = answer.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 404 "), "{answer}");
    assert!(head.contains("\r\nconnection: close"), "{head}");
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_are_closed_and_open_ones_served() {
    // Arrange: the limit reached by two connections, each answered once.
    let app = spawn_app_with(|c| c.max_connections = 2).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut stream, &mut Vec::new()).await.0, 200);
        open.push(stream);
    }

    // Act
    let mut third = TcpStream::connect(app.addr).await.expect("the kernel accepts it");
    let (refused, _) = read_until_closed(&mut third).await;
    open[0].write_all(HEALTHZ).await.unwrap();
    let still_served = read_response(&mut open[0], &mut Vec::new()).await.0;
    drop(open.pop());
    let after_one_closed = served_within(app.addr, Duration::from_secs(3)).await;

    // Assert
    assert_eq!(refused, "", "a connection over the limit was answered");
    assert_eq!(still_served, 200);
    assert!(after_one_closed, "a connection closed by its client still counted after 3 s");
}

/// Whether a new connection is answered within `limit` (retrying).
async fn served_within(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(mut stream) = TcpStream::connect(addr).await
            && stream.write_all(HEALTHZ).await.is_ok()
        {
            let mut answer = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut answer)).await;
            if let Ok(Ok(n)) = read
                && answer[..n].starts_with(b"HTTP/1.1 200")
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
