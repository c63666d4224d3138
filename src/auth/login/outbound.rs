//! The HTTP client Hangar talks to login providers with: it follows no redirects (a provider's
//! endpoints are taken from its metadata, never from where a response points), gives up after a
//! timeout, reads at most [`MAX_BODY`] bytes, and adds up the time spent waiting on the provider
//! so a login can report Hangar's own share of it (`Server-Timing`).

use openidconnect::{HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest provider response read.
pub const MAX_BODY: usize = 1 << 20;
/// How long one provider request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a provider request failed before an answer could be read.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider's answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request could not be built: {0}")]
    Request(String),
}

/// Time spent waiting on providers while handling one request, in microseconds.
#[derive(Debug, Default)]
pub struct Spent(AtomicU64);

impl Spent {
    pub fn add(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.fetch_add(us, Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

/// The client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
}

impl Outbound {
    pub fn new() -> anyhow::Result<Outbound> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client })
    }

    /// Sends `request` (the shape `openidconnect` and `oauth2` use) and reads the answer.
    pub async fn send(
        &self,
        request: HttpRequest,
        spent: &Spent,
    ) -> Result<HttpResponse, OutboundError> {
        let started = Instant::now();
        let result = self.exchange(request).await;
        spent.add(started.elapsed());
        result
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, OutboundError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let mut req = self.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| OutboundError::Unreachable(without_url(&e)))?;
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(OutboundError::TooLarge);
        }
        let mut builder = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| OutboundError::Unreachable(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(OutboundError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| OutboundError::Request(e.to_string()))
    }
}

/// [`Outbound`] with the tally of one request, as `openidconnect` and `oauth2` call it.
pub struct Provider<'a> {
    pub outbound: &'a Outbound,
    pub spent: &'a Spent,
}

impl<'c, 'a> openidconnect::AsyncHttpClient<'c> for Provider<'a> {
    type Error = OutboundError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.outbound.send(request, self.spent))
    }
}

impl Outbound {
    /// The client for one request's calls, adding up its time in `spent`.
    pub fn with<'a>(&'a self, spent: &'a Spent) -> Provider<'a> {
        Provider {
            outbound: self,
            spent,
        }
    }
}

/// A reqwest error's message without its URL (which may carry a code or a token in the query).
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    kind.to_string()
}
