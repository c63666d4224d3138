use super::*;
use crate::auth::keys::SecretBox;
use std::collections::BTreeMap;

async fn sessions(server_url: &str) -> (Arc<Sessions>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let env: BTreeMap<String, String> = [
        ("HANGAR_SERVER_URL", server_url.to_string()),
        ("HANGAR_DATA_DIR", dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::load(None, &env).expect("config").config;
    let store = Store::open(&format!("sqlite://{}", dir.path().join("db").display()))
        .await
        .expect("store");
    let clock = crate::clock::system();
    let secrets = SecretBox::from_key(&[3u8; 32]).expect("key");
    let login = Login::new(&config, store.clone(), secrets, clock.clone(), None).expect("login");
    (Sessions::new(&config, store, login, clock), dir)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().expect("header value"));
    }
    h
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_secure_and_http_only_on_https() {
    let (s, _dir) = sessions("https://ci.example.com").await;
    let c = s.set_cookie("abc");
    assert!(c.starts_with("__Host-hangar_session=abc; Path=/;"), "{c}");
    assert!(c.contains("; HttpOnly") && c.contains("; SameSite=Lax") && c.contains("; Secure"));
    assert!(!c.to_ascii_lowercase().contains("domain="));
    assert!(s.clear_cookie().contains("Max-Age=0"));
}

#[tokio::test]
async fn on_plain_http_the_cookie_has_no_prefix_and_no_secure_flag() {
    let (s, _dir) = sessions("http://127.0.0.1:8080").await;
    let c = s.set_cookie("abc");
    assert!(c.starts_with("hangar_session=abc;"), "{c}");
    assert!(!c.contains("Secure"));
}

#[tokio::test]
async fn a_post_needs_the_csrf_token_and_this_origin() {
    let (s, _dir) = sessions("https://ci.example.com").await;
    let ours = headers(&[("origin", "https://ci.example.com")]);
    let foreign = headers(&[("origin", "https://evil.example")]);
    assert!(s.csrf_ok(&ours, &Method::GET, "t0k3n", None));
    assert!(s.csrf_ok(&ours, &Method::POST, "t0k3n", Some("t0k3n")));
    assert!(!s.csrf_ok(&ours, &Method::POST, "t0k3n", None));
    assert!(!s.csrf_ok(&ours, &Method::DELETE, "t0k3n", Some("other")));
    assert!(!s.csrf_ok(&foreign, &Method::POST, "t0k3n", Some("t0k3n")));
    let referer = headers(&[("referer", "https://ci.example.com.evil.example/x")]);
    assert!(!s.csrf_ok(&referer, &Method::POST, "t0k3n", Some("t0k3n")));
    let cross = headers(&[("sec-fetch-site", "same-site")]);
    assert!(!s.csrf_ok(&cross, &Method::POST, "t0k3n", Some("t0k3n")));
}

#[tokio::test]
async fn a_top_level_get_counts_as_same_origin_only_when_it_says_so() {
    let (s, _dir) = sessions("https://ci.example.com").await;
    assert!(!s.same_origin(&HeaderMap::new(), true));
    assert!(s.same_origin(&headers(&[("sec-fetch-site", "none")]), true));
    assert!(s.same_origin(
        &headers(&[("referer", "https://ci.example.com/repos")]),
        true
    ));
    assert!(!s.same_origin(&headers(&[("sec-fetch-site", "cross-site")]), true));
}

#[tokio::test]
async fn cookies_are_found_among_others_and_across_headers() {
    let h = headers(&[("cookie", "a=1; hangar_session=xyz"), ("cookie", "b=2")]);
    assert_eq!(cookie(&h, "hangar_session").as_deref(), Some("xyz"));
    assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
    assert_eq!(cookie(&h, "hangar"), None);
}

#[tokio::test]
async fn a_request_without_a_session_cookie_resolves_to_nobody() {
    let (s, _dir) = sessions("https://ci.example.com").await;
    let h = headers(&[("cookie", "__Host-hangar_session=unknown")]);
    assert!(
        s.resolve(&h, &Method::GET, 1)
            .await
            .expect("resolve")
            .is_none()
    );
    assert!(
        s.resolve(&HeaderMap::new(), &Method::GET, 1)
            .await
            .expect("resolve")
            .is_none()
    );
}

#[tokio::test]
async fn only_an_unrestricted_admin_grant_makes_an_admin() {
    let (s, _dir) = sessions("https://ci.example.com").await;
    assert_eq!(s.roles_of(&["admins".to_string()]), ["admin"]);
    assert!(s.roles.is_admin(&["admins".to_string()]));
    assert!(s.roles_of(&["developers".to_string()]).is_empty());
    let limited = RoleMap {
        grants: vec![("ops".into(), "admin".into(), true)],
    };
    assert!(!limited.is_admin(&["ops".to_string()]));
    assert_eq!(limited.roles_of(&["ops".to_string()]), ["admin"]);
}

#[test]
fn sessions_fall_due_a_tick_early_so_the_loop_keeps_the_interval() {
    let t = Timeouts {
        idle: 0,
        absolute: 0,
        revalidate: 300_000,
        grace: 0,
    };
    assert_eq!(t.tick(), 1_000);
    assert_eq!(t.next_check(0) + t.tick(), 300_000);
    let short = Timeouts {
        revalidate: 2_000,
        ..t
    };
    assert_eq!(short.tick(), 500);
    assert!(short.next_check(0) + short.tick() <= 2_000);
}
