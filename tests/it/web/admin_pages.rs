//! The admin pages beside `/admin` as a plain HTTP client signed in through the provider sees
//! them: `/admin/access` (grants and policy text in force) and `/admin/audit` (the trail with
//! its filters and the chain's state), refused to a developer as the API refuses them; and the
//! users list saying how each user came. On SQLite and, when configured, PostgreSQL. The
//! browser story `tests/web/admin.mjs` does the same in Chromium, with the settings' cron jobs.

use super::WebApp;
use crate::audit::chained;
use crate::login::browser::{Browser, Page};
use crate::support::database::TestDatabase;

async fn signed_in(web: &WebApp, login: &str) -> Browser {
    let browser = web.app.browser();
    let landed = web.app.login(&browser, &web.idp, login).await;
    assert!(landed.status < 400, "{login} signs in: {}", landed.body);
    browser
}

async fn get(web: &WebApp, browser: &Browser, path: &str) -> Page {
    let page = browser.get(&web.app.url(path)).await;
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{path}: {csp}"
    );
    page
}

/// The table rows of the audit page: `(id, actor, action)`.
fn audit_rows(body: &str) -> Vec<(i64, String, String)> {
    let table = body.split("<tbody>").nth(1).unwrap_or("");
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row.split("</td><td").collect();
            let id = cells[0].parse().expect("an id");
            let actor = cells[2]
                .trim_start_matches('>')
                .split(' ')
                .next()
                .unwrap_or("");
            let action = cells[3]
                .split("<code>")
                .nth(1)
                .and_then(|c| c.split('<').next())
                .unwrap_or("");
            (id, actor.to_string(), action.to_string())
        })
        .collect()
}

