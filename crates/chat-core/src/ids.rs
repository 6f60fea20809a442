//! Typed ids: what kind of user or conversation an id names.
//!
//! Ids are strings on the wire and in the store, and some of them say what
//! they are by their prefix: a guest's user id starts with `guest_` (minted
//! by the gateway when a visitor connects without a token), and a broadcast
//! channel's id starts with `broadcast-` (one per audience, minted from the
//! audience). Every other conversation id is a UUIDv7 from
//! [`crate::clock::new_id`]. This module is the one place that knows those
//! prefixes; everything else asks [`UserId`] or [`ConversationId`].
//!
//! Most signatures still take `&str` (the store and the wire carry strings);
//! a code path holding a bare string classifies it with
//! [`UserId::is_guest_id`] or [`ConversationId::is_broadcast_id`].

use crate::clock::Millis;
use crate::Role;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A guest's user id starts with this.
const GUEST_PREFIX: &str = "guest_";
/// A broadcast channel's id starts with this (`broadcast-all`, `broadcast-<role>`).
const BROADCAST_PREFIX: &str = "broadcast-";
/// The author of system messages (`joined`, `ended`…), not a person.
pub const SYSTEM_USER: &str = "system";

/// A user's id: a directory or Odoo user, or a guest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A new guest's id: when it came (`at`) and 48 random bits, so two
    /// guests arriving in the same millisecond still differ.
    pub fn new_guest(at: Millis, random: u64) -> Self {
        Self(format!(
            "{GUEST_PREFIX}{at}_{:012x}",
            random & 0xffff_ffff_ffff
        ))
    }

    /// Is this a guest (an anonymous visitor of the public support chat)?
    pub fn is_guest(&self) -> bool {
        Self::is_guest_id(&self.0)
    }

    /// [`is_guest`](Self::is_guest) for an id held as a string.
    pub fn is_guest_id(id: &str) -> bool {
        id.starts_with(GUEST_PREFIX)
    }

    /// Does the id name a person Odoo knows as a `res.users` record? Guests
    /// and the system author do not.
    pub fn is_odoo_user_id(id: &str) -> bool {
        !Self::is_guest_id(id) && id != SYSTEM_USER
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// How a conversation id was minted, which is all an id says about its
/// conversation (its type, participants and status are in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationIdKind {
    /// A broadcast channel of an audience: `broadcast-all` or `broadcast-<role>`.
    Broadcast,
    /// Any other conversation (direct, group, course, support): a UUIDv7,
    /// or whatever Odoo named it.
    Minted,
}

/// A conversation's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A new conversation's id (time-ordered, see [`crate::clock::new_id`]).
    pub fn mint() -> Self {
        Self(crate::clock::new_id())
    }

    /// The broadcast channel of an audience (`None`: every signed-in user).
    pub fn broadcast(audience: Option<Role>) -> Self {
        match audience {
            None => Self(format!("{BROADCAST_PREFIX}all")),
            Some(r) => Self(format!("{BROADCAST_PREFIX}{r}")),
        }
    }

    pub fn kind(&self) -> ConversationIdKind {
        Self::kind_of(&self.0)
    }

    /// [`kind`](Self::kind) for an id held as a string.
    pub fn kind_of(id: &str) -> ConversationIdKind {
        if id.starts_with(BROADCAST_PREFIX) {
            ConversationIdKind::Broadcast
        } else {
            ConversationIdKind::Minted
        }
    }

    pub fn is_broadcast(&self) -> bool {
        self.kind() == ConversationIdKind::Broadcast
    }

    /// [`is_broadcast`](Self::is_broadcast) for an id held as a string.
    pub fn is_broadcast_id(id: &str) -> bool {
        Self::kind_of(id) == ConversationIdKind::Broadcast
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ConversationId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl AsRef<str> for ConversationId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_guest_id_is_a_guest_and_a_directory_id_is_not() {
        let guest = UserId::new_guest(1_795_514_400_123, u64::MAX);
        assert_eq!(guest.as_str(), "guest_1795514400123_ffffffffffff");
        assert!(guest.is_guest());
        assert!(!UserId::new("42").is_guest());
        // The prefix must lead: a user whose id merely contains it is no guest.
        assert!(!UserId::is_guest_id("odoo_guest_1"));
        assert!(!UserId::is_guest_id(""));
    }

    #[test]
    fn two_guests_in_one_millisecond_differ() {
        assert_ne!(UserId::new_guest(1, 1), UserId::new_guest(1, 2));
    }

    #[test]
    fn odoo_knows_users_but_not_guests_nor_the_system() {
        assert!(UserId::is_odoo_user_id("42"));
        assert!(!UserId::is_odoo_user_id("guest_1_abc"));
        assert!(!UserId::is_odoo_user_id(SYSTEM_USER));
    }

    #[test]
    fn broadcast_channels_are_told_apart_from_minted_conversations() {
        let all = ConversationId::broadcast(None);
        assert_eq!(all.as_str(), "broadcast-all");
        assert!(all.is_broadcast());
        let admins = ConversationId::broadcast(Some(Role::Admin));
        assert_eq!(admins.as_str(), "broadcast-admin");
        assert_eq!(admins.kind(), ConversationIdKind::Broadcast);
        let minted = ConversationId::mint();
        assert_eq!(minted.kind(), ConversationIdKind::Minted);
        assert!(!ConversationId::is_broadcast_id("support-broadcast-1"));
    }

    #[test]
    fn ids_travel_as_plain_strings() {
        let id = UserId::new("guest_1_a");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"guest_1_a\"");
        let back: ConversationId = serde_json::from_str("\"broadcast-all\"").unwrap();
        assert!(back.is_broadcast());
    }
}
