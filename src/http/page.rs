//! The place where failures on browser routes (login, callback, logout) become responses: a
//! small HTML page with a title, a sentence, and the request id to quote to an administrator.
//! Never a stack trace or an internal detail; internal errors are logged here, once.

use crate::error::Error;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An HTML page answering a browser.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub request_id: String,
}

/// The request id the trace layer put on the request.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

impl Page {
    pub fn new(
        status: StatusCode,
        title: impl Into<String>,
        message: impl Into<String>,
        headers: &HeaderMap,
    ) -> Page {
        Page {
            status,
            title: title.into(),
            message: message.into(),
            request_id: request_id(headers),
        }
    }

    /// The page for an error kind; internal errors say only that something failed.
    pub fn from_error(err: &Error, headers: &HeaderMap) -> Page {
        let (status, title) = match err {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Please log in"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
            _ => (StatusCode::BAD_REQUEST, "Bad request"),
        };
        Page::new(status, title, err.to_string(), headers)
    }
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole HTML document around `body`.
pub fn html(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{} · Hangar</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;\
         padding:0 1rem;color:#222}}code{{background:#eee;padding:0 .2em}}</style></head>\
         <body><h1>{}</h1>{body}</body></html>\n",
        escape(title),
        escape(title)
    )
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut body = format!("<p>{}</p>", escape(&self.message));
        if !self.request_id.is_empty() {
            body.push_str(&format!(
                "<p>Request id: <code>{}</code></p>",
                escape(&self.request_id)
            ));
        }
        body.push_str("<p><a href=\"/\">Hangar</a></p>");
        let mut response = (self.status, html(&self.title, &body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_on_a_page_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn an_internal_error_page_says_nothing_of_the_cause() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("abc-1"));
        let page = Page::from_error(
            &Error::internal(anyhow::anyhow!("database password wrong")),
            &headers,
        );
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!page.message.contains("password"));
        assert_eq!(page.request_id, "abc-1");
    }
}
