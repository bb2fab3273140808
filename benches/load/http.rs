//! A minimal keep-alive HTTP/1.1 client over one TCP connection: it writes a
//! request, reads the status line and headers, then exactly `Content-Length`
//! bytes of body. No pooling, no TLS, no chunked bodies (authgate always
//! sends a length): just enough to cost the server far more than it costs us.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    body: std::ops::Range<usize>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, stream: None, buf: Vec::with_capacity(4096), body: 0..0 }
    }

    /// Opens the TCP connection now (otherwise the first request does).
    pub async fn connect(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        Ok(())
    }

    /// Sends one request and returns the response status; the body is then
    /// [`Conn::body`]. Any I/O or framing error drops the connection, and
    /// the next request reconnects.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        self.connect().await?;
        let Some(stream) = self.stream.as_mut() else { return Err(io::ErrorKind::NotConnected.into()) };
        let result = exchange(stream, request, &mut self.buf).await;
        match result {
            Ok((status, body, close)) => {
                self.body = body;
                if close {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }
}

async fn exchange(
    stream: &TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<(u16, std::ops::Range<usize>, bool)> {
    write_all(stream, request).await?;
    buf.clear();
    let mut scanned = 0;
    let head_end = loop {
        if let Some(i) = find_blank_line(&buf[scanned..]) {
            break scanned + i + 4;
        }
        scanned = buf.len().saturating_sub(3);
        read_more(stream, buf).await?;
    };
    let head = &buf[..head_end];
    let status = parse_status(head).ok_or_else(|| bad("no status line"))?;
    let (length, close) = parse_headers(head)?;
    let total = head_end + length;
    while buf.len() < total {
        read_more(stream, buf).await?;
    }
    Ok((status, head_end..total, close))
}

// Readiness plus `try_*` calls need only tokio's `net` feature, so the
// driver builds against the very crate graph the server does.
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let len = buf.len();
    buf.resize(len + 4096, 0);
    loop {
        match stream.try_read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(n) => {
                buf.truncate(len + n);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let code = head.get(9..12)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// (Content-Length, whether the server closes the connection).
fn parse_headers(head: &[u8]) -> io::Result<(usize, bool)> {
    let mut length = None;
    let mut close = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            length = Some(v.ok_or_else(|| bad("bad content-length"))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(bad("chunked bodies are not supported"));
        } else if name.eq_ignore_ascii_case(b"connection") && value.eq_ignore_ascii_case(b"close") {
            close = true;
        }
    }
    Ok((length.unwrap_or(0), close))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A GET request with an optional Bearer token.
pub fn get(path: &str, bearer: Option<&str>) -> Vec<u8> {
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n").into_bytes()
}

/// A POST request with a JSON body.
pub fn post_json(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The string value of `"key":"…"` in a JSON body (tokens need no escapes).
pub fn json_str<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":\"");
    let start = body.windows(needle.len()).position(|w| w == needle.as_bytes())? + needle.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}
