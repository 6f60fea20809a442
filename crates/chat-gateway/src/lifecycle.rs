//! A node's way out (SIGTERM, SIGINT): drain, so that its clients carry on
//! on the other nodes.
//!
//! 1. Stop taking new clients: the Socket.IO connect middleware refuses new
//!    connections (`This server is shutting down; connect again`) and
//!    `/health` answers 503 `draining`, so a load balancer sends new clients
//!    elsewhere. HTTP itself is still served until the sockets are closed: a
//!    polling client needs its next request to receive its disconnect.
//! 2. Hand back what only this node holds ([`hand_back_desk`]).
//! 3. Tell every local socket why (`server:draining`), then close it: a
//!    Socket.IO server disconnect, on which clients connect again (through
//!    the load balancer, to another node) and `sync`.
//!
//! Then the listener stops accepting and lets open connections finish
//! (crate::listener), what this node emitted is published to the other
//! nodes ([`flush_broadcasts`]), and the store is flushed. A SIGKILL skips all this and
//! loses no acked message still: an ack is sent only once the message is
//! committed to the store.

use crate::state::App;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Drains this node; returns once its sockets are closed.
pub async fn drain(app: &App) {
    app.draining.store(true, Ordering::SeqCst);
    tracing::info!(node = %app.node_id, "draining: refusing new connections, closing sockets");
    hand_back_desk(app).await;
    // Every local socket is in the node's room (crate::node).
    let told = crate::deliver::to(app, app.node_room.to_owned()).emit(
        "server:draining",
        &json!({ "nodeId": app.node_id, "reason": "shutdown" }),
    );
    tracing::info!(
        sockets = told,
        "told this node's clients to reconnect elsewhere"
    );
    app.fanout.close().await;
}

/// How long the exit waits for this node's broadcasts to be published.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(5);

/// The last step before the store closes: what this node's handlers
/// emitted until now (those still finishing after their socket closed
/// included) is published to the other nodes.
pub async fn flush_broadcasts(app: &App) {
    if let Some(flushed) = app.fanout.flushed() {
        if tokio::time::timeout(FLUSH_ON_EXIT, flushed).await.is_err() {
            // Not marked as left: the other nodes resync their clients.
            tracing::warn!("exiting with broadcasts still unpublished");
            return;
        }
    }
    if let Some(departed) = app.fanout.depart() {
        let _ = tokio::time::timeout(FLUSH_ON_EXIT, departed).await;
    }
}

/// The support desk: this node's agents' sockets are handed back to the
/// shared desk before they close, so agents left with none start their grace
/// period (and keep their chats if they reconnect to another node within
/// it). The queue is shared already. Nothing to hand back on a single node:
/// the desk lives and dies with the process.
async fn hand_back_desk(app: &App) {
    crate::support::node_leaving(app).await;
}
