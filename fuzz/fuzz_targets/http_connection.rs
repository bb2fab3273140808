//! Arbitrary bytes through the real HTTP/1.1 connection loop (src/server:
//! the head scan, hyper, the hand-back between requests), the app behind
//! it on in-memory SQLite.
//!
//! The server starts once per process on 127.0.0.1:0. Each input is
//! written to a fresh connection, whose write side is then closed; the
//! answers are read until the server closes. Every answer is well formed
//! and not a 5xx, the server closes within its timeouts, and it still
//! answers `GET /healthz` on a new connection.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use authgate::Config;
use authgate::config::{MetricsBind, Secret};
use libfuzzer_sys::fuzz_target;

/// Far past the server's own timeouts (1 s here): a connection still open
/// after this is a hang.
const HANG: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    let addr = rt.block_on(async {
        let config = Config {
            database_url: "sqlite::memory:".into(),
            secret_key: Some(Secret("authgate-integration-tests-secret-0123456789".into())),
            throttle_enabled: false,
            expose_otp: true,
            login_failures_before_delay: 0,
            metrics_bind: MetricsBind::Main,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        let limits = authgate::Limits::from(&config);
        let app = authgate::App::build(config).await.expect("the app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(authgate::serve_with(listener, app.router(), limits, std::future::pending()));
        addr
    });
    Server { addr, _rt: rt }
});

/// Sends `bytes`, closes the write side, and reads until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream.set_read_timeout(Some(HANG)).expect("a timeout");
    let mut answer = Vec::new();
    let started = Instant::now();
    std::thread::scope(|s| {
        let mut writer = stream.try_clone().expect("a second handle");
        s.spawn(move || {
            // The server may close first (a bad request): that is fine.
            let _ = writer.write_all(bytes);
            let _ = writer.shutdown(Shutdown::Write);
        });
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                // libFuzzer's timer signal interrupts the blocking read.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    panic!("the connection was neither answered nor closed within {:?}", started.elapsed())
                }
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
    });
    answer
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_status_line(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.1 ") || bytes.starts_with(b"HTTP/1.0 ")
}

/// The status codes of the answers in `bytes`, read one after the other
/// (HTTP/1.1, or 1.0 to a 1.0 request; content-length and chunked bodies,
/// or none after a HEAD). An answer cut
/// short (the server reset a connection it had unread bytes on) ends the
/// list; anything else that is not an HTTP/1.1 answer fails.
fn statuses(mut bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(
            is_status_line(bytes) || (bytes.len() < 9 && b"HTTP/1.1 ".starts_with(bytes)),
            "not an HTTP/1.x answer: {:?}",
            String::from_utf8_lossy(bytes)
        );
        let Some(end) = find(bytes, b"\r\n\r\n") else { break };
        let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).expect("a status code");
        out.push(status);
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        bytes = &bytes[end + 4..];
        if is_status_line(bytes) || status < 200 || status == 204 || status == 304 {
            continue; // no body (an answer to HEAD, or one that has none)
        }
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let Some(line_end) = find(bytes, b"\r\n") else { return out };
                let size_text = std::str::from_utf8(&bytes[..line_end]).expect("a chunk size");
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).expect("hex");
                let Some(rest) = bytes.get(line_end + 2 + size + 2..) else { return out };
                bytes = rest;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(len) = header("content-length") {
            let len: usize = len.parse().expect("a length");
            bytes = &bytes[len.min(bytes.len())..];
        } else {
            break; // the body runs to the close
        }
    }
    out
}

fuzz_target!(init: { LazyLock::force(&SERVER); }, |data: &[u8]| {
    let server = &*SERVER;
    let answer = exchange(server.addr, data);
    for status in statuses(&answer) {
        assert!(status < 500, "answered {status}: {:?}", String::from_utf8_lossy(&answer));
    }
    let health = exchange(server.addr, b"GET /healthz HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with(b"HTTP/1.1 200 "), "healthz after the input: {:?}", String::from_utf8_lossy(&health));
});
