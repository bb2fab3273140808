//! Breached passwords (contract §20): is a new password's SHA-1 among those
//! of known breaches? Asked of the Pwned Passwords range API or of a local
//! file in its format.
//!
//! Either way only a hash is looked up, and a look-up that cannot be made
//! allows the password: this check adds to the password policy, it is not a
//! reason for nobody to be able to register while a service is down.

use std::cmp::Ordering;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::config::{BreachedPasswords, ConfigError, DefenceConfig};
use crate::domain::Password;

/// How long the range API has to answer; past it the password is allowed.
const TIMEOUT: Duration = Duration::from_secs(3);
/// A padded answer is 800 to 1,000 lines of 40 bytes or so; anything far
/// bigger is not the range API.
const MAX_ANSWER: usize = 1 << 20;
/// The characters of the hash sent to the range API (k-anonymity: about
/// 16^5 = 1M buckets, each shared by hundreds of breached hashes).
const PREFIX_LEN: usize = 5;

/// The check `AUTHGATE_BREACHED_PASSWORDS` chose, built once at start.
pub struct Breached(Source);

enum Source {
    Off,
    Hibp { http: reqwest::Client, url: String },
    File(Arc<BreachedFile>),
}

impl Breached {
    /// Opens the file of `file:PATH` now, so an unreadable one stops the
    /// start rather than every password change.
    pub fn from_config(config: &DefenceConfig) -> Result<Breached, ConfigError> {
        let source = match &config.breached_passwords {
            BreachedPasswords::Off => Source::Off,
            BreachedPasswords::Hibp => Source::Hibp { http: super::http_client(TIMEOUT), url: config.hibp_url.clone() },
            BreachedPasswords::File(path) => {
                Source::File(Arc::new(BreachedFile::open(path).map_err(|e| ConfigError {
                    var: "AUTHGATE_BREACHED_PASSWORDS".into(),
                    reason: format!("{} cannot be used: {e}", path.display()),
                })?))
            }
        };
        Ok(Breached(source))
    }

    /// Whether `password` appears in a breach. `false` when the check is
    /// off or could not be made (logged as a warning, with the cause only).
    pub async fn is_breached(&self, password: &Password) -> bool {
        let sha1 = sha1_of(password);
        match &self.0 {
            Source::Off => false,
            Source::Hibp { http, url } => ask_range_api(http, url, &sha1).await,
            Source::File(file) => {
                let file = file.clone();
                match tokio::task::spawn_blocking(move || file.contains(&sha1)).await {
                    Ok(Ok(found)) => found,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "breached passwords: the file cannot be read; password allowed");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "breached passwords: the file search failed; password allowed");
                        false
                    }
                }
            }
        }
    }
}

fn sha1_of(password: &Password) -> [u8; 20] {
    Sha1::digest(password.expose().as_bytes()).into()
}

// ---------------------------------------------------------------- range API

/// `GET {url}{PREFIX}` with `Add-Padding: true`: the first five hex digits
/// leave the process, the other 35 are compared here.
async fn ask_range_api(http: &reqwest::Client, url: &str, sha1: &[u8; 20]) -> bool {
    let hex = hex::encode_upper(sha1);
    let (prefix, suffix) = hex.split_at(PREFIX_LEN);
    match fetch_range(http, &format!("{url}{prefix}")).await {
        Ok(body) => listed(&body, suffix),
        Err(cause) => {
            tracing::warn!(error = %cause, "breached passwords: the range API gave no answer; password allowed");
            false
        }
    }
}

