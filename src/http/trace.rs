//! Per-request observability: a request id (taken from `X-Request-Id` or made), one span per
//! request carrying method, matched route and id, and a latency histogram by route and status.

use crate::audit::context::RequestContext;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a random prefix per process and a counter, cheap and unique.
#[derive(Clone)]
struct Ids {
    prefix: u32,
    next: std::sync::Arc<AtomicU64>,
}

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{:08x}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Wraps the routes: set the id, open the span with it, record latency, send the id back.
pub fn wrap(router: axum::Router) -> axum::Router {
    let ids = Ids {
        prefix: rand::random(),
        next: Default::default(),
    };
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, ids))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route = tracing::field::Empty,
                        request_id = %id
                    )
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
                )
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID));
    router
        .route_layer(axum::middleware::from_fn(observe))
        .layer(layers)
}

fn request_context(req: &Request) -> RequestContext {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    RequestContext::new(header("x-request-id"), &ip, header("user-agent"))
}

/// Names the request's span after its matched route, records its latency under it, and runs it
/// as the source of the audit rows it writes (request id, client address, user agent).
async fn observe(req: Request, next: Next) -> Response {
    let context = request_context(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    tracing::Span::current().record("route", route.as_str());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = crate::audit::context::scope(context, next.run(req)).await;
    metrics::histogram!(
        "hangar_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}
