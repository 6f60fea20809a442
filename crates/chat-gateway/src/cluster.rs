//! Several gateway nodes behind one address (`REDIS_URL`): an emit to a room
//! reaches its members on every node, through socketioxide's Redis adapter
//! (socketioxide-redis with the fred driver, Redis 7 sharded pub/sub).
//!
//! How an emit travels ([`ClusterFanout::emit`]):
//! - this node's sockets get it at once, one by one ([`crate::deliver`]), as
//!   on a single node;
//! - the other nodes get it through the adapter: one Redis publish, with
//!   this node's room `node:<id>` (every local socket is in it) left out so
//!   that no local socket gets it twice. Publishes leave in order from one
//!   task ([`publisher`]): two emits (or a room join and an emit) a handler
//!   makes in order reach every node in that order;
//! - on the receiving node, [`driver::ObservedDriver`] hands the broadcast
//!   to the same per-socket path, so a slow reader there is found and
//!   disconnected on its own, as here.
//!
//! What may still be lost between nodes, and how clients learn it and
//! resync, is in [`drops`]. Every node shares the store (PostgreSQL,
//! `DATABASE_URL`): whatever a client missed, `sync` finds.

pub(crate) mod driver;
pub mod drops;
pub(crate) mod liveness;
mod publisher;

use crate::fanout::{BoxFuture, Fanout, Sockets};
use driver::ObservedDriver;
use drops::DropReason;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config, ReconnectPolicy};
use fred::types::RespVersion;
use parking_lot::Mutex;
use publisher::{OwedResync, Publisher, Remote};
use serde_json::value::RawValue;
use socketioxide::operators::BroadcastOperators;
use socketioxide::SocketIo;
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The adapter type of a clustered gateway.
pub(crate) type ClusterAdapter = CustomRedisAdapter<socketioxide::adapter::Emitter, ObservedDriver>;

/// Broadcasts waiting to be published; beyond it an emit's remote part is
/// dropped (counted, and its rooms resynced on the other nodes).
const PUBLISH_QUEUE: usize = 8_192;
/// A Redis command that takes longer fails (publishes included): a Redis
/// that is down must not hold the publish queue for long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a resync the other nodes are owed is retried while Redis is away.
const RESYNC_RETRY: Duration = Duration::from_millis(500);
/// More rooms than this owed a resync: resync every socket of the other nodes.
const MAX_OWED_ROOMS: usize = 1_024;
/// How long publishing waits for the node to serve (start-up).
const SERVING_WAIT: Duration = Duration::from_secs(60);
/// How long a room join or leave waits for its turn in the publish queue.
const MEMBERSHIP_WAIT: Duration = Duration::from_secs(5);
/// Messages fred buffers between Redis and the driver (its default, 32, is
/// lagged past by a burst of a few dozen broadcasts).
const PUBSUB_CAPACITY: usize = 16_384;
/// Messages the adapter's channel holds (socketioxide-redis's default).
const ADAPTER_STREAM_BUFFER: usize = 4_096;

/// How long an ack waits for its event's broadcasts to be published.
pub(crate) const ACK_WAITS_FOR_PUBLISH: Duration = Duration::from_secs(3);

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error("REDIS_URL is not a valid Redis URL: {0}")]
    Url(fred::error::Error),
    #[error("cannot connect to Redis at REDIS_URL: {0}")]
    Connect(fred::error::Error),
    #[error("another running node already has NODE_ID {0:?}: give each node its own")]
    NodeIdTaken(String),
}

/// The connection to Redis, before the Socket.IO layer exists.
pub(crate) struct Redis {
    client: fred::clients::SubscriberClient,
    driver: ObservedDriver,
}

