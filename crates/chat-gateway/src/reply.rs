//! Answering a client event (§2): `{ ok: true, ...data }` or
//! `{ ok: false, error: { code, message } }` through the ack when the client
//! asked for one, otherwise a `chat:error` `{ event, code, message }` on failure.

use chat_core::ChatError;
use serde_json::{json, Map, Value};
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::socket::Socket;
use std::sync::Arc;

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
    /// then there is no one to tell, and the work done stands.
    pub fn send(self, outcome: Result<Map<String, Value>, ChatError>) {
        match outcome {
            Ok(data) => {
                if self.wants_ack {
                    let mut body = Map::with_capacity(data.len() + 1);
                    body.insert("ok".into(), Value::Bool(true));
                    body.extend(data);
                    let _ = self.ack.send(&Value::Object(body));
                }
            }
            Err(err) => {
                count_rejection(&err);
                if self.wants_ack {
                    let _ = self.ack.send(&failure(&err));
                } else {
                    let _ = self.socket.emit("chat:error", &self.chat_error(&err));
                }
            }
        }
    }

    /// Fails at once, from the socket's own context (before queueing).
    pub fn fail_now(self, s: &Arc<Socket<LocalAdapter>>, err: &ChatError) {
        count_rejection(err);
        if self.wants_ack {
            let _ = self.ack.send(&failure(err));
        } else {
            let _ = s.emit("chat:error", &self.chat_error(err));
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
