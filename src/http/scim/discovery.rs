//! What a SCIM client may ask before provisioning: the service provider's features, the
//! resource types and the schemas of the attributes Hangar keeps (RFC 7643 §5-7).

use super::{Scim, ScimCaller, State};
use crate::http::error::ScimError;
use crate::scim::{GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Value, json};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn list(items: Vec<Value>) -> Scim {
    Scim(
        StatusCode::OK,
        json!({
            "schemas": [LIST_SCHEMA], "totalResults": items.len(), "startIndex": 1,
            "itemsPerPage": items.len(), "Resources": items,
        }),
    )
}

/// `GET /ServiceProviderConfig`
pub async fn service_provider_config(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
) -> Scim {
    Scim(
        StatusCode::OK,
        json!({
            "schemas": [SPC_SCHEMA],
            "documentationUri": format!("{}/", app.config.server_url),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": 1000 },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
                "description": "A token from `hangar scim token create` (hgr_scim_...)",
            }],
            "meta": { "resourceType": "ServiceProviderConfig",
                      "location": format!("{}/scim/v2/ServiceProviderConfig", app.config.server_url) },
        }),
    )
}

fn resource_types_of(app: &State) -> Vec<Value> {
    let base = format!("{}/scim/v2", app.config.server_url);
    vec![
        json!({
            "schemas": [RT_SCHEMA], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A person with a Hangar account", "schema": USER_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": [RT_SCHEMA], "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A group; its displayName is the group [[roles]] grants to",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

/// `GET /ResourceTypes`
pub async fn resource_types(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
) -> Scim {
    list(resource_types_of(&app))
}

/// `GET /ResourceTypes/{name}`
pub async fn resource_type(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    Path(name): Path<String>,
) -> Result<Scim, ScimError> {
    resource_types_of(&app)
        .into_iter()
        .find(|t| t["id"] == name.as_str())
        .map(|t| Scim(StatusCode::OK, t))
        .ok_or_else(|| crate::Error::not_found(format!("no resource type {name:?}")).into())
}

fn attr(name: &str, kind: &str, required: bool, uniqueness: &str, mutability: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "required": required,
        "caseExact": false, "mutability": mutability, "returned": "default",
        "uniqueness": uniqueness,
    })
}

fn multi(name: &str, mutability: &str) -> Value {
    json!({
        "name": name, "type": "complex", "multiValued": true, "required": false,
        "mutability": mutability, "returned": "default",
        "subAttributes": [
            attr("value", "string", false, "none", mutability),
            attr("display", "string", false, "none", mutability),
            attr("type", "string", false, "none", mutability),
            { "name": "primary", "type": "boolean", "multiValued": false, "required": false,
              "mutability": mutability, "returned": "default" },
        ],
    })
}

fn schemas_of(app: &State) -> Vec<Value> {
    let base = format!("{}/scim/v2", app.config.server_url);
    vec![
        json!({
            "schemas": [SCHEMA_SCHEMA], "id": USER_SCHEMA, "name": "User",
            "description": "A person with a Hangar account",
            "attributes": [
                attr("userName", "string", true, "server", "readWrite"),
                attr("externalId", "string", false, "none", "readWrite"),
                attr("displayName", "string", false, "none", "readWrite"),
                { "name": "active", "type": "boolean", "multiValued": false, "required": false,
                  "mutability": "readWrite", "returned": "default" },
                { "name": "name", "type": "complex", "multiValued": false, "required": false,
                  "mutability": "readWrite", "returned": "default", "subAttributes": [
                    attr("formatted", "string", false, "none", "readWrite"),
                    attr("givenName", "string", false, "none", "readWrite"),
                    attr("familyName", "string", false, "none", "readWrite"),
                ]},
                multi("emails", "readWrite"),
                multi("groups", "readOnly"),
            ],
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}") },
        }),
        json!({
            "schemas": [SCHEMA_SCHEMA], "id": GROUP_SCHEMA, "name": "Group",
            "description": "A group; its displayName is the group [[roles]] grants to",
            "attributes": [
                attr("displayName", "string", true, "server", "readWrite"),
                attr("externalId", "string", false, "none", "readWrite"),
                multi("members", "readWrite"),
            ],
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}") },
        }),
    ]
}

/// `GET /Schemas`
pub async fn schemas(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
) -> Scim {
    list(schemas_of(&app))
}

/// `GET /Schemas/{id}`
pub async fn schema(
    axum::extract::State(app): axum::extract::State<State>,
    _caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Scim, ScimError> {
    schemas_of(&app)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| Scim(StatusCode::OK, s))
        .ok_or_else(|| crate::Error::not_found(format!("no schema {id:?}")).into())
}
