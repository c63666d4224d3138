//! Request parameters of the OAuth endpoints, from a query string or a form body. Parameters
//! without a value count as absent, and none may be repeated (RFC 6749 §3.1); a repeated one is
//! reported by name so the caller can refuse the request.

use std::collections::BTreeMap;
use std::fmt;

/// Parsed parameters. `Debug` shows only the names (values include codes and secrets).
#[derive(Default, Clone)]
pub struct Params(BTreeMap<String, Vec<String>>);

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &[u8]) -> Params {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(text) {
            if !v.is_empty() {
                map.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Params(map)
    }

    /// The value of `name`; `Err(name)` when it came more than once.
    pub fn one(&self, name: &'static str) -> Result<Option<&str>, &'static str> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(name),
        }
    }

    /// The first repeated parameter, if any.
    pub fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, v)| v.len() > 1)
            .map(|(k, _)| k.as_str())
    }
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client's id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: each part
/// form-urlencoded) or the form's `client_id` / `client_secret`; `None` when neither names a
/// client. Two methods at once, or a Basic id that differs from the form's, are refused.
pub fn client_auth(
    authorization: Option<&str>,
    params: &Params,
) -> Result<Option<(String, Option<String>)>, super::OAuthError> {
    use super::OAuthError;
    use base64::Engine;
    let one = |name| {
        params
            .one(name)
            .map_err(|n| OAuthError::invalid_request(format!("{n} is repeated")))
    };
    let basic = match authorization.and_then(|h| h.strip_prefix("Basic ")) {
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| OAuthError::invalid_client("unreadable Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("unreadable Basic credentials"))?;
            Some((percent_decoded(id), percent_decoded(secret)))
        }
        None => None,
    };
    Ok(match (basic, one("client_id")?, one("client_secret")?) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, _)), Some(form_id), None) if id != form_id => {
            return Err(OAuthError::invalid_client("client_id does not match"));
        }
        (Some((id, secret)), _, None) => Some((id, Some(secret))),
        (None, Some(id), secret) => Some((id.to_string(), secret.map(str::to_string))),
        (None, None, _) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_absent_and_repeats_are_reported() {
        let p = Params::parse(b"a=1&b=&c=2&c=3&d=x%20y");
        assert_eq!(p.one("a"), Ok(Some("1")));
        assert_eq!(p.one("b"), Ok(None));
        assert_eq!(p.one("c"), Err("c"));
        assert_eq!(p.one("d"), Ok(Some("x y")));
        assert_eq!(p.repeated(), Some("c"));
    }

    #[test]
    fn debug_shows_names_only() {
        let p = Params::parse(b"client_secret=hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
