//! Answering a client event (§2): `{ ok: true, ...data }` or
//! `{ ok: false, error: { code, message } }` through the ack when the client
//! asked for one, otherwise a `chat:error` `{ event, code, message }` on failure.

use chat_core::ChatError;
use serde_json::{json, Map, Value};
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::AckSender;
use socketioxide::socket::{Sid, Socket};
use socketioxide::SocketIo;
use std::sync::Arc;

pub struct Reply {
    event: String,
    ack: AckSender,
    wants_ack: bool,
    sid: Sid,
}

impl Reply {
    pub fn new(event: String, ack: AckSender, wants_ack: bool, sid: Sid) -> Self {
        Self {
            event,
            ack,
            wants_ack,
            sid,
        }
    }

    pub fn event(&self) -> &str {
        &self.event
    }

    /// Sends the outcome of a handler.
    pub async fn send(self, io: &SocketIo, outcome: Result<Map<String, Value>, ChatError>) {
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
                metrics::counter!(crate::metrics::EVENTS_REJECTED_TOTAL, "code" => err.code.as_str()).increment(1);
                if self.wants_ack {
                    let _ = self.ack.send(&failure(&err));
                } else {
                    let _ = io
                        .to(self.sid)
                        .emit("chat:error", &self.chat_error(&err))
                        .await;
                }
            }
        }
    }

    /// Fails at once, from the socket's own context (before queueing).
    pub fn fail_now(self, s: &Arc<Socket<LocalAdapter>>, err: &ChatError) {
        metrics::counter!(crate::metrics::EVENTS_REJECTED_TOTAL, "code" => err.code.as_str())
            .increment(1);
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

pub fn failure(err: &ChatError) -> Value {
    json!({ "ok": false, "error": { "code": err.code.as_str(), "message": err.message } })
}
