//! The state every handler is given: configuration, the store, who is who,
//! who is online, and the Socket.IO handle to emit with. Cheap to clone.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::mail::Mailer;
use crate::odoo::OdooBridge;
use crate::people::People;
use crate::presence::Presence;
use crate::rooms::Rooms;
use crate::support::SupportDesk;
use crate::typing::Typing;
use chat_core::validate::Limits;
use chat_store::Store;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use socketioxide::SocketIo;
use std::net::IpAddr;
use std::num::NonZeroU32;
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
    pub presence: Presence,
    pub rooms: Rooms,
    pub typing: Typing,
    pub support: SupportDesk,
    pub message_limiter: DefaultKeyedRateLimiter<String>,
    pub connection_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pub connections: AtomicUsize,
    /// Orders the store write and the broadcast of changes to one message
    /// (edits, reactions), so clients see them in commit order.
    pub message_locks: crate::keyed_lock::KeyedLocks,
    pub media: Arc<chat_media::MediaStore>,
    pub url_signer: chat_media::UrlSigner,
    pub notifier: Arc<crate::notify::Notifier>,
    pub metrics: PrometheusHandle,

    pub mailer: Option<Mailer>,
    pub odoo: Option<OdooBridge>,
    pub io: SocketIo,
    /// Per-address limits on guests, transcript rates (issue 11).
    pub abuse: crate::limits::AbuseLimits,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Parts {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub people: People,
    pub media: Arc<chat_media::MediaStore>,
    pub url_signer: chat_media::UrlSigner,
    pub notifier: Arc<crate::notify::Notifier>,
    pub metrics: PrometheusHandle,

    pub mailer: Option<Mailer>,
    pub odoo: Option<OdooBridge>,
    pub io: SocketIo,
}

impl App {
    pub fn new(p: Parts) -> Self {
        let per_minute = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        let message_quota = Quota::per_minute(per_minute(p.config.message_rate_per_minute))
            .allow_burst(per_minute(p.config.message_burst));
        let connection_quota = Quota::per_minute(per_minute(p.config.connection_rate_per_minute));
        let typing = Typing::new(std::time::Duration::from_millis(p.config.typing_timeout_ms));
        let abuse = crate::limits::AbuseLimits::new(&p.config);
        Self(Arc::new(Inner {
            limits: p.config.limits(),
            support: SupportDesk::new(std::time::Duration::from_secs(p.config.agent_grace_secs)),
            config: p.config,
            store: p.store,
            auth: p.auth,
            people: p.people,
            presence: Presence::default(),
            rooms: Rooms::default(),
            typing,
            message_limiter: RateLimiter::keyed(message_quota),
            connection_limiter: RateLimiter::keyed(connection_quota),
            connections: AtomicUsize::new(0),
            message_locks: Default::default(),
            media: p.media,
            url_signer: p.url_signer,
            notifier: p.notifier,

            metrics: p.metrics,
            mailer: p.mailer,
            odoo: p.odoo,
            io: p.io,
            abuse,
        }))
    }
}
