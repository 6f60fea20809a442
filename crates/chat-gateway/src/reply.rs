//! Answering a client event (§2): `{ ok: true, ...data }` or
//! `{ ok: false, error: { code, message } }` through the ack when the client
//! asked for one, otherwise a `chat:error` `{ event, code, message }` on failure.
//!
//! Every event that asks for an ack gets exactly one: when the socket's
//! outgoing buffer is full the answer cannot be queued, and the socket is
//! disconnected (see [`crate::deliver`]) so that its client knows.

use chat_core::ChatError;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};
use std::sync::Arc;

/// What a handler answers on success: the fields beside `ok: true`.
pub enum Answer {
    Fields(Map<String, Value>),
    /// One field whose value is JSON encoded already: a new message, whose
    /// bytes the room's broadcast encoded (see [`crate::post`]).
    Encoded {
        field: &'static str,
        value: Arc<RawValue>,
    },
}

impl Serialize for Answer {
    /// `{ ok: true, ...fields }`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Fields(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
                map.serialize_entry("ok", &true)?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Answer::Encoded { field, value } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("ok", &true)?;
                map.serialize_entry(field, &**value)?;
                map.end()
            }
        }
    }
}

pub struct Reply<A: Adapter> {
    event: String,
    ack: AckSender<A>,
    wants_ack: bool,
    socket: SocketRef<A>,
}

impl<A: Adapter> Reply<A> {
    pub fn new(event: String, ack: AckSender<A>, wants_ack: bool, socket: SocketRef<A>) -> Self {
        Self {
            event,
            ack,
            wants_ack,
            socket,
        }
    }

    /// Sends the outcome of a handler. The socket may have closed meanwhile;
    /// then there is no one to tell, and the work done stands (its client
    /// finds it with `sync`, or gets the same answer again by resending with
    /// the same `clientId`).
    pub fn send(self, outcome: Result<Answer, ChatError>) {
        match outcome {
            Ok(answer) => {
                if self.wants_ack {
                    let sent = self.ack.send(&answer);
                    crate::send::outcome(&self.socket, sent);
                }
            }
            Err(err) => self.fail(&err),
        }
    }

    /// Fails at once, from the socket's own context (before queueing).
    pub fn fail_now(self, err: &ChatError) {
        self.fail(err);
    }

    fn fail(self, err: &ChatError) {
        count_rejection(err);
        if self.wants_ack {
            let sent = self.ack.send(&failure(err));
            crate::send::outcome(&self.socket, sent);
        } else {
            crate::send::emit(&self.socket, "chat:error", &self.chat_error(err));
        }
    }

    fn chat_error(&self, err: &ChatError) -> Value {
        json!({ "event": self.event, "code": err.code.as_str(), "message": err.message })
    }
}

fn count_rejection(err: &ChatError) {
    metrics::counter!(crate::metrics::EVENTS_REJECTED_TOTAL, "code" => err.code.as_str())
        .increment(1);
}

pub fn failure(err: &ChatError) -> Value {
    json!({ "ok": false, "error": { "code": err.code.as_str(), "message": err.message } })
}
