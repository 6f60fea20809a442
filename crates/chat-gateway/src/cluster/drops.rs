//! Broadcasts the cluster may have lost, and how the clients find out.
//!
//! A packet sent to this node's own sockets is never lost quietly: each
//! socket is sent to on its own, and one whose queue is full is disconnected
//! ([`crate::deliver`]). That holds for broadcasts arriving from other nodes
//! too: [`super::driver`] hands them to the same per-socket path. What is
//! left can be lost between the nodes, where no socket is in sight:
//!
//! | reason              | where                                        | who may have missed something           |
//! |---------------------|----------------------------------------------|-----------------------------------------|
//! | `driver_channel_full` | the fred driver's channel to the adapter was full ("fred driver dropped a message") | any socket of this node |
//! | `pubsub_lagged`     | fred's pub/sub channel overflowed ("fred driver pubsub channel lagged") | any socket of this node |
//! | `redis_reconnect`   | this node's subscriber connection to Redis dropped and came back | any socket of this node |
//! | `remote_handler`    | socketioxide's own remote broadcast handler failed (a broadcast [`super::driver`] did not take over) | any socket of this node |
//! | `node_lost`         | another node stopped without draining (SIGKILL, crash): what it committed last may never have been published ([`super::liveness`]) | any socket of this node |
//! | `publish_failed`    | this node could not publish a broadcast (Redis down, timeout) | the rooms' sockets on other nodes |
//! | `publish_queue_full` | this node's ordered publish queue was full   | the rooms' sockets on other nodes       |
//!
//! Every drop counts in `chat_adapter_drops_total{reason}`. The first five
//! cannot be tied to a room, let alone a socket: this node then disconnects
//! all of its sockets (`io server disconnect`, as for an overflowed socket),
//! and each client connects again and catches up with `sync`. The last two
//! are tied to rooms: the sending node asks the other nodes, through the
//! adapter, to disconnect those rooms' sockets once Redis takes requests
//! again ([`super::Publisher`]).
//!
//! Why a whole node, and why that is bounded: these drops do not come from
//! one slow reader (a full socket queue is found and handled socket by
//! socket, on whichever node the socket is), but from the node itself being
//! too slow to read Redis, or from Redis going away; every socket of the node
//! is then equally suspect. Resyncs are still rate-limited: after one, the
//! next waits at least [`MIN_RESYNC_INTERVAL`], and every drop reported
//! meanwhile is covered by that next one, so nothing is skipped and a node
//! under sustained overload disconnects its clients at most once per interval.

use crate::fanout::Fanout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// The least time between two node-wide resyncs.
pub(crate) const MIN_RESYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Why a broadcast may have been lost (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    DriverChannelFull,
    PubsubLagged,
    RedisReconnect,
    RemoteHandler,
    NodeLost,
    PublishFailed,
    PublishQueueFull,
}

impl DropReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::DriverChannelFull => "driver_channel_full",
            DropReason::PubsubLagged => "pubsub_lagged",
            DropReason::RedisReconnect => "redis_reconnect",
            DropReason::RemoteHandler => "remote_handler",
            DropReason::NodeLost => "node_lost",
            DropReason::PublishFailed => "publish_failed",
            DropReason::PublishQueueFull => "publish_queue_full",
        }
    }

    pub const ALL: [DropReason; 7] = [
        DropReason::DriverChannelFull,
        DropReason::PubsubLagged,
        DropReason::RedisReconnect,
        DropReason::RemoteHandler,
        DropReason::NodeLost,
        DropReason::PublishFailed,
        DropReason::PublishQueueFull,
    ];
}

/// Every reason's series at 0, so a rate over them exists before the first
/// drop (called once the recorder is installed).
pub(crate) fn show_zeros() {
    for reason in DropReason::ALL {
        metrics::counter!(crate::metrics::ADAPTER_DROPS_TOTAL, "reason" => reason.as_str())
            .absolute(0);
    }
}

/// Counts a drop.
pub(crate) fn count(reason: DropReason) {
    metrics::counter!(crate::metrics::ADAPTER_DROPS_TOTAL, "reason" => reason.as_str())
        .increment(1);
}

/// The node-wide resync: requested by [`report_unattributed`], run by the
/// task [`spawn_resyncer`] starts.
struct Resync {
    owed: AtomicBool,
    wake: Notify,
}

/// Process-wide, because the tracing layer that reports drops is installed
/// before the app exists (and there is one node per process).
static RESYNC: OnceLock<Resync> = OnceLock::new();