async fn a_developer_is_refused_the_admin_pages_an_admin_reads(database: TestDatabase) {
    let mut web = WebApp::start_on(database).await;
    let bob = signed_in(&web, "bob").await;
    for path in ["/admin", "/admin/access", "/admin/audit"] {
        let page = get(&web, &bob, path).await;
        assert_eq!(
            page.status, 403,
            "{path} refused to a developer: {}",
            page.body
        );
        assert!(page.body.contains("not allowed"), "{path}: {}", page.body);
    }
    let ann = signed_in(&web, "ann").await;
    let trail = get(&web, &ann, "/admin/audit").await;
    assert_eq!(
        trail.status, 200,
        "an auditor reads the trail, as the API lets them"
    );
    assert!(
        !trail.body.contains("href=\"/admin\""),
        "but has no admin link"
    );
    for path in ["/admin", "/admin/access"] {
        assert_eq!(
            get(&web, &ann, path).await.status,
            403,
            "{path} refused to an auditor"
        );
    }
    let ada = signed_in(&web, "ada").await;
    let access = get(&web, &ada, "/admin/access").await;
    assert_eq!(access.status, 200, "{}", access.body);
    for shown in [
        "<code>web-admins</code></td><td><code>admin</code></td><td>everywhere",
        "<code>acme-devs</code></td><td><code>developer</code></td><td><code>acme/*</code>",
        "policy/default.cedar",
        "permit",
    ] {
        assert!(access.body.contains(shown), "{shown} in {}", access.body);
    }
    assert!(
        !access.body.contains("@id(\""),
        "the policy text is escaped"
    );
    let users = get(&web, &ada, "/admin").await;
    assert_eq!(users.status, 200);
    for (login, origin) in [
        ("bob", "just in time at login"),
        ("bootstrap-admin", "service account"),
    ] {
        let row = users
            .body
            .split("<tr>")
            .find(|r| r.starts_with(&format!("<td>{login}</td>")))
            .unwrap_or_else(|| panic!("{login} listed: {}", users.body));
        assert!(row.contains(origin), "{login} came by {origin}: {row}");
    }
    web.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_is_refused_the_admin_pages_an_admin_reads_on_sqlite() {
    a_developer_is_refused_the_admin_pages_an_admin_reads(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_is_refused_the_admin_pages_an_admin_reads_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    a_developer_is_refused_the_admin_pages_an_admin_reads(database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_filters_the_trail_and_pages_it_newest_first() {
    let mut web = WebApp::start().await;
    for minutes in 1..=55 {
        let (status, body) = web
            .call(
                reqwest::Method::PATCH,
                "/api/repos/acme/api",
                Some(serde_json::json!({ "timeout": minutes })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let bob = signed_in(&web, "bob").await;
    assert_eq!(get(&web, &bob, "/admin/audit").await.status, 403);
    let ada = signed_in(&web, "ada").await;

    let first = get(&web, &ada, "/admin/audit?action=repo.*&repo=acme/api").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let rows = audit_rows(&first.body);
    assert_eq!(rows.len(), 50, "a page holds 50 entries");
    assert!(
        rows.iter().all(|(_, _, a)| a.starts_with("repo.")),
        "{rows:?}"
    );
    assert!(
        rows.windows(2).all(|w| w[0].0 > w[1].0),
        "newest first: {rows:?}"
    );
    let older = first
        .body
        .split("href=\"/admin/audit?")
        .find(|s| s.contains("rel=\"next\""))
        .and_then(|s| s.split('"').next())
        .expect("a link to older entries")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = get(&web, &ada, &format!("/admin/audit?{older}")).await;
    let rest = audit_rows(&second.body);
    assert!(
        !rest.is_empty()
            && rest
                .iter()
                .all(|(id, _, a)| *id < rows[49].0 && a.starts_with("repo.")),
        "the next page is older and keeps the filters: {rest:?}"
    );
    assert_eq!(rows.len() + rest.len(), 56, "55 changes and the activation");

    let denied = get(&web, &ada, "/admin/audit?actor=bob").await;
    let theirs = audit_rows(&denied.body);
    assert!(
        !theirs.is_empty() && theirs.iter().all(|(_, actor, _)| actor == "bob"),
        "{theirs:?}"
    );
    assert!(
        theirs.iter().any(|(_, _, a)| a == "authz.denied"),
        "bob's refusal is on the trail: {theirs:?}"
    );
    let none = get(&web, &ada, "/admin/audit?until=2000-01-01T00:00").await;
    assert!(audit_rows(&none.body).is_empty() && none.body.contains("No entries match"));
    let bad = get(&web, &ada, "/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("since="),
        "the page says which filter: {}",
        bad.body
    );
    web.app.stop().await;
}

/// Edits an entry behind the server's back.
async fn tamper(url: &str) {
    let sql = "UPDATE audit_events SET actor_name = 'someone-else' WHERE id = 2";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("pool");
        sqlx::query(sql).execute(&pool).await.expect("tamper");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.expect("pool");
        sqlx::query(sql).execute(&pool).await.expect("tamper");
        pool.close().await;
    }
}

async fn the_audit_page_shows_the_chain_broken_where_an_entry_was_edited(database: TestDatabase) {
    let mut web = WebApp::start_on(database).await;
    let ada = signed_in(&web, "ada").await;
    let url = web.app.database_url().to_string();
    chained(&url).await;
    let intact = get(&web, &ada, "/admin/audit").await;
    assert!(
        intact.body.contains("Intact:") && intact.body.contains("signed checkpoints verified"),
        "{}",
        intact.body
    );
    tamper(&url).await;
    let broken = get(&web, &ada, "/admin/audit").await;
    assert_eq!(broken.status, 200);
    assert!(
        broken
            .body
            .contains("Broken: entry 2 (chain position 2) was altered"),
        "{}",
        broken.body
    );
    web.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_shows_the_chain_broken_where_an_entry_was_edited_on_sqlite() {
    the_audit_page_shows_the_chain_broken_where_an_entry_was_edited(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_shows_the_chain_broken_where_an_entry_was_edited_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    the_audit_page_shows_the_chain_broken_where_an_entry_was_edited(database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_schedules_a_cron_job_and_reads_the_grants_and_the_audit_trail_in_a_browser() {
    let mut web = WebApp::start().await;
    web.story("admin", serde_json::json!({})).await;
    let (_, repo) = web
        .call(reqwest::Method::GET, "/api/repos/acme/api", None)
        .await;
    assert_eq!(repo["verify_commits"], false, "switched back off: {repo}");
    web.app.stop().await;
}
