//! Answering a client event (§2): `{ ok: true, ...data }` or
//! `{ ok: false, error: { code, message } }` through the ack when the client
//! asked for one, otherwise a `chat:error` `{ event, code, message }` on failure.
//!
//! Every event that asks for an ack gets exactly one: when the socket's
//! outgoing buffer is full the answer cannot be queued, and the socket is
//! disconnected (see [`crate::deliver`]) so that its client knows.

use chat_core::ChatError;
use serde_json::{json, Map, Value};
use socketioxide::extract::{AckSender, SocketRef};

pub struct Reply {
    event: String,
    ack: AckSender,
    wants_ack: bool,
    socket: SocketRef,
}

impl Reply {
    pub fn new(event: String, ack: AckSender, wants_ack: bool, socket: SocketRef) -> Self {
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
    pub fn send(self, outcome: Result<Map<String, Value>, ChatError>) {
        match outcome {
            Ok(data) => {
                if self.wants_ack {
                    let mut body = Map::with_capacity(data.len() + 1);
                    body.insert("ok".into(), Value::Bool(true));
                    body.extend(data);
                    let sent = self.ack.send(&Value::Object(body));
                    crate::deliver::outcome(&self.socket, sent);
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
            crate::deliver::outcome(&self.socket, sent);
        } else {
            crate::deliver::emit(&self.socket, "chat:error", &self.chat_error(err));
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
