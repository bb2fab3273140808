//! The hyper phase: a fresh hyper connection per run of requests, taken
//! back once it is idle and hyper says it is done.
//!
//! Why taking it back is sound: `into_parts` is called only after
//! `poll_without_shutdown` has said the connection is done (the condition
//! hyper's documentation puts on it), and loses nothing: every byte hyper
//! read and did not use comes back in `Parts::read_buf`, and every byte it
//! wrote has left (hyper flushes in the same poll as it buffers, so bytes
//! still in its write buffer show as a write not yet flushed, and then we
//! do not take it back). hyper is asked to stop (`graceful_shutdown`) only
//! when it looks idle: no answer in progress, everything flushed, its last
//! read found nothing. Idle between two requests (keep-alive state idle),
//! it closes its state at once, without touching the socket, and is done at
//! the next poll; part of a next request head may sit in its read buffer,
//! and comes back. If it was busy after all it is not done at once: it then
//! finishes its request with `Connection: close` and the connection closes
//! cleanly, never under a client that was told to keep it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::body::{BodyShared, RequestBody, body_too_slow, read_out};
use super::head::MAX_HEAD;
use super::{Limits, PARK_AFTER, Shared};

/// The connection back from hyper: the socket, the bytes hyper read past
/// its last request, when the connection went idle, and when the first of
/// those bytes came.
pub(super) struct Handback {
    pub(super) stream: TcpStream,
    pub(super) rest: Bytes,
    pub(super) idle_since: Instant,
    pub(super) head_started: Instant,
}

/// hyper's connection, as served here.
type Conn = http1::Connection<TokioIo<Watched>, Answerer>;

