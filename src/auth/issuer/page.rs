//! The provider's pages, compiled in: the login form and a message page (errors, signed out,
//! logout confirmation). Every value is HTML-escaped; the style sheet is inline and allowed by
//! its hash in the Content-Security-Policy, so no script and no other source can run.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS: &str = include_str!("../../../static/oidc.css");
const LOGIN: &str = include_str!("../../../templates/oidc/login.html");
const MESSAGE: &str = include_str!("../../../templates/oidc/message.html");

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{{name}}` slots; values must already be escaped (or be trusted markup).
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = template.replace("{{css}}", CSS);
    for (name, value) in slots {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// The Content-Security-Policy of these pages: nothing but the inline style sheet.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'"
        )
    })
}

/// The login form. `login` is the transaction token the form must send back.
pub fn login(
    action: &str,
    client: &str,
    login: &str,
    username: &str,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let (focus_user, focus_password) = if username.is_empty() {
        ("autofocus", "")
    } else {
        ("", "autofocus")
    };
    fill(
        LOGIN,
        &[
            ("action", &escape(action)),
            ("client", &escape(client)),
            ("login", &escape(login)),
            ("username", &escape(username)),
            ("error", &error),
            ("focus_user", focus_user),
            ("focus_password", focus_password),
        ],
    )
}

/// A page with a title and a message.
pub fn message(title: &str, message: &str) -> String {
    fill(
        MESSAGE,
        &[
            ("title", &escape(title)),
            ("message", &escape(message)),
            ("form", ""),
        ],
    )
}

/// The logout confirmation: a button that posts `fields` (name, value) to `action`.
pub fn confirm_logout(action: &str, fields: &[(&str, &str)]) -> String {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let form = format!(
        "<form method=\"post\" action=\"{}\">{hidden}<button type=\"submit\">Sign out</button></form>",
        escape(action)
    );
    fill(
        MESSAGE,
        &[
            ("title", "Sign out of Hangar?"),
            (
                "message",
                "You will be signed out of Hangar's sign-in service on this browser.",
            ),
            ("form", &form),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_the_login_form() {
        let html = login(
            "/oidc/login",
            "<script>x</script>",
            "tok\"en",
            "a'b",
            Some("<b>"),
        );
        assert!(!html.contains("<script>x"));
        assert!(html.contains("&lt;script&gt;x"));
        assert!(html.contains("value=\"tok&quot;en\""));
        assert!(html.contains("role=\"alert\">&lt;b&gt;"));
        assert!(!html.contains("{{"), "every slot is filled");
    }

    #[test]
    fn the_form_labels_every_field() {
        let html = login("/oidc/login", "Hangar", "t", "", None);
        assert!(html.contains("<label for=\"username\">"));
        assert!(html.contains("id=\"username\""));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains("id=\"password\""));
        assert!(html.contains("lang=\"en\""));
    }

    #[test]
    fn the_policy_allows_only_the_inline_style_sheet() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
    }
}
