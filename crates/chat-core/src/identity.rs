//! The authenticated party behind a socket. Built once at handshake; payloads can
//! never change it (a `userId` in a payload is ignored in favour of this).

use crate::Role;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub is_guest: bool,
    #[serde(skip)]
    pub department: Option<String>,
    #[serde(skip)]
    pub email: Option<String>,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