impl Redis {
    /// Connects to Redis (RESP3, which the fred driver needs to publish on
    /// its subscriber connection) and returns the adapter's constructor for
    /// `SocketIo::builder().with_adapter`.
    pub(crate) async fn connect(
        url: &str,
    ) -> Result<(Self, RedisAdapterCtr<ObservedDriver>), ClusterError> {
        let mut config = Config::from_url(url).map_err(ClusterError::Url)?;
        config.version = RespVersion::RESP3;
        let client = Builder::from_config(config)
            .with_performance_config(|perf| {
                perf.default_command_timeout = COMMAND_TIMEOUT;
                perf.broadcast_channel_capacity = PUBSUB_CAPACITY;
            })
            // Forever, 100 ms to 2 s apart: a node outlives a Redis restart.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build_subscriber_client()
            .map_err(ClusterError::Connect)?;
        let fred_driver = FredDriver::new(client.clone())
            .await
            .map_err(ClusterError::Connect)?;
        let driver = ObservedDriver::new(fred_driver);
        let adapter = RedisAdapterCtr::new_with_driver(
            driver.clone(),
            RedisAdapterConfig::new().with_stream_buffer(ADAPTER_STREAM_BUFFER),
        );
        Ok((Self { client, driver }, adapter))
    }

    /// Refuses to start as a node id another running node has.
    pub(crate) async fn check_node_id(&self, node_id: &str) -> Result<(), ClusterError> {
        liveness::Liveness::new(self.client.clone(), node_id)
            .check_unique()
            .await
    }

    /// Starts the node's side of the cluster once its Socket.IO handle
    /// exists: the ordered publisher, per-socket delivery of broadcasts from
    /// other nodes, resubscription and resync after a Redis reconnect.
    pub(crate) fn start(self, io: SocketIo<ClusterAdapter>, node_id: &str) -> Arc<ClusterFanout> {
        let node_room = crate::node::room(node_id);
        let owed = Arc::new(Mutex::new(OwedResync::default()));
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let (serving, serving_rx) = watch::channel(false);
        let liveness = liveness::Liveness::new(self.client.clone(), node_id);
        liveness.spawn();
        let fanout = Arc::new(ClusterFanout {
            sockets: Arc::new(Sockets::new(io.clone())),
            node_room: node_room.clone(),
            queue,
            owed: owed.clone(),
            liveness,
            client: self.client.clone(),
            serving,
        });
        let local = fanout.sockets.clone();
        self.driver
            .deliver_with(Arc::new(move |incoming| apply_incoming(&local, incoming)));
        tokio::spawn(
            Publisher {
                io,
                serving: serving_rx,
                ns: None,
                node_room,
                owed,
            }
            .run(rx),
        );
        drops::spawn_resyncer(fanout.clone());
        spawn_reconnect_watch(self.client);
        fanout
    }
}

/// Applies what another node sent to this node's sockets, in arrival order.
fn apply_incoming(local: &Sockets<ClusterAdapter>, incoming: driver::Incoming) {
    match incoming {
        driver::Incoming::Emit {
            rooms,
            except,
            event,
            data,
        } => {
            local.emit_local(rooms, except, &event, &data);
        }
        driver::Incoming::Membership {
            rooms,
            except,
            targets,
            leave,
        } => {
            // No rooms would mean every socket: never what a node sends.
            if rooms.is_empty() {
                return;
            }
            let Some(ops) = local.io.of("/") else { return };
            // Socket by socket: local and immediate (no adapter request).
            for socket in ops.local().to(rooms).except(except).sockets() {
                if leave {
                    socket.leave(targets.clone());
                } else {
                    socket.join(targets.clone());
                }
            }
        }
    }
}

/// After Redis comes back: subscribe again, then resync this node's clients
/// (they may have missed broadcasts while the subscription was gone). In
/// that order, so that what is committed after a client's `sync` arrives
/// live. (fred's own `manage_subscriptions` would resubscribe without
/// telling when it is done.)
fn spawn_reconnect_watch(client: fred::clients::SubscriberClient) {
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        loop {
            match reconnects.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            tracing::warn!("reconnected to Redis: subscribing again");
            let mut attempts = 0;
            while let Err(e) = resubscribe(&client).await {
                attempts += 1;
                tracing::warn!(error = %e, attempts, "could not subscribe again; retrying");
                if attempts >= 60 {
                    break; // the next reconnect starts over
                }
                tokio::time::sleep(RESYNC_RETRY).await;
            }
            drops::report_unattributed(DropReason::RedisReconnect);
        }
    });
}

/// Subscribes again to the adapter's channels (sharded pub/sub), one by one.
/// Not fred's `resubscribe_all`: it also sends SUBSCRIBE and PSUBSCRIBE with
/// no channel, which Redis refuses.
async fn resubscribe(client: &fred::clients::SubscriberClient) -> Result<(), fred::error::Error> {
    for channel in client.tracked_shard_channels() {
        client.ssubscribe(channel.to_string()).await?;
    }
    Ok(())
}

