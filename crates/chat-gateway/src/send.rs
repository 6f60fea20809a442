//! Sending to one socket without losing anything silently.
//!
//! socketioxide queues at most `max_buffer_size` packets per socket (see
//! `--socket-buffer-packets`); a send to a full queue fails and the packet is
//! gone. A room broadcast reports such failures without saying which socket
//! they were, so the gateway emits to each socket of the room itself (see
//! deliver.rs and fanout.rs) and knows every one that missed a packet. Such a
//! socket is disconnected (`io server disconnect`): its client knows it may
//! have missed something, reconnects and catches up with `sync`. Nothing is
//! skipped quietly.

use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use std::time::Duration;

/// How often an overflowed socket's disconnect is retried while its queue is
/// still full (the disconnect packet itself needs a free slot).
const DISCONNECT_RETRY: Duration = Duration::from_millis(10);
/// How long it is retried. A socket whose queue stays full longer than this
/// is closed anyway by Engine.IO's heartbeat: its ping cannot be queued.
const DISCONNECT_RETRY_FOR: Duration = Duration::from_secs(120);

/// Emits to one socket; `false` when it did not get the packet.
pub(crate) fn emit<A: Adapter, T: ?Sized + Serialize>(
    socket: &SocketRef<A>,
    event: &str,
    data: &T,
) -> bool {
    outcome(socket, socket.emit(event, data))
}

/// Handles the result of a send to `socket` (an emit or an ack).
pub(crate) fn outcome<A: Adapter>(socket: &SocketRef<A>, sent: Result<(), SendError>) -> bool {
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

/// Marks a socket that is being disconnected so that its client resyncs.
#[derive(Clone)]
struct Resyncing;

fn overflowed<A: Adapter>(socket: &SocketRef<A>) {
    metrics::counter!(crate::metrics::SOCKET_BUFFER_OVERFLOWS_TOTAL).increment(1);
    if resync(socket) {
        tracing::warn!(sid = %socket.id, "a socket's outgoing buffer is full: disconnecting it so its client resyncs");
    }
}

/// Disconnects a socket (`io server disconnect`) because it may have missed
/// something: its client connects again and catches up with `sync`. Returns
/// `false` when that is under way already. The disconnect packet needs a
/// free slot in the socket's queue, so it is retried while the queue is full.
pub(crate) fn resync<A: Adapter>(socket: &SocketRef<A>) -> bool {
    if socket.extensions.insert(Resyncing).is_some() {
        return false; // already being disconnected
    }
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
    true
}
