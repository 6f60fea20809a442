//! Sending to sockets without losing anything silently.
//!
//! socketioxide queues at most `max_buffer_size` packets per socket (see
//! `--socket-buffer-packets`); a send to a full queue fails and the packet is
//! gone. A room broadcast reports such failures without saying which socket
//! they were, so the gateway emits to each socket of the room itself and
//! knows every one that missed a packet. Such a socket is disconnected
//! (`io server disconnect`): its client knows it may have missed something,
//! reconnects and catches up with `sync`. Nothing is skipped quietly.
//!
//! Every broadcast also goes through [`to`], which finds the default
//! namespace without panicking: during shutdown socketioxide removes it while
//! disconnect handlers still run, and `SocketIo::to` panics then.

use crate::state::App;
use serde::Serialize;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::{SendError, SocketError};
use std::time::Duration;

/// How often an overflowed socket's disconnect is retried while its queue is
/// still full (the disconnect packet itself needs a free slot).
const DISCONNECT_RETRY: Duration = Duration::from_millis(10);
/// How long it is retried. A socket whose queue stays full longer than this
/// is closed anyway by Engine.IO's heartbeat: its ping cannot be queued.
const DISCONNECT_RETRY_FOR: Duration = Duration::from_secs(120);

/// The sockets in `room` (of the default namespace; none once the namespace
/// is gone, during shutdown).
pub(crate) fn to(app: &App, room: String) -> Targets {
    Targets(app.io.of("/").map(|ops| ops.to(room)))
}

/// The sockets in any of `rooms`; see [`to`].
pub(crate) fn to_any(app: &App, rooms: Vec<String>) -> Targets {
    Targets(app.io.of("/").map(|ops| ops.to(rooms)))
}

/// A set of sockets to emit to; see [`to`].
pub(crate) struct Targets(Option<BroadcastOperators<LocalAdapter>>);

impl Targets {
    /// Leaves out the sockets in `room`.
    pub(crate) fn except(self, room: String) -> Self {
        Targets(self.0.map(|ops| ops.except(room)))
    }

    /// Emits to every socket, each one on its own: a socket whose queue is
    /// full is counted and disconnected (see the module doc). Returns how
    /// many sockets got the packet.
    pub(crate) fn emit<T: ?Sized + Serialize>(self, event: &str, data: &T) -> usize {
        let Some(ops) = self.0 else { return 0 };
        let sockets = ops.sockets();
        if sockets.len() < 2 {
            return sockets.iter().filter(|s| emit(s, event, data)).count();
        }
        // Encoded once for the whole room, as socketioxide's own broadcast
        // does: each socket's packet then only copies the bytes.
        let encoded = match serde_json::value::to_raw_value(data) {
            Ok(raw) => raw,
            Err(e) => {
                crate::metrics::delivery_failed();
                tracing::error!(error = %e, "could not encode an outgoing packet");
                return 0;
            }
        };
        sockets.iter().filter(|s| emit(s, event, &encoded)).count()
    }

    /// Puts the sockets in `room`.
    pub(crate) async fn join(self, room: String) {
        let Some(ops) = self.0 else { return };
        if let Err(e) = ops.join(room).await {
            tracing::warn!(error = %e, "could not put sockets in a room");
        }
    }

    /// Takes the sockets out of `room`.
    pub(crate) async fn leave(self, room: String) {
        let Some(ops) = self.0 else { return };
        if let Err(e) = ops.leave(room).await {
            tracing::warn!(error = %e, "could not take sockets out of a room");
        }
    }
}

/// Emits to one socket; `false` when it did not get the packet.
pub(crate) fn emit<T: ?Sized + Serialize>(socket: &SocketRef, event: &str, data: &T) -> bool {
    outcome(socket, socket.emit(event, data))
}

/// Handles the result of a send to `socket` (an emit or an ack).
pub(crate) fn outcome(socket: &SocketRef, sent: Result<(), SendError>) -> bool {
    match sent {
        Ok(()) => true,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            crate::metrics::delivery_failed();
            overflowed(socket);
            false
        }
        // Gone: its client reconnects and syncs.
        Err(SendError::Socket(SocketError::Closed)) => false,
        Err(SendError::Serialize(e)) => {
            crate::metrics::delivery_failed();
            tracing::error!(error = %e, "could not encode an outgoing packet");
            false
        }
    }
}

/// Marks a socket whose queue overflowed; the first time, starts its disconnect.
#[derive(Clone)]
struct Overflowed;

fn overflowed(socket: &SocketRef) {
    metrics::counter!(crate::metrics::SOCKET_BUFFER_OVERFLOWS_TOTAL).increment(1);
    if socket.extensions.insert(Overflowed).is_some() {
        return; // already being disconnected
    }
    tracing::warn!(sid = %socket.id, "a socket's outgoing buffer is full: disconnecting it so its client resyncs");
    let socket = socket.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + DISCONNECT_RETRY_FOR;
        while socket.connected() {
            match socket.clone().disconnect() {
                Ok(()) | Err(SocketError::Closed) => return,
                Err(SocketError::InternalChannelFull) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(DISCONNECT_RETRY).await;
        }
    });
}
