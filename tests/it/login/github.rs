//! Logging in with GitHub, against the local stand-in (GitHub itself cannot be reached from
//! the test machines): organisations and teams become groups, the account is the numeric user
//! id, and a revoked token ends the session at the next revalidation.

use super::github_standin::{GhUser, GitHub};
use super::*;
use serde_json::json;

async fn github_app(gh: &GitHub, adjust: impl FnOnce(&mut hangar::config::Config)) -> LoginApp {
    let settings = gh.settings();
    LoginApp::spawn(PUBLIC, |c| {
        c.identity.github = Some(settings);
        adjust(c);
    })
    .await
}

async fn log_in(app: &LoginApp, browser: &Browser) -> Page {
    let start = app.start_login(browser, "").await;
    let at_github = browser.get(start.location()).await;
    assert_eq!(at_github.status, 303, "{}", at_github.body);
    browser.get(at_github.location()).await
}

fn octo(login: &str) -> GhUser {
    GhUser {
        id: 583231,
        login: login.into(),
        email: "octo@example.com".into(),
        orgs: vec!["acme".into(), "widgets".into(), "tools".into()],
        teams: vec![
            ("acme".into(), "infrastructure-admin".into()),
            ("acme".into(), "developers".into()),
            ("widgets".into(), "docs".into()),
        ],
    }
}

#[tokio::test]
async fn a_github_user_logs_in_with_orgs_and_teams_as_groups() {
    let gh = GitHub::start().await;
    let app = github_app(&gh, |_| {}).await;
    gh.sign_in(octo("octocat"));
    let browser = app.browser();
    let start = app.start_login(&browser, "").await;
    let to = start.location();
    assert!(
        to.starts_with(&format!("{}/login/oauth/authorize?", gh.url)),
        "{to}"
    );
    assert_eq!(
        query_param(to, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(to, "scope").is_some_and(|s| s.contains("read:org")));
    assert!(query_param(to, "state").is_some());

    let back = log_in(&app, &browser).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let (status, me) = app.session(&browser).await;
    assert_eq!(status, 200);
    assert_eq!(me["login"], "octocat");
    assert_eq!(me["provider"], "github");
    assert_eq!(
        me["groups"],
        json!([
            "acme",
            "widgets",
            "tools",
            "acme/infrastructure-admin",
            "acme/developers",
            "widgets/docs"
        ]),
        "every page of orgs and teams is read"
    );
    let login = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "auth.login")
        .expect("audited");
    assert!(login.detail.contains(&format!("\"iss\":\"{}\"", gh.url)));
    assert!(login.detail.contains("\"sub\":\"583231\""));
    let linked = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "user.forge_login_linked")
        .collect::<Vec<_>>();
    assert_eq!(linked.len(), 1, "the GitHub login is linked once");
    assert!(
        linked[0]
            .detail
            .contains("\"forge_login\":\"github:octocat\""),
        "so octocat's pushes build as this account: {}",
        linked[0].detail
    );
}

#[tokio::test]
async fn a_renamed_github_user_keeps_their_account() {
    let gh = GitHub::start().await;
    let app = github_app(&gh, |_| {}).await;
    gh.sign_in(octo("octocat"));
    log_in(&app, &app.browser()).await;
    gh.sign_in(octo("octocat-renamed"));
    let browser = app.browser();
    log_in(&app, &browser).await;
    assert_eq!(
        app.session(&browser).await.1["login"],
        "octocat",
        "the same account"
    );
}

#[tokio::test]
async fn a_github_callback_with_a_used_code_is_refused() {
    let gh = GitHub::start().await;
    let app = github_app(&gh, |_| {}).await;
    gh.sign_in(octo("octocat"));
    let browser = app.browser();
    let start = app.start_login(&browser, "").await;
    let back = browser.get(start.location()).await;
    let state = query_param(back.location(), "state").expect("state");
    // The code goes to the right place, but a wrong one comes back.
    let page = call_back(&app, &browser, &[("state", &state), ("code", "not-a-code")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(app.refusals().await, ["token_exchange_failed"]);
}

#[tokio::test]
async fn a_revoked_github_token_ends_the_session_and_an_outage_does_not() {
    // S4 and S5 for GitHub.
    let gh = GitHub::start().await;
    let app = github_app(&gh, |c| {
        c.identity.session_revalidate = Duration::from_millis(500);
        c.identity.session_revalidate_grace = Duration::from_secs(3600);
    })
    .await;
    gh.sign_in(octo("octocat"));
    let browser = app.browser();
    log_in(&app, &browser).await;

    gh.shared
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    eventually(Duration::from_secs(10), "a failed revalidation", || async {
        app.audit()
            .await
            .iter()
            .any(|r| r.action == "auth.session_revalidated" && r.outcome == "failure")
    })
    .await;
    assert_eq!(
        app.session(&browser).await.0,
        200,
        "GitHub down is not a revocation"
    );

    gh.shared
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    gh.revoke_tokens();
    eventually(Duration::from_secs(40), "the session ending", || async {
        app.session(&browser).await.0 == 401
    })
    .await;
}
