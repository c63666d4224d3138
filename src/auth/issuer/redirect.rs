//! Matching a requested redirect URI against a client's registered ones: exact string
//! comparison (RFC 9700 §2.1), with the one exception of RFC 8252 §7.3: for a loopback IP
//! redirect (`http://127.0.0.1:PORT/...` or `http://[::1]:PORT/...`) of a native client, the port
//! may differ, since the app picks a free one at run time. `localhost` gets no such leeway.

/// Whether `requested` is one of `registered`.
pub fn is_registered(registered: &[String], requested: &str) -> bool {
    registered
        .iter()
        .any(|r| r == requested || same_loopback_but_port(r, requested))
}

/// The loopback origins whose port may vary, as written in a registration.
const LOOPBACK: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Splits `http://127.0.0.1[:PORT]REST` into the origin without port and `REST`. The
/// comparison stays textual (no URL normalisation): only the port is taken out.
fn without_port(uri: &str) -> Option<(&'static str, &str)> {
    let origin = LOOPBACK.into_iter().find(|o| uri.starts_with(o))?;
    let after = &uri[origin.len()..];
    let rest = match after.strip_prefix(':') {
        Some(port) => {
            let digits = port.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=5).contains(&digits) {
                return None;
            }
            &port[digits..]
        }
        None => after,
    };
    (rest.is_empty() || rest.starts_with('/')).then_some((origin, rest))
}

fn same_loopback_but_port(registered: &str, requested: &str) -> bool {
    match (without_port(registered), without_port(requested)) {
        (Some(a), Some(b)) => a == b && !b.1.contains('#'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_exactly_registered_uri_matches() {
        let r = list(&["https://ci.example.com/auth/callback"]);
        assert!(is_registered(&r, "https://ci.example.com/auth/callback"));
    }

    #[test]
    fn near_misses_do_not_match() {
        let r = list(&["https://ci.example.com/auth/callback"]);
        for bad in [
            "https://ci.example.com/auth/callback/",
            "https://ci.example.com/auth/callback?x=1",
            "https://ci.example.com/auth/callback#x",
            "https://CI.example.com/auth/callback",
            "http://ci.example.com/auth/callback",
            "https://ci.example.com:8443/auth/callback",
            "https://ci.example.com.evil.example/auth/callback",
            "https://evil.example/auth/callback",
            "http://evil.example:8080/cb",
            "",
        ] {
            assert!(!is_registered(&r, bad), "{bad} must not match");
        }
    }

    #[test]
    fn a_loopback_redirect_may_vary_only_in_its_port() {
        let r = list(&["http://127.0.0.1/callback", "http://[::1]:1/cb"]);
        assert!(is_registered(&r, "http://127.0.0.1:53211/callback"));
        assert!(is_registered(&r, "http://127.0.0.1/callback"));
        assert!(is_registered(&r, "http://[::1]:4000/cb"));
        assert!(!is_registered(&r, "http://127.0.0.1:53211/other"));
        assert!(!is_registered(&r, "http://127.0.0.1:53211/callback?x=1"));
        assert!(!is_registered(&r, "http://127.0.0.2:53211/callback"));
        assert!(!is_registered(&r, "http://localhost:53211/callback"));
        assert!(!is_registered(&r, "https://127.0.0.1:53211/callback"));
        assert!(!is_registered(&r, "http://[::1]:4000/callback"));
    }

    #[test]
    fn a_non_loopback_port_must_match_exactly() {
        let r = list(&["http://ci.internal:8080/auth/callback"]);
        assert!(is_registered(&r, "http://ci.internal:8080/auth/callback"));
        assert!(!is_registered(&r, "http://ci.internal:9090/auth/callback"));
    }
}
