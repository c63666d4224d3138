//! `/scim/v2/Groups`: a group's displayName is the group name `[[roles]]` grants roles to, so
//! membership is access. Changes rewrite the members' groups in the same transaction and drop
//! the caches, so they count from the next request. PATCH answers 204 (as Entra ID asks).

use super::{Query, Scim, ScimCaller, State, forget, json, new_id, roles, time};
use crate::http::error::ScimError;
use crate::scim::filter::{self, Resource};
use crate::scim::patch::{self, GroupOp};
use crate::scim::{Bad, GROUP_SCHEMA, resource};
use crate::store::ScimGroup;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn render(app: &State, g: &ScimGroup, q: &Query) -> Value {
    let base = format!("{}/scim/v2", app.config.server_url);
    let mut doc = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.scim_id,
        "displayName": g.display_name,
        "meta": {
            "resourceType": "Group",
            "created": time(g.created),
            "lastModified": time(g.updated),
            "location": format!("{base}/Groups/{}", g.scim_id),
            "version": format!("W/\"{}\"", g.updated),
        },
    });
    if let Some(e) = &g.external_id {
        doc["externalId"] = e.clone().into();
    }
    if q.shows("members") {
        doc["members"] = g
            .members
            .iter()
            .map(|(id, name)| json!({ "value": id, "display": name, "$ref": format!("{base}/Users/{id}") }))
            .collect();
    }
    q.trim(doc)
}

fn not_found(id: &str) -> ScimError {
    crate::Error::not_found(format!("there is no group with id {id:?}")).into()
}

/// `GET /Groups?filter=&excludedAttributes=members`
pub async fn list(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    RawQuery(raw): RawQuery,
) -> Result<Scim, ScimError> {
    let q = Query::parse(raw.as_deref())?;
    let filter = match &q.filter {
        Some(f) => {
            Some(filter::parse(f, Resource::Group).map_err(|e| Bad::new("invalidFilter", e))?)
        }
        None => None,
    };
    let page = app
        .store
        .list_scim_groups(
            filter.as_ref(),
            q.start_index - 1,
            q.count,
            q.shows("members"),
        )
        .await?;
    let items = page.items.iter().map(|g| render(&app, g, &q)).collect();
    Ok(q.list(page.total, items))
}

/// `GET /Groups/{id}`
pub async fn show(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Scim, ScimError> {
    let q = Query::parse(raw.as_deref())?;
    let g = app
        .store
        .find_scim_group(&id, q.shows("members"))
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Scim(StatusCode::OK, render(&app, &g, &q)))
}

/// `POST /Groups`: 201; a displayName in use is 409.
pub async fn create(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let input = resource::group(&json(&body)?)?;
    let change = app
        .store
        .create_scim_group(
            &caller.actor,
            &new_id(),
            &input,
            &roles(&app),
            app.clock.now_ms(),
        )
        .await?;
    forget(&app, &change.affected);
    let doc = render(&app, &change.group, &Query::default());
    let location = doc["meta"]["location"].as_str().unwrap_or("").to_string();
    let mut r = Scim(StatusCode::CREATED, doc).into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn change(
    app: &State,
    caller: &ScimCaller,
    id: &str,
    ops: &[GroupOp],
) -> Result<ScimGroup, ScimError> {
    let change = app
        .store
        .change_scim_group(&caller.actor, id, ops, &roles(app), app.clock.now_ms())
        .await?
        .ok_or_else(|| not_found(id))?;
    forget(app, &change.affected);
    Ok(change.group)
}

/// `PUT /Groups/{id}`: name, externalId and the whole membership.
pub async fn replace(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Scim, ScimError> {
    let input = resource::group(&json(&body)?)?;
    let ops = [
        GroupOp::Rename(input.display_name),
        GroupOp::ExternalId(input.external_id),
        GroupOp::ReplaceMembers(input.members),
    ];
    let g = change(&app, &caller, &id, &ops).await?;
    Ok(Scim(StatusCode::OK, render(&app, &g, &Query::default())))
}

/// `PATCH /Groups/{id}`: renames and membership deltas; 204.
pub async fn patch(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ScimError> {
    let ops = patch::group_ops(&patch::operations(&json(&body)?)?)?;
    change(&app, &caller, &id, &ops).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /Groups/{id}`: its members lose what it granted. 204.
pub async fn delete(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let users = app
        .store
        .delete_scim_group(&caller.actor, &id, &roles(&app), app.clock.now_ms())
        .await?
        .ok_or_else(|| not_found(&id))?;
    forget(&app, &users);
    Ok(StatusCode::NO_CONTENT)
}
