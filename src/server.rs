//! The HTTP/1.1 server: accepts connections and serves the router on them
//! with hyper, parking the idle ones.
//!
//! hyper keeps an 8 KiB write buffer and an 8 to 16 KiB read buffer for as
//! long as a connection lives: about 20 KiB per idle keep-alive connection
//! (221 MB measured for 10,000). Here a connection that has answered all it
//! was asked and has waited `PARK_AFTER` for its next request is taken back
//! from hyper, with any bytes hyper read ahead, and waits on the bare
//! socket; hyper gets it again when the client writes.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// How long an idle connection keeps its hyper state before it is parked:
/// long enough that a client sending request after request never pays for
/// setting it up again.
const PARK_AFTER: Duration = Duration::from_millis(200);

/// Serves `router` on `listener` until `shutdown` completes; then closes
/// the idle connections, lets the requests in flight finish, and returns
/// once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let parked = Arc::new(Parked::default());
    let trimmer = tokio::spawn(give_back_freed_memory(Arc::clone(&parked)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: the listener itself is fine.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(stream, peer, router.clone(), stopping.clone(), Arc::clone(&parked)));
    }
    trimmer.abort();
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    stop.closed().await; // each connection holds a receiver until it closes
    Ok(())
}

/// One client connection, from accept to close.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    parked: Arc<Parked>,
) {
    let mut read_ahead = Bytes::new();
    loop {
        // Parked: only the socket (and a partial request read ahead, if
        // any), until the client writes.
        tokio::select! {
            ready = stream.readable() => if ready.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let served = Box::pin(serve_until_idle(stream, read_ahead, peer, &router, &mut stop)).await;
        match served {
            Some((s, rest)) => (stream, read_ahead) = (s, rest),
            None => return,
        }
        parked.one_more();
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

/// What parked connections freed goes back to the allocator, and glibc's
/// allocator keeps freed memory inside the process (between live blocks it
/// cannot shrink the heap): once many connections have parked, the free
/// pages are handed back to the system, at most once a second.
async fn give_back_freed_memory(parked: Arc<Parked>) {
    loop {
        parked.wake.notified().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        parked.count.store(0, Ordering::Relaxed);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let _ = tokio::task::spawn_blocking(|| {
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            unsafe { libc::malloc_trim(0) };
        })
        .await;
    }
}

/// What the connection's hyper state is doing, as seen from its socket and
/// its answers: it is idle when every answer has been written out and it
/// waits to read.
#[derive(Default)]
struct Activity {
    answering: AtomicUsize,
    unflushed: AtomicBool,
    waiting_to_read: AtomicBool,
}

impl Activity {
    fn idle(&self) -> bool {
        self.answering.load(Ordering::Acquire) == 0
            && !self.unflushed.load(Ordering::Acquire)
            && self.waiting_to_read.load(Ordering::Acquire)
    }
}

/// Runs hyper on the connection until it closes (`None`) or has been idle
/// for `PARK_AFTER`: then the socket and the bytes read past the last
/// request come back.
async fn serve_until_idle(
    stream: TcpStream,
    read_ahead: Bytes,
    peer: SocketAddr,
    router: &axum::Router,
    stop: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, Bytes)> {
    let activity = Arc::new(Activity::default());
    let service = {
        let (router, activity) = (router.clone(), Arc::clone(&activity));
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let answering = Answering::start(&activity);
            let router = router.clone();
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            Box::pin(async move {
                let Ok(res) = router.oneshot(req).await;
                Ok::<_, Infallible>(res.map(|body| Body::new(Tracked { body, _answering: answering })))
            }) as Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>
        })
    };
    let io = TokioIo::new(Watched { stream, read_ahead, activity: Arc::clone(&activity) });
    let mut conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let park = tokio::time::sleep(PARK_AFTER);
    let stopped = stop.wait_for(|s| *s);
    tokio::pin!(park, stopped);
    let (mut timing, mut draining) = (false, false);
    let idle = std::future::poll_fn(|cx| {
        if !draining && stopped.as_mut().poll(cx).is_ready() {
            draining = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        if conn.poll_without_shutdown(cx).is_ready() {
            return Poll::Ready(false); // closed, by either side or by an error
        }
        if !activity.idle() {
            timing = false;
            return Poll::Pending;
        }
        if draining {
            // Idle with at most a partial request, which hyper's graceful
            // shutdown would wait for: close.
            return Poll::Ready(false);
        }
        if !timing {
            timing = true;
            park.as_mut().reset(Instant::now() + PARK_AFTER);
        }
        ready!(park.as_mut().poll(cx));
        Poll::Ready(true)
    })
    .await;
    if !idle {
        return None;
    }
    let parts = conn.into_parts();
    let watched = parts.io.into_inner();
    // hyper read these past its last request (a partial next one), before
    // anything still unread in `read_ahead`.
    // (Copied: `read_buf` is a view that would keep hyper's whole buffer.)
    let rest = if parts.read_buf.is_empty() {
        watched.read_ahead
    } else {
        [&parts.read_buf[..], &watched.read_ahead[..]].concat().into()
    };
    Some((watched.stream, rest))
}

/// Counts an answer from the request until hyper has taken its whole body.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        activity.answering.fetch_add(1, Ordering::AcqRel);
        Answering(Arc::clone(activity))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its `Answering` until hyper drops it.
struct Tracked {
    body: Body,
    _answering: Answering,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket as hyper sees it: first the bytes read ahead by the previous
/// hyper state, then the stream; reads and writes are noted in `activity`.
struct Watched {
    stream: TcpStream,
    read_ahead: Bytes,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.read_ahead.is_empty() {
            let n = self.read_ahead.len().min(buf.remaining());
            buf.put_slice(&self.read_ahead.split_to(n));
            self.activity.waiting_to_read.store(false, Ordering::Release);
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.activity.waiting_to_read.store(polled.is_pending(), Ordering::Release);
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.activity.unflushed.store(true, Ordering::Release);
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.unflushed.store(true, Ordering::Release);
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            self.activity.unflushed.store(false, Ordering::Release);
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
