//! `GET /api/audit`: the audit trail, filtered, for whoever may `audit.read` (admins and the
//! built-in `auditor` role). JSON by default; JSON Lines (one entry per line, for a SIEM) with
//! `Accept: application/x-ndjson` or `?format=jsonl`. Paging goes by id: `after` the last id
//! seen (oldest first) or `before` it (with `order=desc`, newest first).

use crate::auth::policy::Action;
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::State;
use crate::http::auth::require;
use crate::http::extract::Query;
use crate::store::{AuditEntry, AuditQuery};
use axum::extract::State as AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

/// The most entries one answer holds.
pub const MAX_LIMIT: i64 = 1000;

/// The filters of a query; the audit page (`http::web::audit`) fills the same ones, so the page
/// and the API read the trail alike.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub after: i64,
    #[serde(default)]
    pub before: i64,
    /// Unix seconds, RFC 3339, or a UTC date and time without zone (`2026-11-26T08:00`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub repo: Option<String>,
    pub limit: Option<i64>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// `json` (default) or `jsonl`.
    pub format: Option<String>,
    /// Drone clients may send the token here; the extractor reads it.
    #[serde(rename = "access_token")]
    pub _access_token: Option<String>,
}

/// A time bound: Unix seconds, an RFC 3339 date-time, or a date and time without zone (what a
/// browser's date-time field sends), taken as UTC; as Unix ms.
fn parse_time(name: &str, value: &str) -> Result<i64> {
    if let Ok(secs) = value.parse::<i64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| Error::invalid(format!("{name}={value} is out of range")));
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(value, f).ok())
                .map(|t| t.and_utc().timestamp_millis())
                .ok_or(())
        })
        .map_err(|_| {
            Error::invalid(format!(
                "{name}={value:?} is neither Unix seconds nor an RFC 3339 time like 2026-11-26T08:00:00Z"
            ))
        })
}

impl Params {
    /// The store's query for these filters; a bad one is a 422 saying which and why.
    pub fn query(&self) -> Result<AuditQuery> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit must be 1 to {MAX_LIMIT}, not {limit}"
            )));
        }
        if self.after < 0 || self.before < 0 {
            return Err(Error::invalid("after and before are entry ids (0 or more)"));
        }
        let newest_first = match self.order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "order must be asc or desc, not {other:?}"
                )));
            }
        };
        if let Some(repo) = &self.repo {
            crate::domain::Slug::parse(repo).map_err(Error::invalid)?;
        }
        let filter = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(AuditQuery {
            after: self.after,
            before: self.before,
            since: self
                .since
                .as_deref()
                .map(|v| parse_time("since", v))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|v| parse_time("until", v))
                .transpose()?,
            actor: filter(&self.actor),
            action: filter(&self.action),
            repo: filter(&self.repo),
            limit,
            newest_first,
        })
    }

    fn jsonl(&self, headers: &HeaderMap) -> Result<bool> {
        match self.format.as_deref() {
            Some("jsonl") => Ok(true),
            Some("json") => Ok(false),
            Some(other) => Err(Error::invalid(format!(
                "format must be json or jsonl, not {other:?}"
            ))),
            None => Ok(headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| {
                    a.contains("application/x-ndjson") || a.contains("application/jsonl")
                })),
        }
    }
}

/// One entry as the API shows it (see [`crate::audit::entry_json`]).
pub fn view(entry: &AuditEntry) -> Value {
    crate::audit::entry_json(
        &entry.record,
        entry.actor_iss.as_deref(),
        entry.actor_sub.as_deref(),
    )
}

/// `GET /api/audit`.
pub async fn list(
    AppState(app): AppState<State>,
    principal: Principal,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Result<Response> {
    require(&app, &principal, Action::AuditRead, None, None).await?;
    let query = params.query()?;
    let jsonl = params.jsonl(&headers)?;
    let entries = app.store.query_audit(&query).await?;
    let last = entries.last().map(|e| e.record.id);
    let mut response = if jsonl {
        let mut body = String::new();
        for e in &entries {
            body.push_str(&view(e).to_string());
            body.push('\n');
        }
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )],
            body,
        )
            .into_response()
    } else {
        axum::Json(entries.iter().map(view).collect::<Vec<_>>()).into_response()
    };
    // The cursor for the next page, when this one is full.
    if let Some(last) = last.filter(|_| entries.len() as i64 == query.limit) {
        let name = if query.newest_first {
            "x-next-before"
        } else {
            "x-next-after"
        };
        if let Ok(v) = HeaderValue::from_str(&last.to_string()) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}
