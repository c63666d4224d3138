//! SCIM 2.0 (RFC 7643/7644) as identity providers really speak it: filters (`filter.rs`), PATCH
//! operations in Okta's and Entra ID's shapes (`patch.rs`), and the user and group resources
//! read from request bodies (`resource.rs`). Pure: the HTTP side is `http/scim.rs`, the SQL
//! `store/scim.rs` and `store/scim_groups.rs`.

pub mod filter;
pub mod patch;
pub mod resource;

/// `schemas` of a user.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// `schemas` of a group.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// `schemas` of a list response.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `schemas` of an error.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// `schemas` of a PATCH request.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A request a SCIM client got wrong: the SCIM `scimType` (`invalidFilter`, `invalidSyntax`,
/// `invalidValue`, `invalidPath`, `noTarget`, `mutability`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub scim_type: &'static str,
    pub detail: String,
}

impl Bad {
    pub fn new(scim_type: &'static str, detail: impl Into<String>) -> Bad {
        Bad {
            scim_type,
            detail: detail.into(),
        }
    }
}
