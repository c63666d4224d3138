//! SCIM 2.0 at `/scim/v2` (RFC 7643/7644): users (`users.rs`), groups (`groups.rs`) and the
//! discovery documents (`discovery.rs`), as Okta and Entra ID use them. Every request carries a
//! SCIM bearer token (`hgr_scim_...`, from `hangar scim token create`); API tokens and sessions
//! are not accepted here, nor SCIM tokens elsewhere. Bodies are read as JSON whatever their
//! content type (`application/scim+json` or `application/json`); answers are
//! `application/scim+json`; errors are SCIM error bodies (`http/error.rs`).
//!
//! What lives elsewhere: parsing filters and PATCH operations (`crate::scim`), SQL
//! (`store/scim.rs`, `store/scim_groups.rs`), deactivation (`Authenticator::update_user`).

mod discovery;
mod groups;
mod users;

use super::State;
use super::error::ScimError;
use crate::auth::token::{self, Format, Shape};
use crate::domain::Actor;
use crate::domain::audit::ActorKind;
use crate::error::Error;
use crate::store::RoleMap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

/// The routes under `/scim/v2`.
pub fn router() -> Router<State> {
    Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::show)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::show)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(super::MAX_API_BYTES))
}

pub(crate) async fn not_found() -> ScimError {
    Error::not_found("no such SCIM endpoint").into()
}

/// The provisioning client calling, known by its SCIM token.
pub struct ScimCaller {
    pub actor: Actor,
}

impl FromRequestParts<State> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, app: &State) -> Result<Self, ScimError> {
        let refused = || {
            ScimError::from(Error::Unauthenticated(
                "a SCIM token (Authorization: Bearer hgr_scim_...) is required".into(),
            ))
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(refused)?
            .trim();
        let presented = value
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map(|_| value[7..].trim())
            .ok_or_else(refused)?;
        if token::parse(presented) != Shape::Valid(Format::Scim) {
            return Err(refused());
        }
        let client = app
            .store
            .find_scim_token(&token::hash(presented))
            .await?
            .ok_or_else(refused)?;
        Ok(ScimCaller {
            actor: Actor {
                kind: ActorKind::System,
                user_id: None,
                name: format!("@scim:{}", client.name),
                token_id: None,
            },
        })
    }
}

/// A SCIM answer: a status and a JSON body, as `application/scim+json`.
pub struct Scim(pub StatusCode, pub Value);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut r = (self.0, self.1.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
        r
    }
}

/// A request body as JSON, whatever content type it was sent with.
fn json(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| {
        ScimError::from(crate::scim::Bad::new(
            "invalidSyntax",
            format!("the body is not JSON: {e}"),
        ))
    })
}

/// `startIndex`, `count`, `filter`, `attributes`, `excludedAttributes` of a request.
#[derive(Debug, Default)]
pub struct Query {
    /// 1-based, at least 1.
    pub start_index: i64,
    pub count: i64,
    pub filter: Option<String>,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// The largest page answered.
const MAX_COUNT: i64 = 1000;
/// The page size when `count` is not given.
const DEFAULT_COUNT: i64 = 100;

impl Query {
    fn parse(raw: Option<&str>) -> Result<Query, ScimError> {
        let mut q = Query {
            start_index: 1,
            count: DEFAULT_COUNT,
            ..Query::default()
        };
        let number = |k: &str, v: &str| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimError::from(crate::scim::Bad::new(
                    "invalidValue",
                    format!("{k} must be a whole number, not {v:?}"),
                ))
            })
        };
        let names = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.to_ascii_lowercase().as_str() {
                "startindex" => q.start_index = number(&k, &v)?.max(1),
                "count" => q.count = number(&k, &v)?.clamp(0, MAX_COUNT),
                "filter" => q.filter = Some(v.into_owned()).filter(|f| !f.trim().is_empty()),
                "attributes" => q.attributes = names(&v),
                "excludedattributes" => q.excluded = names(&v),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether the attribute `name` (lower case) is to be shown.
    fn shows(&self, name: &str) -> bool {
        let hit = |list: &[String]| {
            list.iter()
                .any(|a| a == name || a.rsplit(':').next() == Some(name))
        };
        !hit(&self.excluded) && (self.attributes.is_empty() || hit(&self.attributes))
    }

    /// `resource` with only the attributes asked for (`id` and `schemas` always).
    fn trim(&self, mut resource: Value) -> Value {
        if let Some(obj) = resource.as_object_mut() {
            obj.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                k == "id" || k == "schemas" || self.shows(&k)
            });
        }
        resource
    }

    /// A list response of `items` (already trimmed), `total` matching in all.
    fn list(&self, total: i64, items: Vec<Value>) -> Scim {
        Scim(
            StatusCode::OK,
            serde_json::json!({
                "schemas": [crate::scim::LIST_SCHEMA],
                "totalResults": total,
                "startIndex": self.start_index,
                "itemsPerPage": items.len(),
                "Resources": items,
            }),
        )
    }
}

/// A new SCIM id: random, shaped like a UUID.
fn new_id() -> String {
    let h = token::mint();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Milliseconds as the RFC 3339 time SCIM's `meta` carries.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The roles groups grant, for the admin flag and audit details of membership changes.
fn roles(app: &State) -> RoleMap {
    RoleMap {
        grants: app
            .config
            .identity
            .roles
            .iter()
            .map(|g| (g.group.clone(), g.role.clone(), !g.repos.is_empty()))
            .collect(),
    }
}

/// Makes a change of users' groups or state visible on the next request: drops the cached
/// token lookups of `users` and every cached session.
fn forget(app: &State, users: &[crate::domain::UserId]) {
    for u in users {
        app.auth.forget_user(*u);
    }
    app.sessions.forget();
}
