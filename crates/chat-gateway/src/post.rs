//! One way to post a message to a room, whoever wrote it: a member's socket
//! (`message`), an admin's `broadcast`, the support desk's `system` lines,
//! or Odoo's back office (a push).
//!
//! A message is stored first; only a new one is then counted, its gateway
//! attachments' URLs signed afresh, emitted to the room through
//! [`crate::deliver`] (socket by socket: none is skipped quietly), and the
//! participants who are not connected are notified ([`crate::notify`]).
//! A repeat (the same `(author, clientId)` resent, or an Odoo message id
//! stored before) is neither delivered nor notified again: that happened
//! when it was new. Its caller gets it back, with fresh URLs, to answer.
//!
//! This module knows no socket and no push: `events/` and `odoo/` both call
//! it, so neither has to reach into the other to deliver a message.

use crate::metrics as m;
use crate::state::App;
use chat_core::model::Message;
use chat_store::{Appended, ConversationRecord, NewMessage, StoreError};
use serde_json::value::RawValue;
use std::sync::Arc;

/// Who wrote the message, which decides how the store recognises a repeat
/// and what else posting it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A member, from its socket: the store assigns the id and recognises a
    /// resend by `(author, clientId)`; its attachments are its uploads,
    /// which the room may now download; and it stopped typing (see `stopped_typing`).
    Member,
    /// The gateway itself (a `system` line, an admin's broadcast): the
    /// store assigns the id.
    Gateway,
    /// Odoo's back office: the message keeps Odoo's id, by which a repeat
    /// is recognised (a push sent again after its answer was lost).
    Odoo,
}

/// What posting a message did.
#[derive(Debug)]
pub(crate) enum Posted {
    /// Stored now, and delivered; with the JSON the room got, so that the
    /// author's ack reuses those bytes instead of encoding the message again.
    New(Message, Arc<RawValue>),
    /// Stored before (and delivered then): the first one, URLs re-signed.
    Repeat(Message),
}

/// Stores `new` in `room` and, if it is new, delivers it (see the module
/// doc). Fails only when the store does: nothing was delivered then (a
/// message that cannot be encoded is stored, and reaches the room by `sync`).
pub(crate) async fn post(
    app: &App,
    room: &ConversationRecord,
    new: NewMessage,
    source: Source,
) -> Result<Posted, StoreError> {
    let stored = match source {
        Source::Member | Source::Gateway => app.store.append_message(new).await?,
        Source::Odoo => app.store.import_message(new).await?,
    };
    let mut message = match stored {
        Appended::Duplicate(mut first) => {
            // The first send, possibly long ago: its URLs have expired since.
            crate::attachments::refresh_urls(app, std::slice::from_mut(&mut first));
            return Ok(Posted::Repeat(first));
        }
        Appended::New(message) => message,
    };
    if source == Source::Member {
        // Before anyone hears of it: whoever gets the message may fetch its files.
        crate::attachments::link(app, &message).await;
    }
    m::message_stored(message.kind);
    m::message_posted(room, &message.author_id);
    if source == Source::Member {
        stopped_typing(app, &room.id, &message.author_id);
    }
    // Only the gateway's own attachments: Odoo's links are Odoo's to sign.
    crate::attachments::refresh_urls(app, std::slice::from_mut(&mut message));
    // Every socket in the room gets it, the author's too (as the seed's
    // server did): each client then sees one ordered stream of the room's
    // changes, which is what lets reactions and reads converge.
    let encoded = crate::deliver::to(app, room.id.clone()).emit_encoded("message", &message);
    crate::notify::offline_participants(app, room, &message).await;
    Ok(match encoded {
        Some(encoded) => Posted::New(message, encoded),
        // Nothing to reuse; the ack encodes the message itself (and fails
        // the same way, which its client retries by `clientId`).
        None => Posted::Repeat(message),
    })
}

/// A member who sends stops typing; the others are told, like every typing
/// event to none of the typist's own tabs. Off the message's path: with
/// `REDIS_URL` the stop is a Redis round trip, which a stalled Redis would
/// otherwise add (up to its command timeout) to every message, so the stop
/// may reach the room just after the message.
fn stopped_typing(app: &App, room_id: &str, author: &str) {
    if app.typing.surely_idle(room_id, author) {
        return; // nothing to stop, and no task to spawn for it
    }
    let (app, room_id, author) = (app.clone(), room_id.to_owned(), author.to_owned());
    tokio::spawn(async move {
        if app.typing.stop(&room_id, &author).await {
            let payload =
                serde_json::json!({ "userId": author, "roomId": room_id, "isTyping": false });
            crate::deliver::to(&app, room_id)
                .except(crate::deliver::user_room(&author))
                .emit("typing", &payload);
        }
    });
}
