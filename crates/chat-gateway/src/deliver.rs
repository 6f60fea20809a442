//! Sending to rooms without losing anything silently: the rooms' names, and
//! the targets every broadcast goes through.
//!
//! Every broadcast goes through [`to`] and the app's [`Fanout`], which sends
//! to this node's sockets one by one ([`crate::send`]: a socket that missed
//! a packet is made to resync) and, in a cluster, to the other nodes through
//! the Redis adapter (see [`crate::fanout`], and cluster.rs).

use crate::fanout::Fanout;
use crate::state::App;
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::Arc;

/// The room of every socket of one user (its tabs, on every node).
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The room of every socket of users with this role.
///
/// A `&'static str`, not a `String`: socketioxide keeps, for every socket, a
/// copy of each of its rooms' names, and a borrowed name costs no allocation
/// per socket (a `String` one is a heap block on every idle socket, issue 15).
pub fn role_room(role: chat_core::Role) -> &'static str {
    use chat_core::Role;
    match role {
        Role::Public => "role:public",
        Role::Student => "role:student",
        Role::Instructor => "role:instructor",
        Role::Admin => "role:admin",
        Role::SupportAgent => "role:support-agent",
    }
}

/// Puts every open socket of a user (on every node) in a room.
pub(crate) async fn join_user(app: &App, user_id: &str, room_id: &str) {
    to(app, user_room(user_id)).join(room_id.to_owned()).await;
}

/// The sockets in `room` (of the default namespace, on every node).
pub(crate) fn to(app: &App, room: String) -> Targets {
    to_any(app, vec![room])
}

/// The sockets in any of `rooms`; see [`to`].
pub(crate) fn to_any(app: &App, rooms: Vec<String>) -> Targets {
    Targets {
        fanout: app.fanout.clone(),
        rooms,
        except: Vec::new(),
    }
}

/// A set of sockets to emit to; see [`to`].
pub(crate) struct Targets {
    fanout: Arc<dyn Fanout>,
    rooms: Vec<String>,
    except: Vec<String>,
}

impl Targets {
    /// Leaves out the sockets in `room`.
    pub(crate) fn except(mut self, room: String) -> Self {
        self.except.push(room);
        self
    }

    /// Emits to every socket; this node's each on its own: a socket whose
    /// queue is full is counted and disconnected (see the module doc).
    /// Returns how many of this node's sockets got the packet.
    pub(crate) fn emit<T: ?Sized + Serialize>(self, event: &str, data: &T) -> usize {
        match encode(data) {
            Some(encoded) => self.fanout.emit(self.rooms, self.except, event, &encoded),
            None => 0,
        }
    }

    /// [`Targets::emit`], returning the JSON the sockets got so that the
    /// caller can send the same bytes again (a message's ack); `None` when
    /// `data` could not be encoded (nothing was sent then).
    pub(crate) fn emit_encoded<T: ?Sized + Serialize>(
        self,
        event: &str,
        data: &T,
    ) -> Option<Arc<RawValue>> {
        let encoded: Arc<RawValue> = encode(data)?.into();
        self.fanout.emit(self.rooms, self.except, event, &encoded);
        Some(encoded)
    }

    /// Puts the sockets in `room`.
    pub(crate) async fn join(self, room: String) {
        self.fanout.join(self.rooms, room).await
    }

    /// Takes the sockets out of `room`.
    pub(crate) async fn leave(self, room: String) {
        self.fanout.leave(self.rooms, room).await
    }
}

/// Encoded once for the whole room, as socketioxide's own broadcast does:
/// each socket's packet then only copies the bytes.
fn encode<T: ?Sized + Serialize>(data: &T) -> Option<Box<RawValue>> {
    match serde_json::value::to_raw_value(data) {
        Ok(raw) => Some(raw),
        Err(e) => {
            crate::metrics::delivery_failed();
            tracing::error!(error = %e, "could not encode an outgoing packet");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The static names are what `role:{role}` spells, for every role: a
    /// room joined under one spelling and emitted to under the other would
    /// silently miss its sockets.
    #[test]
    fn role_rooms_are_role_colon_the_wire_name() {
        for role in chat_core::Role::ALL {
            assert_eq!(role_room(role), format!("role:{role}"));
        }
    }
}
