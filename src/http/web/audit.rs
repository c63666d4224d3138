//! `/admin/audit`: the audit trail, newest first, filtered by actor, action (exact, or a family
//! as `build.*`), repository and time, paged by entry id; and whether the chain still verifies
//! (the walk `hangar audit verify` makes, run on each visit: intact with how many entries and
//! the newest signed checkpoint, or the first broken link). For whoever may `audit.read`, as
//! `GET /api/audit` is; the filters are the API's own (`api::audit::Params`).

use super::builds::param;
use super::view::{self, Chrome};
use super::{Result, Viewer, page};
use crate::audit::verify::{Report, verify};
use crate::auth::policy::Action;
use crate::http::State;
use crate::http::api::audit::Params;
use crate::http::auth::require;
use askama::Template;
use axum::extract::{RawQuery, State as AppState};
use axum::response::Response;

/// Entries on one page.
const PAGE: i64 = 50;

pub struct Row {
    pub id: i64,
    pub time: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

/// The chain's state as the page words it.
pub struct Chain {
    pub intact: bool,
    pub summary: String,
}

impl Chain {
    fn of(report: &Report) -> Chain {
        match &report.finding {
            None => Chain {
                intact: true,
                summary: format!(
                    "Intact: {} entries and {} signed checkpoints verified{}.",
                    report.verified,
                    report.checkpoints,
                    report
                        .newest_checkpoint
                        .map(|(seq, time)| format!(
                            "; the newest checkpoint is at chain position {seq}, signed {}",
                            view::date(time)
                        ))
                        .unwrap_or_default()
                ),
            },
            Some(finding) => Chain {
                intact: false,
                summary: format!(
                    "Broken: {finding} ({} entries before it verified).",
                    report.verified
                ),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "web/audit.html")]
pub struct Audit {
    pub chrome: Chrome,
    pub chain: Chain,
    pub actor: String,
    pub action: String,
    pub repo: String,
    pub since: String,
    pub until: String,
    pub rows: Vec<Row>,
    /// The query of the next (older) page, when this one is full.
    pub older: Option<String>,
    /// Whether this is a later page (a link back to the newest).
    pub paged: bool,
    /// These filters as a query (links keep them).
    pub filters: String,
}

/// `GET /admin/audit?actor=&action=&repo=&since=&until=&before=`.
pub async fn index(
    AppState(app): AppState<State>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    require(&app, &viewer.principal, Action::AuditRead, None, None).await?;
    let get = |name: &str| param(&query, name).unwrap_or_default();
    let before = match param(&query, "before") {
        Some(b) => b.parse::<i64>().map_err(|_| {
            crate::error::Error::invalid(format!("before={b:?} is not an entry id"))
        })?,
        None => 0,
    };
    let some = |v: String| (!v.is_empty()).then_some(v);
    let params = Params {
        before,
        since: some(get("since")),
        until: some(get("until")),
        actor: some(get("actor")),
        action: some(get("action")),
        repo: some(get("repo")),
        limit: Some(PAGE),
        order: Some("desc".into()),
        ..Params::default()
    };
    let audit_query = params.query()?;
    let entries = app.store.query_audit(&audit_query).await?;
    let report = verify(&app.store, &app.secrets).await?;
    let mut filters = url::form_urlencoded::Serializer::new(String::new());
    for name in ["actor", "action", "repo", "since", "until"] {
        let v = get(name);
        if !v.is_empty() {
            filters.append_pair(name, &v);
        }
    }
    let filters = filters.finish();
    let older = entries
        .last()
        .filter(|_| entries.len() as i64 == PAGE)
        .map(|e| {
            let sep = if filters.is_empty() { "" } else { "&" };
            format!("{filters}{sep}before={}", e.record.id)
        });
    let admin = app
        .authz
        .decide(&viewer.principal, Action::UserManage, None, None)
        .allowed;
    let rows = entries
        .into_iter()
        .map(|e| {
            let r = e.record;
            Row {
                id: r.id,
                time: view::date(r.time),
                actor: r.actor_name,
                actor_kind: r.actor_kind,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                detail: if r.detail == "{}" {
                    String::new()
                } else {
                    r.detail
                },
            }
        })
        .collect();
    page(&Audit {
        chrome: Chrome::new("Audit trail", &viewer, admin),
        chain: Chain::of(&report),
        actor: get("actor"),
        action: get("action"),
        repo: get("repo"),
        since: get("since"),
        until: get("until"),
        rows,
        older,
        paged: before > 0,
        filters,
    })
}