/// The answer's text, or why there is none. The errors carry no URL: the
/// URL ends with the hash's prefix, which stays out of the log.
async fn fetch_range(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let sent = http.get(url).header("Add-Padding", "true").send().await;
    let mut res = sent.map_err(cause)?;
    if res.status() != reqwest::StatusCode::OK {
        return Err(format!("status {}", res.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(cause)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("an answer over {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "an answer that is not UTF-8".into())
}

/// The error and its sources ("error sending request: ...: connection
/// refused"), without the URL.
fn cause(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Whether a range answer (`SUFFIX:COUNT` lines, CRLF) lists `suffix` with
/// a count above zero; the padding lines have count 0.
fn listed(body: &str, suffix: &str) -> bool {
    body.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .any(|(s, count)| s.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|n| n > 0))
}

// ---------------------------------------------------------------- the file

/// A Pwned Passwords file (`HASH:COUNT` lines, upper-case SHA-1 hex in
/// ascending order, LF or CRLF), searched in place: a binary search over
/// byte offsets with positioned reads, about 2 log2(size) reads of a few
/// dozen bytes each; the file is never loaded (the full one is 35 GB).
#[derive(Debug)]
pub struct BreachedFile {
    file: File,
    len: u64,
}

/// A line's key is its first field; 41 bytes tell a 40-digit hash from
/// anything longer.
const KEY_WINDOW: usize = 41;
/// Bytes read at a time while looking for the end of a line.
const SCAN_CHUNK: usize = 128;

impl BreachedFile {
    /// Opens `path` for the life of the process (a replaced file is read
    /// again at the next start). Fails unless the first line, if any, is
    /// a SHA-1 entry: an NTLM file or another format is a mistake better
    /// caught at start than by a check that never matches.
    pub fn open(path: &Path) -> io::Result<BreachedFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let breached = BreachedFile { file, len };
        if len > 0 {
            let key = breached.key_at(0)?;
            if key.len() != 40 || !key.iter().all(u8::is_ascii_hexdigit) {
                let why = "the first line is not a 40-digit SHA-1 hash (Pwned Passwords SHA-1 format expected)";
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
        }
        Ok(breached)
    }

    /// Whether `sha1` has a line. Invariant of the search: every line that
    /// starts before `lo` holds a smaller hash, every line that starts at
    /// `hi` or after a larger one.
    pub fn contains(&self, sha1: &[u8; 20]) -> io::Result<bool> {
        let target = hex::encode_upper(sha1).into_bytes();
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let start = self.line_start_from(mid)?;
            if start >= hi {
                // No line starts in [mid, hi).
                hi = mid;
                continue;
            }
            match self.key_at(start)?.as_slice().cmp(&target) {
                Ordering::Equal => return Ok(true),
                Ordering::Less => lo = start + 1,
                Ordering::Greater => hi = start,
            }
        }
        Ok(false)
    }

    /// The offset of the first line that starts at `pos` or after it; the
    /// file's length when none does.
    fn line_start_from(&self, pos: u64) -> io::Result<u64> {
        if pos == 0 {
            return Ok(0);
        }
        // A line starts at `pos` when the byte before it ends a line.
        let mut at = pos - 1;
        let mut buf = [0; SCAN_CHUNK];
        loop {
            let n = self.read_at(&mut buf, at)?;
            if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
                return Ok(at + i as u64 + 1);
            }
            if n < buf.len() {
                return Ok(self.len);
            }
            at += n as u64;
        }
    }

    /// The first field of the line at `start`, upper-cased (lower-case hex
    /// sorts alike, so a lower-case file works too).
    fn key_at(&self, start: u64) -> io::Result<Vec<u8>> {
        let mut buf = [0; KEY_WINDOW];
        let n = self.read_at(&mut buf, start)?;
        let end = buf[..n].iter().position(|b| matches!(b, b':' | b'\r' | b'\n')).unwrap_or(n);
        Ok(buf[..end].to_ascii_uppercase())
    }

    /// Fills `buf` from `offset` up to the end of the file; the bytes read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use super::*;

    fn sha1(s: &str) -> [u8; 20] {
        sha1_of(&Password::parse(s).unwrap())
    }

    /// The sorted hashes of `n` words, and a file of them with `newline`
    /// after each line (after the last too unless `trailing` is false).
    fn file_of(n: usize, newline: &str, trailing: bool) -> (Vec<[u8; 20]>, PathBuf) {
        let mut hashes: Vec<[u8; 20]> = (0..n).map(|i| sha1(&format!("word {i}"))).collect();
        hashes.sort_unstable();
        let lines: Vec<String> =
            hashes.iter().enumerate().map(|(i, h)| format!("{}:{}", hex::encode_upper(h), i + 1)).collect();
        let mut text = lines.join(newline);
        if trailing && n > 0 {
            text.push_str(newline);
        }
        (hashes, write_temp(text.as_bytes()))
    }

    fn write_temp(bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("authgate-breached-{}.txt", uuid::Uuid::new_v4().simple()));
        File::create(&path).and_then(|mut f| f.write_all(bytes)).unwrap();
        path
    }

    /// A hash next to `h` (its last byte changed by `delta`), not in the
    /// file unless by a 2^-152 chance.
    fn neighbour(h: &[u8; 20], delta: u8) -> [u8; 20] {
        let mut n = *h;
        n[19] = n[19].wrapping_add(delta);
        n
    }

    fn assert_finds_exactly(hashes: &[[u8; 20]], path: &Path) {
        let file = BreachedFile::open(path).unwrap();
        for h in hashes {
            assert!(file.contains(h).unwrap(), "{} not found", hex::encode_upper(h));
            for delta in [1, 255] {
                let n = neighbour(h, delta);
                if !hashes.contains(&n) {
                    assert!(!file.contains(&n).unwrap(), "{} found", hex::encode_upper(n));
                }
            }
        }
        assert!(!file.contains(&[0; 20]).unwrap() || hashes.contains(&[0; 20]));
        assert!(!file.contains(&[0xff; 20]).unwrap() || hashes.contains(&[0xff; 20]));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn every_entry_is_found_and_its_neighbours_are_not() {
        for (newline, trailing) in [("\n", true), ("\r\n", true), ("\n", false), ("\r\n", false)] {
            for n in [1, 2, 3, 10, 257] {
                let (hashes, path) = file_of(n, newline, trailing);
                assert_finds_exactly(&hashes, &path);
            }
        }
    }

    #[test]
    fn the_first_and_last_hashes_there_can_be_are_found() {
        let (mut hashes, path) = file_of(20, "\r\n", false);
        std::fs::remove_file(path).unwrap();
        hashes.insert(0, [0; 20]);
        hashes.push([0xff; 20]);
        let text: Vec<String> = hashes.iter().map(|h| format!("{}:7", hex::encode_upper(h))).collect();
        assert_finds_exactly(&hashes, &write_temp(text.join("\r\n").as_bytes()));
    }

    #[test]
    fn long_counts_and_lower_case_hex_are_read() {
        let (hashes, path) = file_of(50, "\n", true);
        std::fs::remove_file(path).unwrap();
        let text: String = hashes.iter().map(|h| format!("{}:{}\n", hex::encode(h), "9".repeat(200))).collect();
        assert_finds_exactly(&hashes, &write_temp(text.as_bytes()));
    }

    #[test]
    fn an_empty_file_holds_nothing() {
        let path = write_temp(b"");
        let file = BreachedFile::open(&path).unwrap();
        assert!(!file.contains(&sha1("anything")).unwrap());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_file_of_another_format_is_refused_at_open() {
        for text in ["8846F7EAEE8FB117AD06BDD830B7586C:5\n", "hello\n", "\n"] {
            let path = write_temp(text.as_bytes());
            let e = BreachedFile::open(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{text:?}");
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn the_range_answer_lists_a_suffix_only_with_a_count() {
        let hex = hex::encode_upper(sha1("correct horse battery staple"));
        let suffix = &hex[PREFIX_LEN..];
        let other = "0".repeat(35);
        let body = |s: &str, count: &str| format!("{other}:3\r\n{s}:{count}\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0");
        assert!(listed(&body(suffix, "12"), suffix));
        assert!(listed(&body(&suffix.to_ascii_lowercase(), "1"), suffix));
        assert!(listed(&format!("{suffix}:2\n"), suffix));
        assert!(!listed(&body(suffix, "0"), suffix), "a padding line");
        assert!(!listed(&body(&other, "5"), suffix));
        assert!(!listed("", suffix));
    }
}
