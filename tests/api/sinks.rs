//! Real delivery peers for the tests: an SMTP server that accepts and keeps
//! every message, and an HTTP endpoint that keeps every SMS webhook call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A minimal SMTP server (RFC 5321 commands a client like lettre sends).
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let keep = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, keep.clone()));
            }
        });
        SmtpSink { addr, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Waits (up to 10 s) for the `n`-th message (from 1) to `to` whose
    /// decoded body contains `containing`, and returns that body as a mail
    /// reader would show it. Messages are sent concurrently, so they are
    /// told apart by content, not by arrival order.
    pub async fn wait_for(&self, to: &str, containing: &str, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .mails
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.contains(&format!("<{to}>")) || m.contains(to))
                .map(|m| decode_body(m))
                .filter(|body| body.contains(containing))
                .collect();
            if let Some(body) = found.get(n - 1) {
                return body.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "no mail #{n} reached {to}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl SmtpSink {
    /// How many messages to `to` whose decoded body contains `containing`
    /// have arrived so far.
    pub fn count(&self, to: &str, containing: &str) -> usize {
        let mails = self.mails.lock().unwrap();
        mails.iter().filter(|m| m.contains(to) && decode_body(m).contains(containing)).count()
    }
}

async fn session(stream: tokio::net::TcpStream, mails: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP ready\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                let mut mail = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    mail.push_str(l.strip_prefix('.').unwrap_or(&l));
                    mail.push('\n');
                }
                mails.lock().unwrap().push(mail);
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 command not implemented\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The body of a raw message, with quoted-printable undone.
fn decode_body(raw: &str) -> String {
    let (headers, body) = raw.split_once("\n\n").unwrap_or(("", raw));
    if !headers.to_ascii_lowercase().contains("content-transfer-encoding: quoted-printable") {
        return body.to_string();
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if let Some(b) = hex.filter(|_| bytes[i] == b'=').and_then(|h| u8::from_str_radix(h, 16).ok()) {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP endpoint that records each SMS webhook call; it can be told to
/// fail.
#[derive(Clone)]
pub struct SmsSink {
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Value>>>,
}

impl SmsSink {
    pub async fn start() -> SmsSink {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route(
                "/sms",
                axum::routing::post(|State(calls): State<Arc<Mutex<Vec<Value>>>>, Json(v): Json<Value>| async move {
                    calls.lock().unwrap().push(v);
                    "ok"
                }),
            )
            .with_state(calls.clone());
        SmsSink { addr: serve(app).await, calls }
    }

    pub fn url(&self) -> String {
        format!("http://{}/sms", self.addr)
    }

    /// How many texts to `to` that contain `containing` have arrived so far.
    pub fn count(&self, to: &str, containing: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| c["to"] == to && c["message"].as_str().unwrap_or("").contains(containing)).count()
    }

    /// Waits (up to 10 s) for the `n`-th text (from 1) to `to` that contains
    /// `containing`, and returns its six-digit code.
    pub async fn code_for(&self, to: &str, containing: &str, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let texts: Vec<String> = self
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c["to"] == to)
                .map(|c| c["message"].as_str().unwrap_or("").to_string())
                .filter(|text| text.contains(containing))
                .collect();
            if let Some(text) = texts.get(n - 1) {
                let code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6);
                return code.unwrap_or_else(|| panic!("no code in {text:?}")).to_string();
            }
            assert!(tokio::time::Instant::now() < deadline, "no SMS #{n} reached {to}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Serves `app` on a free port of 127.0.0.1 for the rest of the test: a
/// peer authgate calls (an SMS webhook, siteverify, the range API).
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
