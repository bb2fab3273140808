//! Request bodies: their deadline (408), and the rest of a body its
//! handler left unread, read out so the connection can stay open.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, header};
use axum::response::IntoResponse as _;
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// 408 in the envelope, and the connection closes after it: the rest of
/// the body may still be on its way.
pub(super) fn body_too_slow(peer: SocketAddr) -> Response<Body> {
    tracing::info!(%peer, "request body not received within AUTHGATE_BODY_TIMEOUT: 408, connection closed");
    let mut res = crate::Error::RequestTimeout.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// The error of a body past its deadline, for a handler reading it to
/// answer 408 too (`http/extract.rs`).
#[derive(Debug)]
pub(crate) struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// The request body as handlers read it. Past its deadline it ends in an
/// error and marks the request cut, whose answer becomes a 408. Dropped
/// before its end, it goes back to the server (`read_out`).
pub(super) struct RequestBody {
    body: Option<Incoming>,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    shared: Arc<BodyShared>,
}

impl RequestBody {
    pub(super) fn new(body: Incoming, deadline: Instant, shared: &Arc<BodyShared>) -> RequestBody {
        RequestBody { body: Some(body), deadline, timer: None, shared: Arc::clone(shared) }
    }
}

/// What a request body tells the server: cut at its deadline, or left
/// unread.
#[derive(Default)]
pub(super) struct BodyShared {
    cut: AtomicBool,
    left: Mutex<Option<Incoming>>,
}

impl BodyShared {
    pub(super) fn cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    pub(super) fn take_left(&self) -> Option<Incoming> {
        self.left.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(body) = this.body.as_mut() else { return Poll::Ready(None) };
        if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
            if frame.is_none() {
                this.body = None;
            }
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        this.shared.cut.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map_or_else(|| SizeHint::with_exact(0), hyper::body::Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(body) = self.body.take()
            && !hyper::body::Body::is_end_stream(&body)
        {
            *self.shared.left.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
        }
    }
}

/// The most of a body left unread by its handler that is read out to keep
/// the connection (the largest body any route takes).
const READ_OUT_LIMIT: usize = 64 * 1024;

/// Reads out the rest of a body its handler did not read (an early answer,
/// 401 or 413 say), until `deadline`: whether it ended. hyper would try
/// once, after the answer went out inviting the client to send its next
/// request, and on failure close the connection under it.
pub(super) async fn read_out(mut body: Incoming, deadline: Instant) -> bool {
    use http_body_util::BodyExt as _;
    let mut read = 0;
    let reading = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > READ_OUT_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout_at(deadline, reading).await.unwrap_or(false)
}
