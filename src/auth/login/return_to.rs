//! Where a browser goes after logging in: `GET /login?return_to=...` is honoured only for a
//! relative path on this server. Anything that a browser could read as another origin (a scheme,
//! `//host`, a backslash, an encoded slash, control characters) falls back to `/`, so the login
//! can never be used as an open redirector.

/// The page a browser lands on when `return_to` is missing or refused.
pub const DEFAULT: &str = "/";

/// `wanted` if it is a same-origin relative path, else [`DEFAULT`].
pub fn safe(wanted: Option<&str>) -> String {
    match wanted {
        Some(path) if is_local_path(path) => path.to_string(),
        _ => DEFAULT.to_string(),
    }
}

fn is_local_path(path: &str) -> bool {
    if path.len() > 2048 || !path.starts_with('/') {
        return false;
    }
    // Browsers treat `\` as `/` and drop tabs and newlines, so `/\evil`, `/\t/evil` become
    // `//evil`; percent-encoded slashes and backslashes may be decoded by something on the way.
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("//") || lower.contains("%2f") || lower.contains("%5c") {
        return false;
    }
    // Whatever a URL parser makes of it must stay on a placeholder origin.
    let Ok(base) = url::Url::parse("http://hangar.invalid/") else {
        return false;
    };
    match base.join(path) {
        Ok(joined) => joined.origin() == base.origin(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_origin_is_refused() {
        // R1, R4
        for bad in [
            "https://evil.example/",
            "https://ci.example.com.evil.example/",
            "http://hangar.invalid/",
        ] {
            assert_eq!(safe(Some(bad)), "/", "{bad}");
        }
    }

    #[test]
    fn scheme_relative_and_backslash_tricks_are_refused() {
        // R2
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f%2fevil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/%5Cevil.example",
        ] {
            assert_eq!(safe(Some(bad)), "/", "{bad:?}");
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        // R3
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https:evil.example",
            "",
            "repos/a/b",
        ] {
            assert_eq!(safe(Some(bad)), "/", "{bad}");
        }
    }

    #[test]
    fn a_relative_path_with_a_query_is_kept() {
        // R5
        assert_eq!(safe(Some("/repos/a/b?x=1")), "/repos/a/b?x=1");
        assert_eq!(safe(Some("/")), "/");
        assert_eq!(safe(None), "/");
    }
}
