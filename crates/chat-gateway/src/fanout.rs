//! Who an emit reaches: the one place that knows which Socket.IO adapter runs.
//!
//! socketioxide types every socket and handle by its adapter (`SocketRef<A>`,
//! `SocketIo<A>`): the in-process [`LocalAdapter`] on one node, the Redis
//! adapter (see cluster.rs) when `REDIS_URL` is set. The gateway
//! keeps the two worlds apart like this:
//!
//! - Code that holds a socket (the connect, disconnect and ack paths:
//!   `events/connection.rs`, `inbox.rs`, `reply.rs`, [`crate::send`]) is
//!   generic over `A: Adapter`; it is a handful of functions, written once.
//! - Everything else, every handler that emits to rooms, only has the app
//!   (state.rs), which holds a type-erased [`Fanout`] (`Arc<dyn Fanout>`).
//!   The handlers' signatures do not change with the adapter, and neither
//!   does their code: they keep calling `to` in deliver.rs.
//!
//! A generic `App<A>` would have put a type parameter on every handler and
//! every helper that takes the app, for the sake of the few calls above.
//!
//! [`LocalAdapter`]: socketioxide::adapter::LocalAdapter

use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, as a trait object's async methods return.
pub type BoxFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The rooms of the default namespace, on this node and (in a cluster) on
/// every other node.
pub trait Fanout: Send + Sync + 'static {
    /// Emits `data` (already encoded) to every socket in any of `rooms` and
    /// in none of `except`. This node's sockets get it one by one (see
    /// [`crate::send`]); other nodes get it through the adapter. Returns
    /// how many of this node's sockets got the packet. No rooms: nobody.
    fn emit(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &RawValue) -> usize;

    /// Puts the sockets in any of `rooms` (on every node) in `room`.
    fn join(&self, rooms: Vec<String>, room: String) -> BoxFuture;

    /// Takes the sockets in any of `rooms` (on every node) out of `room`.
    fn leave(&self, rooms: Vec<String>, room: String) -> BoxFuture;

    /// How many of this node's sockets are in `room`.
    fn local_count(&self, room: String) -> usize;

    /// Disconnects this node's sockets in any of `rooms` (all of them when
    /// `None`), so that their clients reconnect and `sync`: what a node does
    /// when it may have missed a broadcast it cannot attribute to a socket.
    /// Returns how many were disconnected.
    fn resync_local(&self, rooms: Option<Vec<String>>) -> usize;

    /// Closes every socket of this node (shutdown): their clients get a
    /// server disconnect and connect again, to another node in a cluster.
    fn close(&self) -> BoxFuture;

    /// Resolves once everything emitted so far has been handed to the other
    /// nodes (published to Redis, or found lost and owed a resync). `None`:
    /// nothing to wait for (one node). An event's ack waits for it
    /// (`events::dispatch`), so a node killed right after an ack has
    /// published what that event broadcast.
    fn flushed(&self) -> Option<BoxFuture> {
        None
    }

    /// Shutdown, once [`Fanout::flushed`]: tells the other nodes this one
    /// left on purpose (see cluster/liveness.rs). `None`: one node.
    fn depart(&self) -> Option<BoxFuture> {
        None
    }

    /// Whether Redis answers (`chat_backend_up{backend="redis"}`). `None`:
    /// one node, no Redis.
    fn redis_up(&self) -> Option<BoxFuture<bool>> {
        None
    }
}

/// What the single-node gateway uses: socketioxide's handle, any adapter,
/// every emit local. cluster.rs wraps it for several nodes.
pub struct Sockets<A: Adapter> {
    pub io: SocketIo<A>,
}

impl<A: Adapter> Sockets<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    /// This node's sockets in any of `rooms` and none of `except`, one by one.
    pub fn emit_local(
        &self,
        rooms: Vec<String>,
        except: Vec<String>,
        event: &str,
        data: &RawValue,
    ) -> usize {
        if rooms.is_empty() {
            return 0;
        }
        // `of` and not `to`: during shutdown socketioxide removes the
        // namespace while disconnect handlers still emit, and `to` panics then.
        let Some(ops) = self.io.of("/") else { return 0 };
        ops.local()
            .to(rooms)
            .except(except)
            .sockets()
            .iter()
            .filter(|s| crate::send::emit(s, event, data))
            .count()
    }
}

impl<A: Adapter> Fanout for Sockets<A> {
    fn emit(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &RawValue) -> usize {
        self.emit_local(rooms, except, event, data)
    }

    fn join(&self, rooms: Vec<String>, room: String) -> BoxFuture {
        let ops = self.io.of("/");
        Box::pin(async move {
            let Some(ops) = ops else { return };
            if rooms.is_empty() {
                return;
            }
            if let Err(e) = ops.to(rooms).join(room).await {
                tracing::warn!(error = %e, "could not put sockets in a room");
            }
        })
    }

    fn leave(&self, rooms: Vec<String>, room: String) -> BoxFuture {
        let ops = self.io.of("/");
        Box::pin(async move {
            let Some(ops) = ops else { return };
            if rooms.is_empty() {
                return;
            }
            if let Err(e) = ops.to(rooms).leave(room).await {
                tracing::warn!(error = %e, "could not take sockets out of a room");
            }
        })
    }

    fn local_count(&self, room: String) -> usize {
        self.io
            .of("/")
            .map_or(0, |ops| ops.local().to(room).sockets().len())
    }

    fn resync_local(&self, rooms: Option<Vec<String>>) -> usize {
        let Some(ops) = self.io.of("/") else { return 0 };
        let ops = ops.local();
        let sockets = match rooms {
            Some(rooms) if rooms.is_empty() => return 0,
            Some(rooms) => ops.to(rooms).sockets(),
            None => ops.sockets(),
        };
        sockets.iter().filter(|s| crate::send::resync(s)).count()
    }

    fn close(&self) -> BoxFuture {
        let io = self.io.clone();
        Box::pin(async move { io.close().await })
    }
}
