//! Users: people and machine accounts. Serialises as Drone's User object.

use super::build::secs;
use super::ids::UserId;
use serde::Serialize;

/// A person or a machine account.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub login: String,
    pub email: String,
    pub machine: bool,
    pub admin: bool,
    pub active: bool,
    pub avatar: String,
    #[serde(serialize_with = "secs")]
    pub created: i64,
    #[serde(serialize_with = "secs")]
    pub updated: i64,
    #[serde(serialize_with = "secs")]
    pub last_login: i64,
}
