//! The authenticated party behind a socket. Built once at handshake; payloads can
//! never change it (a `userId` in a payload is ignored in favour of this).

use crate::{Role, UserId};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub department: Option<String>,
    #[serde(skip)]
    pub email: Option<String>,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// A guest (an anonymous visitor): known by its id, which only the
    /// gateway mints (see [`UserId::new_guest`]); a token can never name one
    /// for a signed-in user, nor the other way round (crate `chat-gateway`'s
    /// `auth`).
    pub fn is_guest(&self) -> bool {
        UserId::is_guest_id(&self.user_id)
    }
}
