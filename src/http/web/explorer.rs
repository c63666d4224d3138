//! `/admin/policy`: the policy explorer. Pick a user (their stored groups and admin flag) or a
//! set of groups, and see what the policy in force gives them: the roles their groups map to,
//! each server action with the decision and the policy that made it, and every repository they
//! may read with the actions they hold there. It asks the same `Authz` every request asks, so
//! it is the way to check a non-admin's isolation without borrowing their account.

use super::builds::param;
use super::view::Chrome;
use super::{Result, Viewer, page};
use crate::auth::policy::{Action, RepoRef};
use crate::auth::principal::Principal;
use crate::error::Error;
use crate::http::State;
use crate::http::auth::require;
use askama::Template;
use axum::extract::{RawQuery, State as AppState};
use axum::response::Response;

pub struct ServerRow {
    pub action: &'static str,
    pub allowed: bool,
    pub why: String,
}

pub struct RepoRow {
    pub slug: String,
    pub actions: Vec<&'static str>,
    pub why: String,
}

#[derive(Template)]
#[template(path = "web/policy.html")]
pub struct Explorer {
    pub chrome: Chrome,
    pub user: String,
    pub groups: String,
    /// Whom the answer is about; empty before a question.
    pub subject: String,
    pub roles: Vec<String>,
    pub server: Vec<ServerRow>,
    pub repos: Vec<RepoRow>,
    pub hidden: usize,
    pub version: u64,
}

/// `GET /admin/policy?user=LOGIN` or `?groups=a,b`.
pub async fn index(
    AppState(app): AppState<State>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    require(&app, &viewer.principal, Action::UserManage, None, None).await?;
    let user = param(&query, "user").unwrap_or_default();
    let groups = param(&query, "groups").unwrap_or_default();
    let mut explorer = Explorer {
        chrome: Chrome::new("Policy explorer", &viewer, true),
        user: user.clone(),
        groups: groups.clone(),
        subject: String::new(),
        roles: Vec::new(),
        server: Vec::new(),
        repos: Vec::new(),
        hidden: 0,
        version: app.authz.version(),
    };
    let principal = if !user.is_empty() {
        let found = app
            .store
            .find_user(&user)
            .await?
            .ok_or_else(|| Error::not_found(format!("no user {user}")))?;
        let held = app.store.find_user_groups(found.id).await?;
        explorer.subject = format!("{} (groups: {})", found.login, held.join(", "));
        Principal::hypothetical(&found.login, held, found.admin, None)
    } else if !groups.is_empty() {
        let list: Vec<String> = groups
            .split([',', ' '])
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        explorer.subject = format!("a member of {}", list.join(", "));
        Principal::hypothetical("policy-explorer", list, false, None)
    } else {
        return page(&explorer);
    }
    .map_err(Error::invalid)?;
    explorer.roles = app.sessions.roles_of(&principal.groups);
    explorer.server = Action::ALL
        .into_iter()
        .filter(|a| !a.on_repo())
        .map(|action| {
            let d = app.authz.decide(&principal, action, None, None);
            ServerRow {
                action: action.as_str(),
                allowed: d.allowed,
                why: d.to_string(),
            }
        })
        .collect();
    let repos = app.store.list_repos().await?;
    let refs: Vec<RepoRef<'_>> = repos.iter().map(RepoRef::from).collect();
    let on_repo: Vec<Action> = Action::ALL.into_iter().filter(|a| a.on_repo()).collect();
    let sets = app.authz.decide_many(&principal, &refs, &on_repo);
    for (repo, set) in refs.iter().zip(sets) {
        if !set.contains(Action::RepoRead) {
            explorer.hidden += 1;
            continue;
        }
        let why = app
            .authz
            .decide(&principal, Action::RepoRead, Some(*repo), None)
            .to_string();
        explorer.repos.push(RepoRow {
            slug: repo.slug.to_string(),
            actions: on_repo
                .iter()
                .filter(|a| set.contains(**a))
                .map(|a| a.as_str())
                .collect(),
            why,
        });
    }
    page(&explorer)
}
