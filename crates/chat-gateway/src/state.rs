//! The state every handler is given: configuration, the store, who is who,
//! who is online, and the Socket.IO handle to emit with. Cheap to clone.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::desk::SupportDesk;
use crate::mail::Mailer;
use crate::odoo_bridge::OdooBridge;
use crate::people::People;
use crate::presence::Presence;
use crate::rooms::Rooms;
use chat_cluster::once::Once;
use chat_cluster::rate_limit::RateLimit;
use chat_cluster::typing::Typing;
use chat_core::validate::Limits;
use chat_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub limits: Limits,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub people: People,
    /// Presence, typing, the limits and the room cache are shared by every
    /// node with `REDIS_URL`, in this process otherwise (crate::shared_state).
    pub presence: Presence,
    pub rooms: Rooms,
    pub typing: Arc<dyn Typing>,
    pub support: SupportDesk,
    /// Per user.
    pub message_limiter: Arc<dyn RateLimit>,
    /// Per client address.
    pub connection_limiter: Arc<dyn RateLimit>,
    pub rate_limits: crate::limits::RateLimits,
    /// Tells the other nodes to drop what they cache (nobody, on one node).
    pub invalidations: Arc<dyn chat_cluster::invalidation::Invalidations>,
    /// Claims of Odoo push events, so each is applied once.
    pub once: Arc<dyn Once>,
    /// The Redis side of the shared state, when `REDIS_URL` is set.
    pub cluster: Option<crate::shared_state::Cluster>,
    pub connections: AtomicUsize,
    /// Orders the store write and the broadcast of changes to one message
    /// (edits, reactions), so clients see them in commit order.
    pub message_locks: crate::keyed_lock::KeyedLocks,
    /// Attachment bytes (their metadata is in `store`).
    pub media: Arc<chat_media::Blobs>,
    pub url_signer: chat_media::UrlSigner,
    pub notifier: Arc<crate::notifier::Notifier>,
    pub metrics: PrometheusHandle,

    pub mailer: Option<Mailer>,
    pub odoo: Option<OdooBridge>,
    /// Emits to rooms, on this node and the others (see [`crate::fanout`]).
    pub fanout: Arc<dyn crate::fanout::Fanout>,
    /// This node's id (see node.rs).
    pub node_id: String,
    /// The room of every socket of this node (crate::node::static_room).
    pub node_room: &'static str,
    /// Set on SIGTERM: new Socket.IO connections are refused and `/health`
    /// says `draining` (see lifecycle.rs).
    pub draining: std::sync::atomic::AtomicBool,
    /// Per-address limits on guests, transcript rates (issue 11).
    pub abuse: crate::limits::AbuseLimits,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub(crate) struct Parts {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub people: People,
    pub media: Arc<chat_media::Blobs>,
    pub url_signer: chat_media::UrlSigner,
    pub notifier: Arc<crate::notifier::Notifier>,
    pub metrics: PrometheusHandle,

    pub mailer: Option<Mailer>,
    pub odoo: Option<OdooBridge>,
    pub node_id: String,
    pub fanout: Arc<dyn crate::fanout::Fanout>,
    /// The support desk: in process, or shared in Redis (crate::support::open).
    pub desk: Arc<dyn chat_desk::Desk>,
    pub shared: crate::shared_state::Shared,
}

impl App {
    pub(crate) fn new(p: Parts) -> Self {
        let shared = p.shared;
        let abuse = crate::limits::AbuseLimits::new(
            &p.config,
            &shared.rate_limits,
            shared.guest_connections.clone(),
            shared.guest_queued,
        );
        Self(Arc::new(Inner {
            limits: p.config.limits(),
            support: SupportDesk::new(p.desk),
            config: p.config,
            store: p.store,
            auth: p.auth,
            people: p.people,
            presence: shared.presence,
            rooms: Rooms::new(shared.invalidations.clone()),
            invalidations: shared.invalidations,
            typing: shared.typing,
            message_limiter: shared.message_limiter,
            connection_limiter: shared.connection_limiter,
            rate_limits: shared.rate_limits,
            once: shared.once,
            cluster: shared.cluster,
            connections: AtomicUsize::new(0),
            message_locks: Default::default(),
            media: p.media,
            url_signer: p.url_signer,
            notifier: p.notifier,

            metrics: p.metrics,
            mailer: p.mailer,
            odoo: p.odoo,
            fanout: p.fanout,
            node_room: crate::node::static_room(&p.node_id),
            node_id: p.node_id,
            draining: Default::default(),
            abuse,
        }))
    }
}
