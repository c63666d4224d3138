//! Where an audited change came from. The HTTP layer runs each request inside [`scope`]; audit
//! rows written while it runs (in the same task) carry the request id, the client's address and
//! its user agent. Work done elsewhere (the scheduler, the chainer) has no context.

use serde::Serialize;
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
        }
    }
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Runs `fut` with `context` as the source of the audit rows it writes.
pub async fn scope<F: Future>(context: RequestContext, fut: F) -> F::Output {
    CURRENT.scope(context, fut).await
}

/// The current context as stored (`None` outside a request).
pub fn current_json() -> Option<String> {
    CURRENT
        .try_with(|c| serde_json::to_string(c).ok())
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

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        let ua = "é".repeat(200);
        let ctx = RequestContext::new("", "", &ua);
        assert!(ctx.user_agent.len() <= MAX_USER_AGENT);
        assert!(ctx.user_agent.chars().all(|c| c == 'é'));
    }
}
