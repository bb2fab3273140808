//! The HTTP/1.1 server: accepts connections (at most `max_connections` open
//! at once), reads each request head on the bare socket, serves requests
//! with hyper, and takes idle connections back from hyper.
//!
//! hyper keeps an 8 KiB write buffer and an 8 to 16 KiB read buffer for as
//! long as a connection lives: about 20 KiB per idle keep-alive connection
//! (221 MB measured for 10,000). So a connection is in one of three phases:
//!
//! - idle: the bare socket, until the client writes (closed after
//!   `idle_timeout`);
//! - head: the bare socket and the bytes of a request head so far, until a
//!   blank line ends the head (closed `header_timeout` after its first byte;
//!   the bytes are scanned once, not parsed again on every read);
//! - hyper: a fresh hyper connection whose input starts with that head. It
//!   answers every request the client sends without pausing; a request's
//!   body must arrive within `body_timeout` (or the answer is 408). Once it
//!   has been idle for `PARK_AFTER` it is asked to stop (`graceful_shutdown`,
//!   which closes an idle hyper connection at once, without any I/O) and,
//!   only once hyper says it is done, taken apart (`into_parts`, as hyper's
//!   documentation requires): the socket and the bytes hyper read past its
//!   last request (the start of the next one) go back to the idle or head
//!   phase. A hyper connection that does not say it is done at once was not
//!   idle after all: it finishes its request and the connection closes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::Config;
use head::read_head;
use serving::serve_requests;

mod body;
mod head;
mod serving;

pub(crate) use body::BodyTimeout;

/// The connection limits and timeouts of contract §14.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections beyond which new ones are closed at once.
    pub max_connections: usize,
    /// A request's head must arrive within this of its first byte.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A request's body must arrive within this of the end of its head.
    pub body_timeout: Duration,
}

impl Default for Limits {
    /// The defaults of `AUTHGATE_MAX_CONNECTIONS` and the `_TIMEOUT`s.
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
        }
    }
}

impl From<&Config> for Limits {
    fn from(c: &Config) -> Limits {
        Limits {
            max_connections: c.max_connections,
            header_timeout: c.header_timeout,
            idle_timeout: c.idle_timeout,
            body_timeout: c.body_timeout,
        }
    }
}

/// How long an idle connection keeps its hyper state before it is parked:
/// long enough that a client sending request after request never pays for
/// setting it up again.
pub(super) const PARK_AFTER: Duration = Duration::from_millis(200);

/// The pause after a failed accept (out of descriptors, typically): the
/// accept loop only, never the connections.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// What every connection of one listener shares.
pub(super) struct Shared {
    router: axum::Router,
    limits: Limits,
    open: AtomicUsize,
    parked: Arc<Parked>,
}

/// Serves `router` on `listener` until `shutdown` completes; then closes
/// the idle connections, lets the requests in flight finish, and returns
/// once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Limits { max_connections: within_descriptor_limit(limits.max_connections), ..limits };
    let shared = Arc::new(Shared { router, limits, open: AtomicUsize::new(0), parked: Arc::default() });
    let (stop, stopping) = watch::channel(false);
    let trimmer = tokio::spawn(give_back_freed_memory(Arc::clone(&shared.parked)));
    let (mut failed, mut refused) = (LogPace::default(), LogPace::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: the listener itself is fine.
                    if let Some(suppressed) = failed.allow(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "accept failed");
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        if shared.open.load(Ordering::Acquire) >= shared.limits.max_connections {
            // Accepted and closed at once, so the backlog never fills.
            drop(stream);
            if let Some(suppressed) = refused.allow(Instant::now()) {
                tracing::warn!(
                    limit = shared.limits.max_connections,
                    suppressed,
                    "connection limit reached: new connection closed"
                );
            }
            continue;
        }
        let open = Open::count(&shared);
        tokio::spawn(connection(stream, peer, open, stopping.clone()));
    }
    trimmer.abort();
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    stop.closed().await; // each connection holds a receiver until it closes
    Ok(())
}