fn resync() -> &'static Resync {
    RESYNC.get_or_init(|| Resync {
        owed: AtomicBool::new(false),
        wake: Notify::new(),
    })
}

/// A drop that could have hit any socket of this node: counted, and every
/// local socket is resynced (soon; see the module doc).
pub(crate) fn report_unattributed(reason: DropReason) {
    count(reason);
    tracing::warn!(
        reason = reason.as_str(),
        "a cluster broadcast may have been lost: this node's clients will reconnect and sync"
    );
    let r = resync();
    r.owed.store(true, Ordering::SeqCst);
    r.wake.notify_one();
}

/// Runs the node-wide resyncs for as long as the process lives.
pub(crate) fn spawn_resyncer(fanout: Arc<dyn Fanout>) {
    tokio::spawn(async move {
        let r = resync();
        loop {
            r.wake.notified().await;
            // Taken before the resync: a drop reported while it runs owes
            // another one, after the interval.
            if !r.owed.swap(false, Ordering::SeqCst) {
                continue;
            }
            let n = fanout.resync_local(None);
            tracing::warn!(sockets = n, "resynced this node's clients");
            tokio::time::sleep(MIN_RESYNC_INTERVAL).await;
            if r.owed.load(Ordering::SeqCst) {
                r.wake.notify_one();
            }
        }
    });
}

/// Finds the drops that the adapter and its driver only log: a tracing
/// layer on their targets, which sees every WARN they emit whatever the
/// log filter (it is installed next to the formatting layer, not under it).
pub struct DropDetector;

impl DropDetector {
    /// What the layer reacts to, by the logging crate's target.
    fn reason(target: &str, message: &str) -> Option<DropReason> {
        if target.starts_with("socketioxide_redis") {
            if message.contains("dropped a message") {
                return Some(DropReason::DriverChannelFull);
            }
            if message.contains("lagged") {
                return Some(DropReason::PubsubLagged);
            }
        }
        if target.starts_with("socketioxide_core::adapter")
            && message.contains("remote request broadcast handler")
        {
            return Some(DropReason::RemoteHandler);
        }
        None
    }
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Install it with its own filter, [`DropDetector::filter`] (a per-layer
/// filter): a layer's `enabled` would filter events for every layer.
impl<S: Subscriber> Layer<S> for DropDetector {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if !interesting(meta) {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        if let Some(reason) = Self::reason(meta.target(), &message.0) {
            report_unattributed(reason);
        }
    }
}

impl DropDetector {
    /// The events the layer looks at (its per-layer filter): static targets
    /// and levels, not a closure, so that tracing knows the most verbose
    /// level anyone wants. With a closure it must assume TRACE: every
    /// `trace!` of every dependency (and every `log` record, which
    /// tracing-log forwards) was then built and offered to the filters,
    /// about 2 % of the gateway's CPU under load.
    pub fn filter() -> Targets {
        Targets::new()
            .with_target("socketioxide_redis", Level::WARN)
            .with_target("socketioxide_core::adapter", Level::WARN)
    }
}

fn interesting(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN
        && (meta.target().starts_with("socketioxide_redis")
            || meta.target().starts_with("socketioxide_core::adapter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What keeps the filter cheap: tracing learns that the detector wants
    /// nothing below WARN, so it does not raise the process's log level.
    #[test]
    fn the_filter_wants_warnings_and_worse_only() {
        use tracing_subscriber::layer::Filter;
        use tracing_subscriber::Registry;
        let hint = Filter::<Registry>::max_level_hint(&DropDetector::filter());
        assert_eq!(hint, Some(tracing::level_filters::LevelFilter::WARN));
    }

    #[test]
    fn the_driver_and_adapter_warnings_are_recognised() {
        let r = |t, m| DropDetector::reason(t, m);
        assert_eq!(
            r(
                "socketioxide_redis::drivers::fred",
                "fred driver dropped a message: no available capacity"
            ),
            Some(DropReason::DriverChannelFull)
        );
        assert_eq!(
            r(
                "socketioxide_redis::drivers::fred",
                "fred driver pubsub channel lagged by 3"
            ),
            Some(DropReason::PubsubLagged)
        );
        assert_eq!(
            r(
                "socketioxide_core::adapter::request",
                "remote request broadcast handler: [InternalChannelFull]"
            ),
            Some(DropReason::RemoteHandler)
        );
        assert_eq!(
            r("socketioxide_redis", "no handler for channel"),
            None,
            "other warnings are not drops"
        );
    }
}