/// The clustered [`Fanout`]: local sockets at once, other nodes through the
/// ordered publisher.
pub(crate) struct ClusterFanout {
    sockets: Arc<Sockets<ClusterAdapter>>,
    node_room: String,
    queue: mpsc::Sender<Remote>,
    owed: Arc<Mutex<OwedResync>>,
    liveness: liveness::Liveness,
    client: fred::clients::SubscriberClient,
    serving: watch::Sender<bool>,
}

impl ClusterFanout {
    /// Queues `remote`; when the queue is full its rooms are owed a resync.
    fn send_remote(&self, remote: Remote, rooms: &[String]) -> bool {
        match self.queue.try_send(remote) {
            Ok(()) => true,
            Err(_) => {
                drops::count(DropReason::PublishQueueFull);
                self.owed.lock().add(rooms.iter().cloned());
                false
            }
        }
    }
}

impl ClusterFanout {
    /// The default namespace is registered: publishing can start.
    pub(crate) fn serving(&self) {
        let _ = self.serving.send(true);
    }
}

impl Fanout for ClusterFanout {
    fn emit(
        &self,
        rooms: Vec<String>,
        mut except: Vec<String>,
        event: &str,
        data: &RawValue,
    ) -> usize {
        if rooms.is_empty() {
            return 0;
        }
        let reached = self
            .sockets
            .emit_local(rooms.clone(), except.clone(), event, data);
        except.push(self.node_room.clone());
        let remote = Remote::Emit {
            rooms: rooms.clone(),
            except,
            event: event.to_owned(),
            data: data.to_owned(),
        };
        self.send_remote(remote, &rooms);
        reached
    }

    fn join(&self, rooms: Vec<String>, room: String) -> BoxFuture {
        membership(self, rooms, room, false)
    }

    fn leave(&self, rooms: Vec<String>, room: String) -> BoxFuture {
        membership(self, rooms, room, true)
    }

    fn local_count(&self, room: String) -> usize {
        self.sockets.local_count(room)
    }

    fn resync_local(&self, rooms: Option<Vec<String>>) -> usize {
        self.sockets.resync_local(rooms)
    }

    fn close(&self) -> BoxFuture {
        self.sockets.close()
    }

    fn flushed(&self) -> Option<BoxFuture> {
        let (done, wait) = oneshot::channel();
        let queue = self.queue.clone();
        Some(Box::pin(async move {
            // Waits for room in the queue too: this is the ack path, which
            // may be slowed (bounded by the caller), never skipped.
            if queue.send(Remote::Flushed(done)).await.is_ok() {
                let _ = wait.await;
            }
        }))
    }

    fn depart(&self) -> Option<BoxFuture> {
        let liveness = self.liveness.clone();
        Some(Box::pin(async move { liveness.leave().await }))
    }

    fn redis_up(&self) -> Option<BoxFuture<bool>> {
        let client = self.client.clone();
        Some(Box::pin(async move {
            client.ping::<fred::types::Value>(None).await.is_ok()
        }))
    }
}

/// A room join or leave: this node's sockets at once, the other nodes' in
/// turn with the emits (so an emit after a join reaches the joined sockets
/// everywhere). Waits, bounded, for its turn.
fn membership(fanout: &ClusterFanout, rooms: Vec<String>, room: String, leave: bool) -> BoxFuture {
    let local = fanout.sockets.io.of("/");
    let (done, wait) = oneshot::channel();
    let queued = !rooms.is_empty()
        && fanout.send_remote(
            Remote::Join {
                rooms: rooms.clone(),
                room: room.clone(),
                leave,
                done,
            },
            &rooms,
        );
    Box::pin(async move {
        if rooms.is_empty() {
            return;
        }
        if let Some(ops) = local {
            let ops = ops.local().to(rooms);
            let changed = if leave {
                ops.leave(room).await
            } else {
                ops.join(room).await
            };
            if let Err(e) = changed {
                tracing::warn!(error = %e, "could not change this node's room membership");
            }
        }
        if queued && tokio::time::timeout(MEMBERSHIP_WAIT, wait).await.is_err() {
            tracing::warn!("a room change is still waiting for Redis");
        }
    })
}