/// `max_connections`, or fewer if the process may not open that many
/// descriptors (some kept for the database, files and the listener): at
/// the cap new connections are closed at once, where beyond the descriptor
/// limit they would wait in the backlog until one frees.
fn within_descriptor_limit(max_connections: usize) -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the one struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 && limit.rlim_cur != libc::RLIM_INFINITY {
            let descriptors = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
            let room = descriptors - (descriptors / 2).min(64);
            // Once a process: the metrics listener would say it again.
            static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if room < max_connections && !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_connections,
                    descriptors,
                    serving_at_most = room,
                    "AUTHGATE_MAX_CONNECTIONS is above what the descriptor limit (ulimit -n) allows"
                );
            }
            return room.max(1).min(max_connections);
        }
    }
    max_connections
}

/// At most one log line a second; the next line counts those left out.
#[derive(Default)]
struct LogPace {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogPace {
    /// `Some(lines left out since the last one)` when a line may be written.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now < last + Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// One open connection, counted until it drops.
struct Open(Arc<Shared>);

impl Open {
    fn count(shared: &Arc<Shared>) -> Open {
        shared.open.fetch_add(1, Ordering::AcqRel);
        Open(Arc::clone(shared))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a connection stands between two hyper phases.
pub(super) enum Waiting {
    /// No byte of a request since `since`.
    Idle { since: Instant },
    /// Part of a request head, whose first byte came at `started`.
    Head { bytes: Vec<u8>, started: Instant },
}

/// One client connection, from accept to close.
async fn connection(mut stream: TcpStream, peer: SocketAddr, open: Open, mut stop: watch::Receiver<bool>) {
    let shared = &open.0;
    let mut waiting = Waiting::Idle { since: Instant::now() };
    loop {
        let Some((head, started)) = read_head(&stream, waiting, &shared.limits, &mut stop).await else { return };
        let served = Box::pin(serve_requests(stream, head.into(), started, peer, shared, &mut stop)).await;
        let Some(back) = served else { return };
        shared.parked.one_more();
        stream = back.stream;
        waiting = if back.rest.is_empty() {
            Waiting::Idle { since: back.idle_since }
        } else {
            Waiting::Head { bytes: back.rest.into(), started: back.head_started }
        };
    }
}

/// Connections parked since memory was last handed back.
#[derive(Default)]
struct Parked {
    count: AtomicUsize,
    wake: Notify,
}

/// Parks that free enough (~20 KiB each) to be worth handing back.
const TRIM_AFTER_PARKS: usize = 256;

impl Parked {
    fn one_more(&self) {
        if self.count.fetch_add(1, Ordering::Relaxed) + 1 == TRIM_AFTER_PARKS {
            self.wake.notify_one();
        }
    }
}

/// glibc's allocator keeps freed memory inside the process (between live
/// blocks it cannot shrink the heap). Start-up frees most of what it
/// allocated (migrations, the routers' construction): about 5 MB, handed
/// back once as serving begins. After that, what parked connections
/// freed is handed back once many have parked, at most once a second.
async fn give_back_freed_memory(parked: Arc<Parked>) {
    loop {
        trim_allocator().await;
        parked.wake.notified().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        parked.count.store(0, Ordering::Relaxed);
    }
}

async fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_a_second_at_most_counting_those_left_out() {
        // Arrange
        let mut pace = LogPace::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);

        // Act
        let lines: Vec<Option<u64>> = [0, 20, 40, 999, 1000, 1020, 3000].map(|ms| pace.allow(at(ms))).to_vec();

        // Assert
        assert_eq!(lines, [Some(0), None, None, None, Some(3), None, Some(1)]);
    }

    #[test]
    fn the_default_limits_are_those_of_the_default_config() {
        assert_eq!(Limits::default(), Limits::from(&Config::default()));
    }
}