/// Serves requests with hyper on `stream`, whose input starts with `head`
/// (a whole request head, first byte at `head_started`), until the
/// connection closes (`None`) or has been idle for `PARK_AFTER`.
pub(super) async fn serve_requests(
    stream: TcpStream,
    head: Bytes,
    head_started: Instant,
    peer: SocketAddr,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Option<Handback> {
    let activity = Arc::new(Activity::new(head_started));
    let answerer = Answerer {
        router: shared.router.clone(),
        peer,
        activity: Arc::clone(&activity),
        body_timeout: shared.limits.body_timeout,
    };
    let io = TokioIo::new(Watched { stream, read_ahead: head, activity: Arc::clone(&activity) });
    let mut conn = http1::Builder::new()
        .max_header_size(MAX_HEAD)
        .header_read_timeout(None) // ours counts from the first byte (`read_head`)
        // A client may close its side once its requests are sent (`nc -N`,
        // a shell pipe): answer them, then close. (hyper's default drops
        // the requests in flight at that end of input; found by fuzzing.)
        .half_close(true)
        .serve_connection(io, answerer);
    let idle_since = serve_until_idle(&mut conn, &activity, &shared.limits, stop).await?;
    let parts = conn.into_parts();
    let watched = parts.io.into_inner();
    // hyper read these past its last request (the start of the next one),
    // before anything still unread in `read_ahead`. (Copied: `read_buf` is a
    // view that would keep hyper's whole buffer.)
    let rest = if parts.read_buf.is_empty() {
        watched.read_ahead
    } else {
        [&parts.read_buf[..], &watched.read_ahead[..]].concat().into()
    };
    let head_started = activity.head_started().unwrap_or_else(Instant::now);
    Some(Handback { stream: watched.stream, rest, idle_since, head_started })
}

/// Drives `conn` until it closes (`None`), or until it has been idle for
/// `PARK_AFTER` and hyper, asked to stop, says it is done: then its parts
/// may be taken, and the time it went idle comes back.
async fn serve_until_idle(
    conn: &mut Conn,
    activity: &Activity,
    limits: &Limits,
    stop: &mut watch::Receiver<bool>,
) -> Option<Instant> {
    let park_after = PARK_AFTER.min(limits.idle_timeout);
    let stopped = stop.wait_for(|s| *s);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(stopped, timer);
    let (mut draining, mut closing) = (false, false);
    // The count of requests when the current idle spell began, and its start.
    let mut idle: Option<(usize, Instant)> = None;
    std::future::poll_fn(|cx| {
        if !draining && stopped.as_mut().poll(cx).is_ready() {
            draining = true;
            Pin::new(&mut *conn).graceful_shutdown();
        }
        if conn.poll_without_shutdown(cx).is_ready() {
            return Poll::Ready(None); // closed by either side, or an error
        }
        if closing || !activity.idle() {
            idle = None;
            return Poll::Pending;
        }
        if draining {
            // Idle with at most part of a request, which hyper's graceful
            // shutdown would wait for: close.
            return Poll::Ready(None);
        }
        let requests = activity.requests.load(Ordering::Acquire);
        let since = match idle {
            Some((n, since)) if n == requests => since,
            _ => {
                let now = Instant::now();
                idle = Some((requests, now));
                // No request yet: hyper holds a head that the scan took for
                // whole and it does not, and waits for the rest of it.
                let head_deadline = activity.head_started().unwrap_or(now) + limits.header_timeout;
                timer.as_mut().reset(if requests == 0 { head_deadline } else { now + park_after });
                now
            }
        };
        ready!(timer.as_mut().poll(cx));
        if requests == 0 {
            return Poll::Ready(None);
        }
        // Every answer written out, and hyper waits to read: asked to stop,
        // an idle hyper connection closes at once and says it is done.
        Pin::new(&mut *conn).graceful_shutdown();
        match conn.poll_without_shutdown(cx) {
            Poll::Ready(Ok(())) if !activity.unflushed.load(Ordering::Acquire) => Poll::Ready(Some(since)),
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => {
                // Not idle after all: it finishes what it was doing, with
                // `Connection: close`, and the connection closes.
                tracing::debug!("a connection to park was busy; it closes after its answer");
                closing = true;
                Poll::Pending
            }
        }
    })
    .await
}

/// The service hyper calls for each request: the router, with the client's
/// address, the body deadline, and the answer counted in `activity`.
struct Answerer {
    router: axum::Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Answerer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let answering = Answering::start(&self.activity);
        let (router, peer) = (self.router.clone(), self.peer);
        let deadline = Instant::now() + self.body_timeout;
        let shared = Arc::new(BodyShared::default());
        let mut req = req.map(|body| Body::new(RequestBody::new(body, deadline, &shared)));
        req.extensions_mut().insert(ConnectInfo(peer));
        Box::pin(async move {
            let Ok(mut res) = router.oneshot(req).await;
            if shared.cut() {
                res = body_too_slow(peer);
            } else if let Some(rest) = shared.take_left()
                && !read_out(rest, deadline).await
            {
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(res.map(|body| Body::new(Tracked { body, _answering: answering })))
        })
    }
}

/// What the connection's hyper state is doing, as seen from its socket and
/// its answers: it is idle when every answer has been written out and it
/// waits to read.
struct Activity {
    /// Requests hyper has handed to the service.
    requests: AtomicUsize,
    answering: AtomicUsize,
    unflushed: AtomicBool,
    waiting_to_read: AtomicBool,
    /// When the first byte of a request head not yet parsed was read.
    head_started: Mutex<Option<Instant>>,
}

impl Activity {
    fn new(head_started: Instant) -> Activity {
        Activity {
            requests: AtomicUsize::new(0),
            answering: AtomicUsize::new(0),
            unflushed: AtomicBool::new(false),
            waiting_to_read: AtomicBool::new(false),
            head_started: Mutex::new(Some(head_started)),
        }
    }

    fn idle(&self) -> bool {
        self.answering.load(Ordering::Acquire) == 0
            && !self.unflushed.load(Ordering::Acquire)
            && self.waiting_to_read.load(Ordering::Acquire)
    }

    fn head_started(&self) -> Option<Instant> {
        *self.head_started.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_head_started(&self, at: Option<Instant>) {
        *self.head_started.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

/// Counts an answer from the request until hyper has taken its whole body.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        activity.answering.fetch_add(1, Ordering::AcqRel);
        activity.requests.fetch_add(1, Ordering::AcqRel);
        activity.set_head_started(None);
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

/// The socket as hyper sees it: first the bytes read before hyper had it,
/// then the stream; reads and writes are noted in `activity`.
struct Watched {
    stream: TcpStream,
    read_ahead: Bytes,
    activity: Arc<Activity>,
}

impl Watched {
    /// A read that did not wait; its bytes, read while no request is being
    /// answered, start the next head.
    fn note_read(&self, bytes: usize) {
        let activity = &self.activity;
        activity.waiting_to_read.store(false, Ordering::Release);
        if bytes > 0 && activity.answering.load(Ordering::Acquire) == 0 && activity.head_started().is_none() {
            activity.set_head_started(Some(Instant::now()));
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.read_ahead.is_empty() {
            let n = self.read_ahead.len().min(buf.remaining());
            buf.put_slice(&self.read_ahead.split_to(n));
            self.note_read(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        match polled {
            Poll::Pending => self.activity.waiting_to_read.store(true, Ordering::Release),
            Poll::Ready(_) => self.note_read(buf.filled().len() - before),
        }
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
