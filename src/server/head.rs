//! The head phase: a request head read on the bare socket, scanned once.

use std::io;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Limits, Waiting};

/// The largest request head read (hyper answers 431 beyond it).
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// Reads on the bare socket until the bytes hold a whole request head (or
/// `MAX_HEAD` bytes, which hyper refuses), and returns them with the time
/// of their first byte. `None` when the client closes, when the server
/// stops, or at the deadline: `idle_timeout` after the connection went
/// idle, or `header_timeout` after a head's first byte.
pub(super) async fn read_head(
    stream: &TcpStream,
    waiting: Waiting,
    limits: &Limits,
    stop: &mut watch::Receiver<bool>,
) -> Option<(Vec<u8>, Instant)> {
    let (mut bytes, mut started, idle_until) = match waiting {
        Waiting::Idle { since } => (Vec::new(), None, since + limits.idle_timeout),
        Waiting::Head { bytes, started } => (bytes, Some(started), started),
    };
    let mut scanned = 0;
    loop {
        if let Some(started) = started
            && (head_is_whole(&bytes, scanned) || bytes.len() >= MAX_HEAD)
        {
            bytes.shrink_to_fit(); // hyper copies them, and keeps this until the phase ends
            return Some((bytes, started));
        }
        scanned = bytes.len();
        let deadline = started.map_or(idle_until, |t| t + limits.header_timeout);
        tokio::select! {
            ready = stream.readable() => ready.ok()?,
            () = tokio::time::sleep_until(deadline) => return None,
            _ = stop.wait_for(|s| *s) => return None,
        }
        if bytes.capacity() == bytes.len() {
            bytes.reserve(bytes.len().max(1024));
        }
        match stream.try_read_buf(&mut bytes) {
            Ok(0) => return None,
            Ok(_) => _ = started.get_or_insert_with(Instant::now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
    }
}

/// Whether `bytes` hold a whole request head: a blank line after the first
/// line that is not empty (lines end in LF or CRLF and empty lines before a
/// request are skipped, as httparse reads them). The bytes before `from`
/// were scanned already.
fn head_is_whole(bytes: &[u8], from: usize) -> bool {
    let first = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(bytes.len());
    let rest = &bytes[from.saturating_sub(2).max(first)..];
    rest.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (rest.get(i + 1) == Some(&b'\n') || rest.get(i + 1..i + 3) == Some(&b"\r\n"[..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_whole_at_its_first_blank_line() {
        assert!(head_is_whole(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0));
        assert!(head_is_whole(b"GET / HTTP/1.1\nHost: a\n\nbody", 0));
        assert!(head_is_whole(b"GET / HTTP/1.1\r\n\r\n", 0));
        assert!(!head_is_whole(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        assert!(!head_is_whole(b"GET / HTTP/1.1\r\nHost: a\r\n\r", 0));
    }

    #[test]
    fn empty_lines_before_a_request_do_not_end_its_head() {
        assert!(!head_is_whole(b"\r\n\r\n", 0));
        assert!(!head_is_whole(b"\r\n\r\nGET / HTTP/1.1\r\n", 0));
        assert!(head_is_whole(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0));
    }

    #[test]
    fn a_blank_line_split_across_reads_is_found() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for scanned in 0..head.len() {
            assert!(head_is_whole(head, scanned), "scanned {scanned}");
        }
    }
}
