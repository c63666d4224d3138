//! `/scim/v2/Users`: provisioning people. A user is a Hangar account (login made from the
//! userName) plus what the provider sent. `active: false` (PUT or PATCH, boolean or Entra ID's
//! `"False"`) and DELETE deactivate through `Authenticator::update_user`, which revokes the
//! user's tokens and ends their sessions; DELETE also removes them from SCIM and their groups.

use super::{Query, Scim, ScimCaller, State, forget, json, new_id, roles, time};
use crate::http::error::ScimError;
use crate::scim::filter::{self, Resource};
use crate::scim::{Bad, USER_SCHEMA, patch, resource};
use crate::store::{ScimUser, ScimUserWrite, UserPatch};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The user as SCIM shows it: what the provider sent, with Hangar's id, state and groups.
pub fn render(app: &State, u: &ScimUser) -> Value {
    let mut doc = match &u.resource {
        Value::Object(o) => Value::Object(o.clone()),
        _ => json!({}),
    };
    doc["schemas"] = json!([USER_SCHEMA]);
    doc["id"] = u.scim_id.clone().into();
    doc["userName"] = u.user_name.clone().into();
    doc["active"] = u.user.active.into();
    match &u.external_id {
        Some(e) => doc["externalId"] = e.clone().into(),
        None => {
            if let Some(o) = doc.as_object_mut() {
                o.remove("externalId");
            }
        }
    }
    if !u.display_name.is_empty() {
        doc["displayName"] = u.display_name.clone().into();
    }
    if doc.get("emails").is_none() && !u.user.email.is_empty() {
        doc["emails"] = json!([{ "value": u.user.email, "primary": true, "type": "work" }]);
    }
    let base = format!("{}/scim/v2", app.config.server_url);
    doc["groups"] = u
        .groups
        .iter()
        .map(|(id, name)| json!({ "value": id, "display": name, "$ref": format!("{base}/Groups/{id}") }))
        .collect();
    doc["meta"] = json!({
        "resourceType": "User",
        "created": time(u.created),
        "lastModified": time(u.updated),
        "location": format!("{base}/Users/{}", u.scim_id),
        "version": format!("W/\"{}\"", u.updated),
    });
    doc
}

fn not_found(id: &str) -> ScimError {
    crate::Error::not_found(format!("there is no user with id {id:?}")).into()
}

fn write(input: &resource::UserInput) -> Result<ScimUserWrite, ScimError> {
    Ok(ScimUserWrite {
        user_name: input.user_name.clone(),
        external_id: input.external_id.clone(),
        display_name: input.display_name.clone(),
        email: input.email.clone(),
        active: input.active,
        resource: serde_json::to_string(&input.resource).map_err(crate::Error::internal)?,
    })
}

/// `GET /Users?filter=&startIndex=&count=`
pub async fn list(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    RawQuery(raw): RawQuery,
) -> Result<Scim, ScimError> {
    let q = Query::parse(raw.as_deref())?;
    let filter = match &q.filter {
        Some(f) => {
            Some(filter::parse(f, Resource::User).map_err(|e| Bad::new("invalidFilter", e))?)
        }
        None => None,
    };
    let page = app
        .store
        .list_scim_users(filter.as_ref(), q.start_index - 1, q.count)
        .await?;
    let items = page.items.iter().map(|u| q.trim(render(&app, u))).collect();
    Ok(q.list(page.total, items))
}

/// `GET /Users/{id}`: deactivated users too; deleted ones are 404.
pub async fn show(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Scim, ScimError> {
    let q = Query::parse(raw.as_deref())?;
    let u = app
        .store
        .find_scim_user(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Scim(StatusCode::OK, q.trim(render(&app, &u))))
}

/// `POST /Users`: 201 with the user; a userName already provisioned is 409.
pub async fn create(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let input = resource::user(&json(&body)?)?;
    let now = app.clock.now_ms();
    let u = app
        .store
        .create_scim_user(&caller.actor, &new_id(), &write(&input)?, now)
        .await?;
    let doc = render(&app, &u);
    let location = doc["meta"]["location"].as_str().unwrap_or("").to_string();
    let mut r = Scim(StatusCode::CREATED, doc).into_response();
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Writes `input` over the user `id`: a change of `active` first, through the one deactivation
/// path, then the attributes with their audit event.
async fn store(
    app: &State,
    caller: &ScimCaller,
    id: &str,
    before: &ScimUser,
    input: &resource::UserInput,
) -> Result<ScimUser, ScimError> {
    let activity = (input.active != before.user.active).then_some(input.active);
    if let Some(active) = activity {
        let patch = UserPatch {
            active: Some(active),
            ..UserPatch::default()
        };
        app.auth
            .update_user(&caller.actor, &before.user.login, patch)
            .await?;
    }
    let after = app
        .store
        .update_scim_user(
            &caller.actor,
            id,
            &write(input)?,
            activity,
            app.clock.now_ms(),
        )
        .await?
        .ok_or_else(|| not_found(id))?;
    if activity.is_some() {
        forget(app, &[after.user.id]);
    }
    Ok(after)
}

/// `PUT /Users/{id}`: the whole user (Okta's custom apps deactivate this way).
pub async fn replace(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Scim, ScimError> {
    let input = resource::user(&json(&body)?)?;
    let before = app
        .store
        .find_scim_user(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let after = store(&app, &caller, &id, &before, &input).await?;
    Ok(Scim(StatusCode::OK, render(&app, &after)))
}

/// `PATCH /Users/{id}`: operations applied to the user as shown, then stored like a PUT.
pub async fn patch(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Scim, ScimError> {
    let ops = patch::operations(&json(&body)?)?;
    let before = app
        .store
        .find_scim_user(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut doc = render(&app, &before);
    patch::apply_to_user(&mut doc, &ops)?;
    let input = resource::user(&doc)?;
    let after = store(&app, &caller, &id, &before, &input).await?;
    Ok(Scim(StatusCode::OK, render(&app, &after)))
}

/// `DELETE /Users/{id}`: deactivated (tokens revoked, sessions ended), out of their groups and
/// gone from SCIM; the account stays, disabled. 204.
pub async fn delete(
    axum::extract::State(app): axum::extract::State<State>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let before = app
        .store
        .find_scim_user(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if before.user.active {
        let patch = UserPatch {
            active: Some(false),
            ..UserPatch::default()
        };
        app.auth
            .update_user(&caller.actor, &before.user.login, patch)
            .await?;
    }
    let gone = app
        .store
        .delete_scim_user(&caller.actor, &id, &roles(&app), app.clock.now_ms())
        .await?
        .ok_or_else(|| not_found(&id))?;
    forget(&app, &[gone]);
    Ok(StatusCode::NO_CONTENT)
}
