//! The seitech-chat gateway: Socket.IO v5 (socketioxide) on axum.
//!
//! Start reading at [`server::run`], which wires everything together; client
//! events arrive through `inbox` and are handled in `events`.
//!
//! Only what the binary (main.rs) and the in-process handler tests
//! (tests/handlers) use is `pub`: the configuration, the node id, the
//! authenticator, the assembled node and its state, the cluster's drop
//! detector. Everything else is `pub(crate)`, so the compiler reports what
//! nothing uses any more.

pub(crate) mod attachments;
pub mod auth;
pub(crate) mod client_addr;
pub mod cluster;
pub(crate) mod comings;
pub mod config;
pub(crate) mod deliver;
pub(crate) mod desk;
pub(crate) mod events;
pub(crate) mod fanout;
pub(crate) mod feeds;
pub(crate) mod http;
pub(crate) mod inbox;
pub(crate) mod keyed_lock;
pub(crate) mod lifecycle;
pub(crate) mod limits;
pub(crate) mod listener;
pub(crate) mod local_once;
pub(crate) mod mail;
pub(crate) mod metrics;
pub mod node;
pub(crate) mod notifier;
pub(crate) mod notify;
pub(crate) mod odoo;
pub(crate) mod odoo_bridge;
pub(crate) mod people;
pub(crate) mod post;
pub(crate) mod presence;
pub(crate) mod reply;
pub(crate) mod rooms;
pub(crate) mod send;
pub mod server;
pub(crate) mod shared_state;
pub mod state;
pub(crate) mod support;
pub(crate) mod typing;
pub(crate) mod views;
