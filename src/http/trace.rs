//! Per-request observability: a request id (taken from `X-Request-Id` or made), one span per
//! request carrying method, matched route and id, and a latency histogram by route and status.
//! The client's address (for the audit trail) is the peer's, or, when the peer is one of the
//! `trusted_proxies`, taken from `X-Forwarded-For` right to left past every trusted hop.

use crate::audit::context::RequestContext;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
pub fn wrap(router: axum::Router, proxies: Arc<[ipnet::IpNet]>) -> axum::Router {
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
        .route_layer(axum::middleware::from_fn_with_state(proxies, observe))
        .layer(layers)
}

/// The client's address: `peer`, unless `peer` is a trusted proxy, in which case the
/// `X-Forwarded-For` hops are walked from the right (the nearest) while each is trusted too. A
/// hop that does not read stops the walk at the last address known.
pub fn client_ip(peer: IpAddr, forwarded: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    let hops = forwarded.iter().flat_map(|v| v.split(',')).rev();
    for hop in hops {
        if !is_trusted(&client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip,
            Err(_) => break,
        }
    }
    client
}

fn request_context(req: &Request, proxies: &[ipnet::IpNet]) -> RequestContext {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0.ip(), &forwarded, proxies).to_string())
        .unwrap_or_default();
    RequestContext::new(header("x-request-id"), &ip, header("user-agent"))
}

/// Names the request's span after its matched route, records its latency under it, and runs it
/// as the source of the audit rows it writes (request id, client address, user agent).
async fn observe(
    axum::extract::State(proxies): axum::extract::State<Arc<[ipnet::IpNet]>>,
    req: Request,
    next: Next,
) -> Response {
    let context = request_context(&req, &proxies);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // No proxies trusted: the header is the client's to write, so it is ignored.
        assert_eq!(
            client_ip(ip("10.0.0.5"), &["203.0.113.9"], &[]),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &["203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // A client that forges a hop in front of the proxy's gets its own address recorded.
        assert_eq!(
            client_ip(ip("10.0.0.5"), &["1.2.3.4, 203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // Two trusted hops are walked past; the peer not trusted ends the walk at once.
        assert_eq!(
            client_ip(ip("10.0.0.5"), &["198.51.100.7", "10.1.1.1"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("192.0.2.1"), &["198.51.100.7"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &["garbage"], &trusted),
            ip("10.0.0.5")
        );
    }
}
