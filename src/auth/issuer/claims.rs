//! What the provider says about a user: the ID token's claims and the userinfo answer, each
//! limited to the scopes granted (`profile`: name and preferred_username; `email`: email and
//! email_verified; `groups`: groups). `sub` is the user's stable opaque id, never the login.

use crate::store::LocalAccount;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Profile claims, present as the scope allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// The claims of an ID token this provider signs. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub jti: String,
    #[serde(flatten)]
    pub profile: Profile,
}

fn has(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

/// The profile claims `scope` allows for `account`.
pub fn profile(account: &LocalAccount, scope: &str) -> Profile {
    let mut p = Profile::default();
    if has(scope, "profile") {
        let name = if account.display_name.is_empty() {
            &account.login
        } else {
            &account.display_name
        };
        p.name = Some(name.clone());
        p.preferred_username = Some(account.login.clone());
    }
    if has(scope, "email") && !account.email.is_empty() {
        p.email = Some(account.email.clone());
        // An administrator typed it; nobody proved they receive mail there.
        p.email_verified = Some(false);
    }
    if has(scope, "groups") {
        p.groups = Some(account.groups.clone());
    }
    p
}

/// The userinfo answer: `sub` and the profile claims.
pub fn userinfo(account: &LocalAccount, scope: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(profile(account, scope)).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("sub".into(), account.sub.clone().into());
    }
    value
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url (OIDC Core §3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn account() -> LocalAccount {
        LocalAccount {
            user_id: UserId(1),
            login: "ada".into(),
            display_name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            sub: "0123abcd".into(),
            groups: vec!["admins".into()],
            password_hash: "$argon2id$secret".into(),
            failed_logins: 0,
            locked_until: 0,
            active: true,
        }
    }

    #[test]
    fn claims_follow_the_granted_scopes() {
        let only_openid = profile(&account(), "openid");
        assert_eq!(only_openid, Profile::default());
        let all = profile(&account(), "openid profile email groups");
        assert_eq!(all.preferred_username.as_deref(), Some("ada"));
        assert_eq!(all.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(all.email_verified, Some(false));
        assert_eq!(all.groups, Some(vec!["admins".to_string()]));
    }

    #[test]
    fn userinfo_carries_the_stable_subject_not_the_login() {
        let info = userinfo(&account(), "openid groups");
        assert_eq!(info["sub"], "0123abcd");
        assert_eq!(info["groups"][0], "admins");
        assert!(info.get("preferred_username").is_none());
    }

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OpenID Connect Core, appendix A.3 (access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y").
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn the_account_debug_hides_the_hash() {
        assert!(!format!("{:?}", account()).contains("argon2"));
    }
}
