//! The HTTP client of every call to a provider: the service's reqwest
//! (rustls), behind the `openidconnect`/`oauth2` client trait. It follows
//! no redirect, gives up after 10 s and reads at most 1 MiB of an answer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
pub struct HttpClient(reqwest::Client);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error(transparent)]
    Http(#[from] oauth2::http::Error),
    #[error("the answer is over 1 MiB")]
    TooLarge,
}

impl HttpClient {
    pub fn new() -> Result<HttpClient, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client for social sign-in: {e}"))?;
        Ok(HttpClient(client))
    }

    /// Sends `request` and reads its answer, at most `MAX_BODY` bytes.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut res =
            self.0.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
        let mut answer = oauth2::http::Response::builder().status(res.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = std::mem::take(res.headers_mut());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(answer.body(bytes)?)
    }
}

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
