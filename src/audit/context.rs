//! Where an audited change came from. The HTTP layer runs each request inside [`scope`]; audit
//! rows written while it runs (in the same task) carry the request id, the client's address and
//! its user agent, and, once a browser session is known ([`annotate_session`]), the session and
//! the provider's `sid`, the ID token's `jti` and `auth_time`, so a SIEM can join the entry with
//! the provider's own records. Work done elsewhere (the scheduler, the chainer) has no context.

use serde::Serialize;
use std::cell::RefCell;
use std::future::Future;

/// The request behind an audit row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestContext {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The browser session the request came through (its row id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// The longest user agent kept (a client controls it).
const MAX_USER_AGENT: usize = 256;

impl RequestContext {
    pub fn new(request_id: &str, ip: &str, user_agent: &str) -> RequestContext {
        let mut end = user_agent.len().min(MAX_USER_AGENT);
        while !user_agent.is_char_boundary(end) {
            end -= 1;
        }
        RequestContext {
            request_id: request_id.to_string(),
            ip: ip.to_string(),
            user_agent: user_agent[..end].to_string(),
            ..RequestContext::default()
        }
    }
}

tokio::task_local! {
    static CURRENT: RefCell<RequestContext>;
}

/// Runs `fut` with `context` as the source of the audit rows it writes.
pub async fn scope<F: Future>(context: RequestContext, fut: F) -> F::Output {
    CURRENT.scope(RefCell::new(context), fut).await
}

/// Records the browser session the current request came through (nothing outside a request).
pub fn annotate_session(session: i64, sid: &str, jti: &str, auth_time: i64) {
    let _ = CURRENT.try_with(|c| {
        let mut c = c.borrow_mut();
        c.session = Some(session);
        c.sid = sid.to_string();
        c.jti = jti.to_string();
        c.auth_time = (auth_time > 0).then_some(auth_time);
    });
}

/// The current context as stored (`None` outside a request).
pub fn current_json() -> Option<String> {
    CURRENT
        .try_with(|c| serde_json::to_string(&*c.borrow()).ok())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_written_inside_a_request_know_it_and_others_do_not() {
        assert_eq!(current_json(), None);
        let ctx = RequestContext::new("r-1", "127.0.0.1", "curl/8");
        let inside = scope(ctx, async { current_json() }).await;
        assert_eq!(
            inside.as_deref(),
            Some(r#"{"request_id":"r-1","ip":"127.0.0.1","user_agent":"curl/8"}"#)
        );
    }

    #[tokio::test]
    async fn a_session_adds_the_providers_ids() {
        let ctx = RequestContext::new("r-2", "", "");
        let inside = scope(ctx, async {
            annotate_session(7, "sid-1", "jti-1", 1_800_000_000);
            current_json()
        })
        .await;
        assert_eq!(
            inside.as_deref(),
            Some(
                r#"{"request_id":"r-2","session":7,"sid":"sid-1","jti":"jti-1","auth_time":1800000000}"#
            )
        );
        annotate_session(1, "outside", "", 0);
        assert_eq!(current_json(), None, "outside a request nothing is kept");
    }

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        let ua = "é".repeat(200);
        let ctx = RequestContext::new("", "", &ua);
        assert!(ctx.user_agent.len() <= MAX_USER_AGENT);
        assert!(ctx.user_agent.chars().all(|c| c == 'é'));
    }
}
